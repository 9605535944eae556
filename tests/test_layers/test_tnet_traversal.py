"""tnet_traversal: the grid map without a stored hook, one build-time probe,
and the level walk TNet.traverse runs."""
import pytest
import torch
import torch.nn as nn

from td_plugins.models.layers.tnet_traversal import (
    grid_and_feature,
    probe_shapes,
    traverse_levels,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 6, 3, stride=2, padding=1))


def test_a_sub_module_grid_leaves_no_hook_and_no_attribute():
    net = _net()
    x = torch.rand(2, 3, 8, 8)
    grid, feat = grid_and_feature(net, x, '1', 0, (0, None, 2))
    torch.testing.assert_close(grid, net[1](net[0](x))[..., ::2, ::2])
    torch.testing.assert_close(feat, net(x).mean(dim=(2, 3)))
    assert all(not m._forward_hooks for m in net.modules())
    assert set(net[1].__dict__) == set(nn.ReLU().__dict__)


def test_a_sub_module_that_does_not_run_is_an_error():
    class Skip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unused = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(RuntimeError, match="'unused' did not run"):
        grid_and_feature(Skip(), torch.rand(1, 3, 4, 4), 'unused', 0,
                         (0, None, 1))


def test_probe_restores_the_modes_and_names_the_resolution():
    net = _net().train()
    net[0].eval()
    shapes = probe_shapes(
        lambda x: grid_and_feature(net, x, 0, 0, (0, None, 1)), net, (8, 8))
    assert shapes == ((1, 6, 4, 4), (1, 6))
    assert net.training and not net[0].training and net[2].training
    with pytest.raises(ValueError, match=r'base_resolution=\(1, 1\)'):
        probe_shapes(lambda x: (nn.functional.conv2d(x, torch.ones(
            1, 3, 3, 3)), x), net, (1, 1))


def test_two_levels_give_the_top_k_cells_of_the_location_module():
    net = _net()

    def extract(x):
        return grid_and_feature(net, x, '2', 0, (0, None, 2))

    def scores(g, f):
        return g.mean(1).flatten(1).softmax(1)

    x = torch.rand(2, 3, 16, 16)
    out = traverse_levels(x, extract, scores, lambda f, pos: f, 2, 0.5,
                          (8, 8), 2, [3], 'topk')
    assert out['features'].shape == (2, 4, 6)
    assert out['level_counts'] == (1, 3) and out['levels'] == [1, 1, 1]
    p = scores(*extract(nn.functional.interpolate(
        x, size=(8, 8), mode='bilinear', align_corners=False)))
    top = p.topk(3).indices.sort().values
    torch.testing.assert_close(out['probs'], p.gather(1, top))
    torch.testing.assert_close(out['log_probs'],
                               torch.log(p.gather(1, top) + 1e-10))
    # 16 px, 2 x 2 cells of 8 px at stride 8.
    boxes = [[8 * (c % 2), 8 * (c // 2), 8 * (c % 2) + 8, 8 * (c // 2) + 8]
             for c in top[0].tolist()]
    assert out['boxes'][0].tolist() == boxes
