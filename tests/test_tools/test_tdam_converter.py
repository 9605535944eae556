"""tools/model_converters/tdam_official_to_td_plugins.py: an official-layout
TD-ResNet state dict, converted, gives the official network's outputs.

The official network is re-stated here as plain functions over the official
key names (spec section 1.3 / 1.5), independent of td_plugins' modules.
"""
import torch
import torch.nn.functional as F
from conftest import load_script, run_tool

from td_plugins.models.backbones import TDAMResNet

converter = load_script(
    'tools/model_converters/tdam_official_to_td_plugins.py')


def _bn(sd, name, x):
    return F.batch_norm(x, sd[f'{name}.running_mean'],
                        sd[f'{name}.running_var'], sd[f'{name}.weight'],
                        sd[f'{name}.bias'], False, 0.0, 1e-5)


def _td(sd, block, bottom, top):
    """TD_Spotlight_Attention, official keys, channel->spatial."""
    p = f'{block}.RA_block.'
    gap_t, gap_b = top.mean((2, 3), True), bottom.mean((2, 3), True)
    if p + 'Ug_top_mlp.0.weight' in sd:  # joint
        h = torch.cat([F.relu(F.conv2d(gap_t, sd[p + 'Ug_top_mlp.0.weight'])),
                       F.relu(F.conv2d(gap_b,
                                       sd[p + 'Ug_bottom_mlp.0.weight']))], 1)
        s = F.conv2d(h, sd[p + 'Ug_mlp.0.weight'])
    else:  # top only
        s = F.conv2d(F.relu(F.conv2d(gap_t, sd[p + 'Ug_mlp.0.weight'])),
                     sd[p + 'Ug_mlp.2.weight'])
    x = torch.sigmoid(s) * bottom
    return torch.sigmoid((s * x).sum(1, keepdim=True)) * x


def _basic_block(sd, b, x, stride, td_m):
    """Official BasicBlock, T = 2, m = td_m (None: no TD)."""
    short = x
    if f'{b}.downsample.0.weight' in sd:
        short = _bn(sd, f'{b}.downsample.1',
                    F.conv2d(x, sd[f'{b}.downsample.0.weight'], stride=stride))
    def conv1(z):
        return F.conv2d(z, sd[f'{b}.conv1.weight'], stride=stride,
                        padding=1)

    def conv2(z):
        return F.conv2d(z, sd[f'{b}.conv2.weight'], padding=1)

    out1 = F.relu(_bn(sd, f'{b}.bn1', conv1(x)))
    top = _bn(sd, f'{b}.bn2', conv2(out1))
    if td_m == 2:  # bottom = block input; conv1 -> bn1_1 -> relu -> conv2
        bottom = _td(sd, b, x, top)
        top = _bn(sd, f'{b}.bn2_1',
                  conv2(F.relu(_bn(sd, f'{b}.bn1_1', conv1(bottom)))))
    elif td_m == 1:
        top = _bn(sd, f'{b}.bn2_1', conv2(_td(sd, b, out1, top)))
    return F.relu(top + short)


def _official_resnet18_logits(sd, x, td_m):
    x = F.relu(_bn(sd, 'bn1', F.conv2d(x, sd['conv1.weight'], stride=2,
                                       padding=3)))
    x = F.max_pool2d(x, 3, 2, 1)
    for stage in range(1, 5):
        for i in range(2):
            b = f'layer{stage}.{i}'
            stride = 2 if stage > 1 and i == 0 else 1
            x = _basic_block(sd, b, x, stride, td_m if stage >= 3 else None)
    return F.linear(x.mean((2, 3)), sd['fc.weight'], sd['fc.bias'])


