# Demo scale of TNet (tnet-bagnet77_4xb16_in1k.py) on the generated 4-class
# folder (data/demo/cls, 64 x 64 images): BagNet-77 at a base resolution of
# 48 (its part4 map is 5 x 5, strided by 2: a 3 x 3 grid), 3 x 3 cells of
# 32 px (overlap 0.5, stride 16), 2 levels, 2 locations, the official loss,
# Adam; CPU-sized. Evaluate with other numbers of locations through
# --cfg-options model.test_cfg.locations_per_level=[1] (or num_levels=1).
_base_ = '../../baselines/demo/resnet50_demo.py'

model = dict(
    _delete_=True,
    type='td_plugins.TNet',
    backbone=dict(type='td_plugins.BagNet', out_indices=(3, 5),
                  drop_rate=0.0),
    num_classes=4,
    feat_dim=512,
    grid_size=3,
    overlap=0.5,
    base_resolution=48,
    num_levels=2,
    locations_per_level=[2],
    grid_index=0,
    grid_slice=(0, None, 2),
    feature_index=1,
    pos_dim=64,
    positional_variant='concat',
    location_variant='context',
    loss=dict(type='td_plugins.TNetLoss', lambda_c=0.3, lambda_r=0.3,
              lambda_f=0.1),
    input_size=64)
data_preprocessor = dict(num_classes=4, mean=[127.5, 127.5, 127.5],
                         std=[127.5, 127.5, 127.5], to_rgb=True)

optim_wrapper = dict(_delete_=True, optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[80],
                        gamma=0.1)]
