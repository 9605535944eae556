"""tools/model_converters/resnet_to_td.py: torchvision / mmpretrain ResNets
into TDAM, TDAF and AW backbones, with an exact key report."""
import json
import re

import pytest
import torch
import torchvision
from conftest import load_script, run_tool

from td_plugins.utils import safe_torch_load

TOOL = 'tools/model_converters/resnet_to_td.py'
conv = load_script(TOOL)

# What each method adds to a plain ResNet (spec sections 1.8, 2.7, 3.3).
ADDED = {
    'tdam': re.compile(r'^layer[34]\.\d+\.(td\.(top_fc|bottom_fc|fuse)\.'
                       r'weight|bn\d_1\.\w+)$'),
    'tdaf': re.compile(r'^r2dns\.anars\.\d\.'),
    'aw': re.compile(r'^layer\d\.\d+\.conv2\.attn_(conv|bn)[12]\.\w+$'),
}


def _resnet(depth: int, num_classes: int = 1000, seed: int = 0):
    """A torchvision ResNet with random weights and BN statistics."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, f'resnet{depth}')(
        num_classes=num_classes)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.num_batches_tracked.fill_(7)
    return net.eval()


@pytest.fixture(scope='module')
def r18():
    return _resnet(18)


@pytest.fixture(scope='module')
def r50():
    return _resnet(50)


def _plain_features(net, x):
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    outs = []
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        x = layer(x)
        outs.append(x)
    return outs


def _check_report_and_weights(target, src_net, out, report, model):
    src = src_net.state_dict()
    own = list(model.state_dict())
    plain = [k for k in src if not k.startswith('fc.')]
    # New keys: exactly the target's keys a plain ResNet lacks, in order,
    # and each one of the method's additions.
    assert report.new == [k for k in own if k not in src]
    assert report.new and all(ADDED[target].match(k) for k in report.new), \
        [k for k in report.new if not ADDED[target].match(k)]
    assert report.filled == plain
    assert report.unused == ['fc.weight', 'fc.bias']
    assert report.missing == [] and report.head == []
    assert sorted(out) == sorted('backbone.' + k for k in own)
    for key in plain:  # shared weights: equal (MFBN: in every flow)
        value = out['backbone.' + key]
        assert torch.equal(value, src[key].expand_as(value)), key


@pytest.mark.parametrize('target,depth,args', [
    ('tdam', 18, {}),
    ('tdaf', 18, dict(num_flows=3, anar=5)),
    ('aw', 50, {}),
])
def test_torchvision_resnet_into_each_target(r18, r50, target, depth, args):
    src_net = r18 if depth == 18 else r50
    out, report, model = conv.convert(src_net.state_dict(), target,
                                      backbone_args=args)
    assert report.depth == depth and report.src_format == 'torchvision'
    _check_report_and_weights(target, src_net, out, report, model)
    if target == 'tdam':
        # Per-step norms start as copies of their step-0 norm.
        steps = [k for k in report.new if '.bn2_1.' in k]
        assert len(steps) == 4 * 5 and set(report.derived) == set(steps)
        for key in steps:
            base = key.replace('.bn2_1.', '.bn2.')
            assert report.derived[key] == base
            assert torch.equal(out['backbone.' + key],
                               src_net.state_dict()[base])
    else:
        assert report.derived == {}


def test_tdaf_with_identity_anars_computes_the_plain_resnet(r18):
    _, _, model = conv.convert(r18.state_dict(), 'tdaf',
                               backbone_args=dict(num_flows=3))
    x = torch.rand(2, 3, 96, 80)
    with torch.no_grad():
        ours = model.eval()(x)
        ref = _plain_features(r18, x)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _mmpretrain_layout(net):
    """The torchvision weights under mmpretrain ResNet's own key names:
    ``backbone.<ResNet key>`` and ``head.fc.*``."""
    from mmpretrain.models import ResNet
    tv = net.state_dict()
    mm_keys = list(ResNet(depth=18).state_dict())
    # mmpretrain 1.2's ResNet names its layers as torchvision does.
    assert set(mm_keys) == {k for k in tv if not k.startswith('fc.')}
    state = {'backbone.' + k: tv[k] for k in mm_keys}
    state.update({'head.fc.weight': tv['fc.weight'],
                  'head.fc.bias': tv['fc.bias']})
    return state


@pytest.mark.parametrize('target', ['tdam', 'tdaf'])
def test_mmpretrain_checkpoint_gives_the_same_conversion(r18, target):
    pytest.importorskip('mmpretrain')
    state = _mmpretrain_layout(r18)
    state['data_preprocessor.mean'] = torch.zeros(3)  # a foreign key
    out, report, model = conv.convert(state, target, keep_head=True)
    ref, ref_report, _ = conv.convert(r18.state_dict(), target)
    assert report.src_format == 'mmpretrain' and report.depth == 18
    assert report.new == ref_report.new and report.filled == \
        ref_report.filled
    assert report.unused == ['data_preprocessor.mean']
    assert report.head == ['head.fc.weight', 'head.fc.bias']
    assert torch.equal(out['head.fc.weight'], r18.fc.weight)
    for key, value in ref.items():
        if not ADDED[target].match(key[len('backbone.'):]):
            assert torch.equal(out[key], value), key


def test_norm_names_are_read_as_bn(r18):
    state = {re.sub(r'(^|\.)bn(\d)\.', r'\1norm\2.', k): v
             for k, v in r18.state_dict().items()}
    assert 'layer1.0.norm1.weight' in state
    out, report, _ = conv.convert(state, 'tdaf',
                                  backbone_args=dict(num_flows=2))
    assert report.missing == [] and report.unused == ['fc.weight',
                                                      'fc.bias']
    assert torch.equal(out['backbone.layer1.0.bn1.weight'],
                       r18.layer1[0].bn1.weight)


def test_cli_classifier_checkpoint_loads_into_the_demo_config(tmp_path):
    """--keep-head writes backbone.* + head.fc.*; the TDAM-R18 demo
    classifier loads it strictly, and the report file matches."""
    pytest.importorskip('mmpretrain')
    net = _resnet(18, num_classes=4, seed=3)
    src = tmp_path / 'resnet18.pth'
    torch.save(net.state_dict(), src)
    dst = tmp_path / 'out' / 'tdam_r18.pth'
    report_path = tmp_path / 'report.json'
    proc = run_tool(TOOL, src, dst, '--target', 'tdam', '--keep-head',
                    '--backbone-args', 'feedback_distance=2',
                    '--report-json', report_path)
    assert 'layer*.*.td.fuse.weight  x4' in proc.stdout, proc.stdout
    assert '52 new (40 of them initialised from step-0 norms)' in \
        proc.stdout, proc.stdout
    ckpt = safe_torch_load(str(dst))
    report = json.loads(report_path.read_text())
    assert ckpt['meta']['report'] == report
    assert ckpt['meta']['backbone'] == dict(
        type='td_plugins.TDAMResNet', depth=18, feedback_distance=2)
    assert report['unused'] == [] and report['head'] == ['fc.weight',
                                                         'fc.bias']
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile('configs/tdam/demo/tdam-r18_cls_demo.py')
    init_default_scope('mmpretrain')
    classifier = MODELS.build(cfg.model)
    load_checkpoint(classifier, str(dst), strict=True)
    assert torch.equal(classifier.backbone.layer4[1].bn1_1.running_var,
                       net.layer4[1].bn1.running_var)
    assert torch.equal(classifier.head.fc.weight, net.fc.weight)


def test_bare_prefix_and_allow_missing(r18):
    state = {k: v for k, v in r18.state_dict().items()
             if not k.startswith('layer4.1.')}
    with pytest.raises(ValueError, match='the source lacks 12 keys'):
        conv.convert(state, 'tdaf', depth=18)
    out, report, _ = conv.convert(state, 'tdaf', depth=18, prefix='',
                                  allow_missing=True)
    assert len(report.missing) == 12 and all(
        k.startswith('layer4.1.') for k in report.missing)
    assert 'conv1.weight' in out and 'layer4.1.conv1.weight' in out


@pytest.mark.parametrize('target,depth,match', [
    ('tdam', 50, 'shapes do not match a TDAMResNet of depth 50'),
    ('tdam', 34, 'the source lacks'),
    ('aw', 18, r'depth must be one of \(50, 101, 152\)'),
    ('se', 18, r"target must be one of \('tdam', 'tdaf', 'aw'\)"),
])
def test_refuses_mismatched_targets(r18, target, depth, match):
    with pytest.raises(ValueError, match=match):
        conv.convert(r18.state_dict(), target, depth=depth)


def test_refuses_deep_stem_and_unknown_depth(r18):
    with pytest.raises(ValueError, match='deep-stem'):
        conv.convert({'backbone.stem.0.conv.weight': torch.zeros(1)},
                     'tdam')
    state = {k: v for k, v in r18.state_dict().items()
             if not k.startswith('layer4.')}
    with pytest.raises(ValueError, match='cannot infer the ResNet depth'):
        conv.convert(state, 'tdam')