def _official_state_dict(td_m, mode='joint', seed=0):
    """Random tensors under the official TD_ResNet-18 key names."""
    from torchvision.models import resnet18
    gen = torch.Generator().manual_seed(seed)
    sd = {k: v.clone() for k, v in resnet18().state_dict().items()}
    for stage, c in ((3, 256), (4, 512)):
        for i in range(2):
            b = f'layer{stage}.{i}'
            c0 = c if td_m == 1 or i > 0 else c // 2
            rd = c // 16
            if mode == 'joint':
                sd[f'{b}.RA_block.Ug_top_mlp.0.weight'] = torch.empty(
                    rd, c, 1, 1)
                sd[f'{b}.RA_block.Ug_bottom_mlp.0.weight'] = torch.empty(
                    rd, c0, 1, 1)
                sd[f'{b}.RA_block.Ug_mlp.0.weight'] = torch.empty(
                    c0, 2 * rd, 1, 1)
            else:
                sd[f'{b}.RA_block.Ug_mlp.0.weight'] = torch.empty(rd, c, 1, 1)
                sd[f'{b}.RA_block.Ug_mlp.2.weight'] = torch.empty(c0, rd, 1, 1)
            bns = ('bn1_1', 'bn2_1') if td_m == 2 else ('bn2_1', )
            for bn in bns:
                for stat in ('weight', 'bias', 'running_mean', 'running_var'):
                    sd[f'{b}.{bn}.{stat}'] = torch.empty(c)
                sd[f'{b}.{bn}.num_batches_tracked'] = torch.tensor(0)
    for k, v in sd.items():
        if v.is_floating_point():
            if k.endswith('running_var'):
                v.uniform_(0.5, 1.5, generator=gen)
            elif k.endswith(('bn1.weight', 'bn2.weight', '_1.weight')):
                v.uniform_(0.5, 1.5, generator=gen)
            else:
                v.normal_(0, 0.05 if v.dim() > 1 else 0.1, generator=gen)
    return {('module.' + k): v for k, v in sd.items()}  # DataParallel file


def _converted_logits(converted, x, td_m, mode):
    model = TDAMResNet(depth=18, td_mode=mode, feedback_distance=td_m).eval()
    backbone = {k[len('backbone.'):]: v for k, v in converted.items()
                if k.startswith('backbone.')}
    model.load_state_dict(backbone, strict=True)
    with torch.no_grad():
        feat = model(x)[-1].mean((2, 3))
    return F.linear(feat, converted['head.fc.weight'],
                    converted['head.fc.bias'])


def test_converted_joint_m2_checkpoint_gives_the_official_outputs():
    official = _official_state_dict(td_m=2)
    converted = converter.convert({'state_dict': official})
    x = torch.rand(2, 3, 96, 80)
    plain = {k[len('module.'):]: v for k, v in official.items()}
    with torch.no_grad():
        expected = _official_resnet18_logits(plain, x, td_m=2)
    torch.testing.assert_close(_converted_logits(converted, x, 2, 'joint'),
                               expected, rtol=1e-4, atol=1e-4)


def test_converted_top_m1_checkpoint_gives_the_official_outputs():
    official = _official_state_dict(td_m=1, mode='top', seed=1)
    converted = converter.convert(official)
    x = torch.rand(1, 3, 64, 64)
    plain = {k[len('module.'):]: v for k, v in official.items()}
    with torch.no_grad():
        expected = _official_resnet18_logits(plain, x, td_m=1)
    torch.testing.assert_close(_converted_logits(converted, x, 1, 'top'),
                               expected, rtol=1e-4, atol=1e-4)


def test_command_line_writes_a_weights_only_loadable_file(tmp_path):
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'out' / 'tdam.pth'
    torch.save({'epoch': 3, 'state_dict': _official_state_dict(td_m=2)}, src)
    run_tool('tools/model_converters/tdam_official_to_td_plugins.py', src,
             dst)
    ckpt = torch.load(dst, weights_only=True)
    assert 'backbone.layer3.0.td.fuse.weight' in ckpt['state_dict']
    assert not any('RA_block' in k for k in ckpt['state_dict'])
