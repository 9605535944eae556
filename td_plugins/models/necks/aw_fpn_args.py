"""Settings of :class:`~td_plugins.models.necks.aw_fpn.AWFPN` that need no
mmdet, so ``td_plugins.models.necks`` exports them without it."""

__all__ = ['AW_FPN_ATTENTIONS']

# The pre-attention before each AW-convolution: none, SE or CBAM.
AW_FPN_ATTENTIONS = (None, 'se', 'cbam')
