"""TNet grid geometry, location selection and crops (spec 4.2, 4.3)."""
import pytest
import torch
import torch.nn.functional as F

from td_plugins.models.layers.tnet_grid import (
    check_levels,
    child_positions,
    child_regions,
    crop_regions,
    grid_geometry,
    level_geometries,
    resize_to,
    root_regions,
    select_locations,
)


@pytest.mark.parametrize('size,n,overlap,patch,stride,before,after', [
    (224, 5, 0.34375, 77, 37, 1, 0),   # ImageNet
    (448, 3, 0.5, 224, 112, 0, 0),     # fMoW 448
    (896, 3, 0.5, 448, 224, 0, 0),     # fMoW 896, level 1
    (448, 5, 0.35, 157, 73, 1, 0),     # CUB / NABirds
    (64, 3, 0.5, 32, 16, 0, 0),        # the demo
    (18, 4, 0.25, 4, 5, 1, 0),         # round(4.5) = 4 (half to even)
])
def test_geometry_of_the_official_settings(size, n, overlap, patch, stride,
                                           before, after):
    g = grid_geometry(size, n, overlap)
    assert (g.patch, g.stride, g.pad_before, g.pad_after) == \
        (patch, stride, before, after)
    # The padded side holds exactly n cells.
    assert (n - 1) * g.stride + g.patch == size + before + after
    assert g.cell_start(0) == -before


def test_fmow_896_three_levels():
    (g1, _), (g2, _) = level_geometries(896, 896, 3, 0.5, 3)
    assert (g1.patch, g1.stride, g2.size, g2.patch, g2.stride) == \
        (448, 224, 448, 224, 112)
    assert level_geometries(224, 224, 5, 0.34375, 1) == []


def _coords_image(h: int, w: int, c: int = 2) -> torch.Tensor:
    """Pixel (y, x) of channel ch holds 1 + y * w + x + ch * 10000."""
    base = 1 + torch.arange(h * w, dtype=torch.float32).view(h, w)
    return torch.stack([base + 10000 * ch for ch in range(c)])[None]


def test_imagenet_cells_land_where_expected():
    img = _coords_image(224, 224)
    gy = gx = grid_geometry(224, 5, 0.34375)
    boxes, valid = root_regions(1, 224, 224)
    cells = torch.tensor([[0, 7, 24]])     # (0, 0), (1, 2), (4, 4)
    child, child_valid = child_regions(boxes, valid, cells, gy, gx)
    assert child.tolist() == [[-1, -1, 76, 76], [73, 36, 150, 113],
                              [147, 147, 224, 224]]
    crops = crop_regions(img, child, child_valid, (77, 77))
    assert crops.shape == (3, 2, 77, 77)
    # Cell (0, 0): one zero row/column of padding, then pixels 0..75.
    assert crops[0, :, 0].abs().sum() == 0
    assert crops[0, :, :, 0].abs().sum() == 0
    torch.testing.assert_close(crops[0, :, 1:, 1:], img[0, :, :76, :76])
    torch.testing.assert_close(crops[1], img[0, :, 36:113, 73:150])
    torch.testing.assert_close(crops[2], img[0, :, 147:224, 147:224])


def _nested_reference(img, path, n, overlap):
    """The official way: crop the padded current crop level by level."""
    cur = img
    for cell in path:
        g = grid_geometry(cur.shape[-1], n, overlap)
        padded = F.pad(cur, (g.pad_before, g.pad_after) * 2)
        i, j = divmod(cell, n)
        y, x = i * g.stride, j * g.stride
        cur = padded[..., y:y + g.patch, x:x + g.patch]
    return cur


@pytest.mark.parametrize('size,n,overlap', [(224, 5, 0.34375), (61, 3, 0.6),
                                            (50, 4, 0.3)])
