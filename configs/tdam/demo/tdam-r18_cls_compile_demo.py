# The TDAM-ResNet-18 demo classifier trained through torch.compile:
# mmengine's Runner (0.10.7, Runner.train) wraps model.train_step in
# torch.compile with these keyword arguments (True means no arguments);
# validation and testing stay eager. docs/compile.md, "mmengine's compile".
_base_ = './tdam-r18_cls_demo.py'

compile = dict(backend='inductor')
