"""tools/model_converters/publish_model.py: a runner-like checkpoint is
stripped to meta + state_dict, named by its sha256 prefix, and loads
weights-only in a stock torch."""
import hashlib
import pickle
import re

import pytest
import torch
from conftest import load_script
from torch import nn

publish = load_script('tools/model_converters/publish_model.py')


def _runner_checkpoint() -> dict:
    """What mmengine's runner saves: meta, state_dict, optimizer,
    param_schedulers and a message hub holding HistoryBuffers."""
    from mmengine.logging import MessageHub
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    hub = MessageHub.get_instance('publish_model_test')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
    hub.update_info('iter', 3)
    return dict(
        meta=dict(epoch=0, iter=3, cfg='model = dict()', seed=0,
                  mmengine_version='0.10.7', experiment_name='x',
                  dataset_meta=dict(classes=('a', 'b'))),
        state_dict=model.state_dict(),
        optimizer=opt.state_dict(),
        param_schedulers=[dict(start_factor=0.1, by_epoch=False)],
        message_hub=hub.state_dict())


def test_publish_strips_and_names_by_sha256(tmp_path):
    ckpt = _runner_checkpoint()
    src = tmp_path / 'iter_3.pth'
    torch.save(ckpt, src)
    # The raw runner checkpoint does not load weights-only without the
    # allow-list (the message hub's HistoryBuffer), so the tool needs it.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(src, weights_only=True)

    final = publish.main([str(src), str(tmp_path / 'zoo' / 'model.pth')])

    assert final.parent == tmp_path / 'zoo'
    m = re.fullmatch(r'model-([0-9a-f]{8})\.pth', final.name)
    assert m, final.name
    assert hashlib.sha256(final.read_bytes()).hexdigest()[:8] == m.group(1)
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]

    out = torch.load(final, map_location='cpu', weights_only=True)
    assert sorted(out) == ['meta', 'state_dict']
    from td_plugins.version import __version__
    assert out['meta']['td_plugins_version'] == __version__
    assert out['meta']['iter'] == 3 and out['meta']['cfg'] == 'model = dict()'
    assert out['state_dict'].keys() == ckpt['state_dict'].keys()
    for k, v in ckpt['state_dict'].items():
        assert torch.equal(out['state_dict'][k], v), k
    assert final.stat().st_size < src.stat().st_size


def test_save_keys_and_refusals(tmp_path):
    ckpt = _runner_checkpoint()
    kept = publish.strip_checkpoint(ckpt, ['state_dict', 'optimizer'])
    assert sorted(kept) == ['optimizer', 'state_dict']
    with pytest.raises(ValueError, match='state_dict'):
        publish.strip_checkpoint({'model': {}})

    # A checkpoint needing an arbitrary global is refused, not unpickled.
    evil = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, meta=dict(x=_Planted())), evil)
    with pytest.raises(pickle.UnpicklingError, match='refused'):
        publish.process_checkpoint(str(evil), str(tmp_path / 'o.pth'))
    assert not list(tmp_path.glob('o*'))


class _Planted:
    """Stands in for an object that would run code when unpickled."""