def test_composed_crops_equal_the_official_nested_crops(size, n, overlap):
    torch.manual_seed(0)
    img = torch.rand(2, 3, size, size) + 0.5     # no zeros in the image
    levels = 3
    geoms = level_geometries(size, size, n, overlap, levels)
    boxes, valid = root_regions(2, size, size)
    paths = [[], []]
    for gy, gx in geoms:
        cells = torch.stack([torch.randperm(n * n)[:2]
                             for _ in range(boxes.shape[0])]).sort(1).values
        boxes, valid = child_regions(boxes, valid, cells, gy, gx)
        paths = [p + [c] for p, row in zip(paths, cells.tolist()) for c in row]
        crops = crop_regions(img, boxes, valid, (gy.patch, gx.patch))
        per_img = boxes.shape[0] // 2
        for k, path in enumerate(paths):
            ref = _nested_reference(img[k // per_img:k // per_img + 1], path,
                                    n, overlap)
            torch.testing.assert_close(crops[k:k + 1], ref)


def test_crops_resize_to_the_base_resolution_as_tf_bilinear():
    img = torch.rand(1, 3, 64, 64)
    gy = gx = grid_geometry(64, 3, 0.5)
    boxes, valid = child_regions(*root_regions(1, 64, 64),
                                 torch.tensor([[4]]), gy, gx)
    crops = crop_regions(img, boxes, valid, (32, 32), out_size=(48, 48))
    expected = F.interpolate(img[..., 16:48, 16:48], size=(48, 48),
                             mode='bilinear', align_corners=False)
    torch.testing.assert_close(crops, expected)
    # tf.image.resize(BILINEAR) uses half-pixel centres: a 2x upsampling of
    # [0, 1] gives [0, 0.25, 0.75, 1].
    row = resize_to(torch.tensor([[[[0., 1.]]]]), (1, 4))
    torch.testing.assert_close(row, torch.tensor([[[[0., .25, .75, 1.]]]]))
    same = torch.rand(1, 1, 5, 5)
    assert resize_to(same, (5, 5)) is same


def test_child_positions_follow_spec_4_1():
    parent = torch.tensor([[0., 0., 0.], [1., 2., 1.]])
    cells = torch.tensor([[0, 5], [3, 8]])       # n = 3
    pos = child_positions(parent, cells, 3, 2)
    assert pos.tolist() == [[0, 0, 2], [1, 2, 2], [4, 6, 2], [5, 8, 2]]


def test_topk_selection_is_sorted_and_deterministic():
    p = torch.tensor([[0.05, 0.4, 0.05, 0.3, 0.2],
                      [0.5, 0.05, 0.2, 0.15, 0.1]])
    assert select_locations(p, 3).tolist() == [[1, 3, 4], [0, 2, 3]]


def test_sampling_is_without_replacement_and_follows_the_probabilities():
    gen = torch.Generator().manual_seed(0)
    p = torch.tensor([[0.7, 0.1, 0.1, 0.05, 0.05]]).repeat(400, 1)
    idx = select_locations(p, 5, 'sample', gen)
    assert (idx == torch.arange(5)).all()        # all cells, each once
    idx = select_locations(p, 2, 'sample', gen)
    assert (idx[:, 0] < idx[:, 1]).all()         # distinct, sorted
    assert (idx == 0).any(1).float().mean() > 0.8
    # A rarely likely cell is picked sometimes (not top-k).
    assert (idx == 4).any()


@pytest.mark.parametrize('kwargs,match', [
    (dict(size=224, grid_size=1, overlap=0.5), 'grid_size must be an integer'
     ' >= 2'),
    (dict(size=224, grid_size=5, overlap=0.0), r'overlap must be a number in '
     r'the open interval \(0, 1\)'),
    (dict(size=224, grid_size=5, overlap=1.0), 'overlap must be'),
    (dict(size=224, grid_size=5, overlap=1.5), 'overlap must be'),
    (dict(size=1, grid_size=5, overlap=0.34375), 'input too small'),
    (dict(size=5, grid_size=5, overlap=0.95), 'stride 0'),
])
def test_invalid_grid_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        grid_geometry(**kwargs)


def test_input_too_small_for_the_levels_is_refused():
    # 16 -> 6 -> 2 -> 1-pixel crops: 4 levels fit, a 5th does not.
    assert [g.patch for g, _ in level_geometries(16, 16, 5, 0.34375, 4)] \
        == [6, 2, 1]
    with pytest.raises(ValueError, match=r'input too small for num_levels=5:'
                       r' a 16x16 input gives 1x1 crops at level 3'):
        level_geometries(16, 16, 5, 0.34375, 5)
    with pytest.raises(ValueError, match='input too small for num_levels=3'):
        level_geometries(224, 224, 5, 0.34375, 3, min_crop_size=32)


@pytest.mark.parametrize('levels,locs,match', [
    (2, [26], r'entries must be integers in \[1, 25\]'),
    (2, [0], r'use fewer num_levels for no location'),
    (3, [2], r'must have num_levels - 1 = 2 entries'),
    (0, [], 'num_levels must be an integer >= 1'),
    (2, 'x', 'must be an int or a list of ints'),
])
def test_invalid_level_settings_are_refused(levels, locs, match):
    with pytest.raises(ValueError, match=match):
        check_levels(levels, locs, 5)


def test_selection_refuses_unknown_modes_and_too_many_cells():
    p = torch.full((1, 4), 0.25)
    with pytest.raises(ValueError, match=r"mode must be one of \('topk', "
                       r"'sample'\)"):
        select_locations(p, 1, 'greedy')
    with pytest.raises(ValueError, match=r'k must be an integer in \[1, 4\]'):
        select_locations(p, 5)
