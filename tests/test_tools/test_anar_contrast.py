"""tools/analysis_tools/anar_contrast.py: the mean ANAR mask inside vs
outside the ground-truth boxes, which `make demo` reports per flow."""
import pytest
import torch
from conftest import REPO, load_script
from mmengine.config import Config

tool = load_script('tools/analysis_tools/anar_contrast.py')
CONFIG = REPO / 'configs' / 'tdaf' / 'demo' / 'fcos_tdaf-r18_demo.py'


def test_box_mask_marks_boxes_background_and_padding():
    m = tool.box_mask(torch.tensor([[1., 1., 3., 4.], [5., 0., 7., 2.]]),
                      6, 8, valid=(5, 7))
    assert m.shape == (6, 8)
    assert m[1:4, 1:3].eq(1).all() and m[0:2, 5:7].eq(1).all()
    assert m[5].eq(-1).all() and m[:, 7].eq(-1).all()
    assert int(m.eq(1).sum()) == 6 + 4
    assert int(m.eq(0).sum()) == 5 * 7 - 10


def test_accumulate_separates_inside_from_outside():
    region = tool.box_mask(torch.tensor([[0., 0., 2., 2.]]), 4, 4, (4, 3))
    masks = torch.full((1, 1, 4, 4), 0.2)
    masks[0, 0, :2, :2] = 0.9
    masks[0, 0, :, 3] = 5.0  # padding: never counted
    acc = [0.0] * 4
    tool.accumulate(acc, masks, [region])
    assert acc[1] == 4 and acc[3] == 12 - 4
    assert acc[0] / acc[1] == pytest.approx(0.9)
    assert acc[2] / acc[3] == pytest.approx(0.2)


def test_energy_stats_correlation_and_inside_excess():
    region = tool.box_mask(torch.tensor([[0., 0., 2., 2.]]), 4, 4, (4, 3))
    energy = torch.rand(4, 4, generator=torch.Generator().manual_seed(0))
    energy[:2, :2] += 2.0                 # the object's features: stronger
    energy[:, 3] = 100.0                  # padding: never counted
    r, z = tool.energy_stats(1.0 - 0.1 * energy, energy, region)
    assert r == pytest.approx(-1.0)       # a gain control
    r, _ = tool.energy_stats(energy ** 2, energy, region)
    assert 0.9 < r < 1.0                  # monotone, not linear
    valid = energy[:, :3]
    inside, outside = valid[:2, :2].mean(), torch.cat(
        [valid[:2, 2], valid[2:].reshape(-1)]).mean()
    assert z == pytest.approx(float((inside - outside) / valid.std()))
    assert z > 1.0
    r, z0 = tool.energy_stats(torch.full((4, 4), 0.5), energy, region)
    assert r is None and z0 == pytest.approx(z)  # a constant mask


def test_identity_init_gives_uniform_masks_and_a_checkpoint_is_read(
        demo_data, tmp_path):
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.zero_init_anar = True  # the identity start (the
    # demo trains from scratch with Kaiming ANARs, zero_init_anar=False)
    cfg.work_dir = str(tmp_path / 'w')
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    untrained = tool.measure(cfg, max_images=8)
    assert untrained['images'] == 8
    # 3 flows, ANARs gate stages 1..3: (1,2) (1,3) (2,2) (2,3) (3,3)
    assert [(r['stage'], r['flow']) for r in untrained['rows']] == \
        [(1, 2), (1, 3), (2, 2), (2, 3), (3, 3)]
    for r in untrained['rows']:  # zero last conv: sigmoid(0) everywhere
        assert r['inside'] == pytest.approx(0.5, abs=1e-6)
        assert r['outside'] == pytest.approx(0.5, abs=1e-6)
        assert r['r'] is None  # a constant mask follows nothing
    # the gated features themselves are stronger on the shapes
    assert all(r['energy'] > 0.5 for r in untrained['rows'])
    # a checkpoint whose ANARs' last bias is 2: masks sigmoid(2) everywhere
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = Runner.from_cfg(cfg.copy()).model
    model.init_weights()
    state = model.state_dict()
    for k in state:
        if k.startswith('backbone.r2dns.anars.') and k.endswith('last.bias'):
            state[k] = torch.full_like(state[k], 2.0)
    ckpt = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': state}, ckpt)
    biased = tool.measure(cfg, str(ckpt), max_images=8)
    want = float(torch.sigmoid(torch.tensor(2.0)))
    for r in biased['rows']:
        assert r['inside'] == pytest.approx(want, abs=1e-5)
        assert r['contrast'] == pytest.approx(0.0, abs=1e-5)
    assert set(biased['per_flow']) == {'2', '3'}


def test_boxes_follow_the_test_resize(demo_data):
    """mmdet's test pipelines load the boxes after Resize; the tool moves
    the loading first so the boxes are in the network input's pixels."""
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(CONFIG))
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.pipeline = [dict(t, scale=(320, 320)) if t['type'] == 'Resize'
                       else t for t in ds_cfg.pipeline]
    stock = DATASETS.build(ds_cfg.copy())[0]['data_samples']
    ds_cfg.pipeline = tool.annotations_first(list(ds_cfg.pipeline))
    moved = DATASETS.build(ds_cfg)[0]['data_samples']
    assert stock.img_shape == moved.img_shape == (320, 320)
    def boxes(s):
        return getattr(s.gt_instances.bboxes, 'tensor', s.gt_instances.bboxes)
    assert len(boxes(moved)) > 0
    torch.testing.assert_close(boxes(moved), boxes(stock) * 2)
