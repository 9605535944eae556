# ImageNet-1k, TDAF-ResNet-50 with ANAR-3 and 4 recursive flows.
_base_ = './tdaf-r50-anar3-3f_8xb32_in1k.py'
model = dict(backbone=dict(anar=3, num_flows=4))
