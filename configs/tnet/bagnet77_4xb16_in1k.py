# The BagNet-77 baseline of TNet's ImageNet experiment (Papadopoulos et al.,
# NeurIPS 2021, Table 1; official train_bl.py, shared/spec/methods.md 4.4):
# BagNet-77 on 224 x 224 inputs, spatial dropout keep probability 0.375,
# global average pooling and a linear 512 -> 1000 classifier; the TNet
# recipe otherwise (Adam 1e-4, x0.1 at 80 %, 200 epochs; the paper stops
# early at 175). 20,546,664 parameters, 18.42 GMAC at 224 x 224.
_base_ = './tnet-bagnet77_4xb16_in1k.py'

model = dict(
    _delete_=True,
    type='ImageClassifier',
    backbone=dict(type='td_plugins.BagNet', out_indices=(5, ),
                  drop_rate=0.625),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
