# TDAM-ResNet-50, TDjoint, T = 2, m = 1 (the paper's main ImageNet row and the
# released R50 checkpoint): 27,645,992 parameters, 4.55 GMACs at 224x224
# (convolutions, fc and the attention's spatial sums; the paper's 4.59 G is
# ptflops, which also counts BN, ReLU and pooling).
_base_ = './_base_/tdam-resnet_8xb64_in1k.py'
