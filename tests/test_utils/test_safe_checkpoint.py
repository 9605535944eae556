"""Weights-only loading of mmengine checkpoints; planted code is refused."""
import builtins
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint

import td_plugins  # noqa: F401  (installs the loader)
from td_plugins.utils import (
    install_checkpoint_loader,
    mmengine_safe_globals,
    safe_torch_load,
)


class _Planted:
    """Unpickling this runs code: it writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec,
                (f"open({self.marker!r}, 'w').write('code ran')",))


def _message_hub_like() -> dict:
    buf = HistoryBuffer()
    buf.update(np.float64(0.5))
    buf.update(1.25, count=2)
    return dict(
        meta=dict(epoch=1, iter=2, seed=np.int64(3)),
        state_dict={'w': torch.ones(2)},
        message_hub=dict(log_scalars={'train/loss': buf},
                         runtime_info={'lr': np.float32(0.1)}))


def test_plain_weights_only_refuses_mmengine_checkpoint(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save(_message_hub_like(), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    # Through mmengine, with the allow-list, it loads.
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.data[0].tolist() == [0.5, 1.25]
    assert ckpt['meta']['seed'] == 3


def test_planted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)},
                'meta': _Planted(marker)}, path)
    model = nn.Linear(1, 1)
    with pytest.raises(pickle.UnpicklingError, match=r'refused.*GLOBAL exec'):
        load_checkpoint(model, str(path))
    with pytest.raises(pickle.UnpicklingError):
        safe_torch_load(str(path))
    assert not marker.exists()
    # Control: the planted object does run code when unpickled by a plain
    # unpickler, so the refusal above is what protected us.
    pickle.loads(pickle.dumps(_Planted(marker)))
    assert marker.read_text() == 'code ran'


def test_allow_list_is_exactly_what_mmengine_writes():
    names = {}
    for entry in mmengine_safe_globals():
        obj, name = entry if isinstance(entry, tuple) else (entry, None)
        names[name or f'{obj.__module__}.{obj.__qualname__}'] = obj
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    for forbidden in ('builtins.exec', 'builtins.eval', 'posix.system',
                      'os.system', 'builtins.__import__'):
        assert forbidden not in names
    assert all(n.startswith(('numpy', 'mmengine.logging', 'builtins.getattr'))
               for n in names)
    # 'builtins.getattr' is a restricted stand-in, not the real getattr.
    restricted = names['builtins.getattr']
    assert restricted is not getattr
    assert restricted(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, attr in ((HistoryBuffer, '__init__'), (HistoryBuffer, '_set_'
                      'default_statistics'), (torch, 'load'),
                      (np, 'ndarray'), (HistoryBuffer, 'max_length')):
        with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
            restricted(obj, attr)


class _GetattrPlanted:
    """Pickles as ``getattr(os, 'system')`` then calls it."""

    def __reduce__(self):
        import os
        return (getattr(os, 'system'), ('true',))


def test_planted_getattr_chain_is_refused(tmp_path):
    path = tmp_path / 'evil2.pth'
    # Hand-written protocol-2 pickle: getattr(HistoryBuffer, '__init__')
    payload = (b'\x80\x02cmmengine.logging.history_buffer\nHistoryBuffer\n'
               b'q\x00c__builtin__\ngetattr\nq\x01h\x00X\x08\x00\x00\x00'
               b'__init__\x86R.')
    path.write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError):
        safe_torch_load(str(path))


def test_install_is_idempotent():
    from mmengine.runner.checkpoint import CheckpointLoader
    before = dict(CheckpointLoader._schemes)
    assert install_checkpoint_loader() is True
    assert dict(CheckpointLoader._schemes) == before


class _Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.fc(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels) ** 2).mean())
        return out


def _runner(work_dir, max_iters, **kwargs) -> Runner:
    data = [dict(inputs=torch.randn(2), labels=torch.tensor(1.0))
            for _ in range(8)]
    return Runner(
        model=_Toy(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=data, batch_size=2,
                              sampler=dict(type='DefaultSampler',
                                           shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine', experiment_name=f'toy{max_iters}',
        **kwargs)


def test_runner_written_checkpoint_resumes_weights_only(tmp_path):
    _runner(tmp_path, 2).train()
    ckpt = tmp_path / 'iter_2.pth'
    # What the runner wrote needs the allow-list ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)
    assert 'message_hub' in safe_torch_load(str(ckpt))
    # ... and --resume (resume=True, load_from=None: the latest) works.
    runner = _runner(tmp_path, 4, resume=True)
    runner.train()
    assert runner.iter == 4
    assert (tmp_path / 'iter_4.pth').exists()
