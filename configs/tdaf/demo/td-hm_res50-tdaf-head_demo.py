# Demo scale of the SimpleBaseline with the TDAF head (3 flows, ANAR-3) on
# the generated stick figures: the SimpleBaseline demo recipe with the head
# type swapped.
_base_ = '../../baselines/demo/td-hm_res50_demo.py'

model = dict(head=dict(type='td_plugins.TDAFHeatmapHead', num_flows=3,
                       anar=3, eta=0.5, dsf='avg_pool'))
