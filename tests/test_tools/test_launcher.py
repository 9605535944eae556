"""td_plugins.utils.launcher: one train/test launcher for four codebases."""
import pytest

from td_plugins.utils import launcher as L

BASE = """
default_scope = {scope!r}
model = dict(type='Dummy')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
train_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(type='X'))
val_dataloader = dict(batch_size=1, num_workers=0, dataset=dict(type='X'))
test_dataloader = val_dataloader
val_cfg = dict()
val_evaluator = dict(type='Accuracy')
test_evaluator = val_evaluator
auto_scale_lr = dict(base_batch_size=16, enable=False)
"""


@pytest.fixture
def cfg_file(tmp_path):
    def make(scope='mmpretrain', extra=''):
        path = tmp_path / f'cfg_{scope}.py'
        path.write_text(BASE.format(scope=scope) + extra)
        return str(path)
    return make


def _train(argv):
    return L.prepare_train_cfg(L.build_train_parser().parse_args(argv))


def _test(argv):
    return L.prepare_test_cfg(L.build_test_parser().parse_args(argv))


def test_unknown_default_scope_is_refused(cfg_file):
    with pytest.raises(ValueError, match=r"default_scope must be one of "
                       r"\('mmdet', 'mmpose', 'mmaction', 'mmpretrain'\)"):
        _train([cfg_file(scope='mmengine')])


def test_work_dir_defaults_to_config_name(cfg_file):
    cfg = _train([cfg_file()])
    assert cfg.work_dir == './work_dirs/cfg_mmpretrain'
    assert _train([cfg_file(), '--work-dir', '/x']).work_dir == '/x'


def test_mmpretrain_dataloaders_get_collate(cfg_file):
    cfg = _train([cfg_file('mmpretrain')])
    assert cfg.train_dataloader.collate_fn == dict(type='default_collate')
    assert cfg.train_dataloader.persistent_workers is True
    assert 'persistent_workers' not in cfg.val_dataloader
    cfg = _train([cfg_file('mmpose')])
    assert 'collate_fn' not in cfg.train_dataloader


def test_flags(cfg_file):
    cfg = _train([cfg_file(), '--amp', '--auto-scale-lr', '--no-validate',
                  '--seed', '3', '--deterministic',
                  '--cfg-options', 'train_dataloader.batch_size=5'])
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr.enable is True
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.randomness == dict(seed=3, deterministic=True)
    assert cfg.train_dataloader.batch_size == 5


def test_resume(cfg_file):
    cfg = _train([cfg_file(), '--resume'])
    assert cfg.resume is True and cfg.load_from is None
    cfg = _train([cfg_file(), '--resume', 'a/iter_2.pth'])
    assert cfg.resume is True and cfg.load_from == 'a/iter_2.pth'
    cfg = _train([cfg_file()])
    assert not cfg.get('resume', False)


def test_amp_refuses_other_wrappers(cfg_file):
    path = cfg_file(extra="optim_wrapper = dict(type='Custom', "
                    "_delete_=True)\n")
    with pytest.raises(ValueError, match='--amp needs optim_wrapper.type'):
        _train([path, '--amp'])


def test_test_cfg_loads_checkpoint_and_dumps(cfg_file):
    cfg = _test([cfg_file(), 'ckpt.pth', '--out', 'preds.pkl'])
    assert cfg.load_from == 'ckpt.pth' and cfg.resume is False
    assert cfg.test_evaluator[-1] == dict(type='DumpResults',
                                          out_file_path='preds.pkl')
    with pytest.raises(ValueError, match='--out must end with .pkl'):
        _test([cfg_file(), 'ckpt.pth', '--out', 'preds.json'])
