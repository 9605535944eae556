# FCOS TDAF-R50 with 4 recursive flows (ANAR-3); Table 4 row "ANAR-3, 4F".
_base_ = '../fcos_tdaf_r50.py'
model = dict(backbone=dict(num_flows=4))
