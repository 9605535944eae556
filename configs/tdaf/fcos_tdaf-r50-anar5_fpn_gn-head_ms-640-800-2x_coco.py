# FCOS TDAF-R50 with ANAR-5 (3 flows); the paper's Table 4 row "ANAR-5, 3F".
_base_ = '../fcos_tdaf_r50.py'
model = dict(backbone=dict(anar=5))
