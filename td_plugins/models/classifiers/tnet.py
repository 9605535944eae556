"""``td_plugins.TNet``: the Traversal Network, a hard-attention classifier.

Papadopoulos et al., "Hard-Attention for Scalable Image Classification"
(NeurIPS 2021), sections 3 (architecture) and 4 (training), following the
official code where it differs (docs/tnet.md, "Paper vs official code";
predictions: "The traversal").
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.classifiers import BaseClassifier
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample

from ...registry import MODELS
from ..layers.tnet_feature_weighting import FeatureWeighting
from ..layers.tnet_grid import (
    _is_int,
    check_grid_args,
    check_levels,
    check_selection,
    level_geometries,
)
from ..layers.tnet_keras_init import glorot_normal_, variance_scaling_
from ..layers.tnet_location import TNET_LOCATION_VARIANTS, TNetLocationModule
from ..layers.tnet_positional import (
    TNET_POSITIONAL_VARIANTS,
    TNetPositionalModule,
)
from ..layers.tnet_traversal import (
    grid_and_feature,
    probe_shapes,
    traverse_levels,
)
from ..losses.tnet_loss import TNetLoss

__all__ = ['TNet', 'check_tnet_args', 'parameter_counts']

_FC_INITS = ('glorot_normal', 'efficientnet')
_TEST_KEYS = ('num_levels', 'locations_per_level', 'selection')


def parameter_counts(model: nn.Module) -> Dict[str, int]:
    """Parameters, BN running statistics and their sum, Keras' count.

    See docs/tnet.md, "Parameter counts".

    Example:
        >>> bn = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False),
        ...                    nn.BatchNorm2d(8))
        >>> parameter_counts(bn)
        {'parameters': 40, 'bn_statistics': 16, 'keras': 56}
    """
    params = sum(p.numel() for p in model.parameters())
    stats = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._NormBase)
        and m.running_mean is not None)
    return dict(parameters=params, bn_statistics=stats,
                keras=params + stats)


def _pair(name: str, value) -> Tuple[int, int]:
    if _is_int(value):
        value = (value, value)
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(
            _is_int(v) and v >= 1 for v in value):
        raise ValueError(f'{name} must be a positive int or an (h, w) pair '
                         f'of positive ints, got {value!r}')
    return int(value[0]), int(value[1])


def _check_slice(grid_slice) -> None:
    if not isinstance(grid_slice, (list, tuple)) or len(grid_slice) != 3 \
            or not all(v is None or _is_int(v) for v in grid_slice) \
            or not (grid_slice[2] is None or grid_slice[2] >= 1):
        raise ValueError(f'grid_slice must be (start, stop, step) with ints '
                         f'or None and step >= 1 (applied to H and W of the '
                         f'grid map), got {grid_slice!r}')


def check_tnet_args(num_classes: Any, feat_dim: Any, grid_size: Any,
                    overlap: Any, base_resolution: Any, num_levels: Any,
                    locations_per_level: Any, selection: Any,
                    grid_index: Any, feature_index: Any, grid_slice: Any,
                    positional_variant: Any, location_variant: Any,
                    feature_weighting: Any, dropout: Any, fc_init: Any,
                    num_samples: Any, min_crop_size: Any, test_cfg: Any,
                    input_size: Any, train_cfg: Any
                    ) -> Tuple[Tuple[int, int], Tuple[int, ...],
                               Optional[Tuple[int, int]]]:
    """Check :class:`TNet`'s settings before anything is built.

    Returns:
        tuple: ``base_resolution`` and ``input_size`` as ``(h, w)`` pairs
        (the latter None when not given) and the checked
        ``locations_per_level``, as ``(base, locations, input_size)``.

    Example:
        >>> base, locs, size = check_tnet_args(
        ...     4, 64, 3, 0.5, 32, 2, 2, 'topk', 0, -1, (1, None, 3),
        ...     'concat', 'context', False, 0.0, 'glorot_normal', 1, 1,
        ...     None, None, None)
        >>> base, locs, size
        ((32, 32), (2,), None)
    """
    if not _is_int(num_classes) or num_classes < 1:
        raise ValueError(f'num_classes must be a positive integer, '
                         f'got {num_classes!r}')
    if not _is_int(feat_dim) or feat_dim < 1:
        raise ValueError(f'feat_dim must be a positive integer, got '
                         f'{feat_dim!r}')
    check_grid_args(grid_size, overlap)
    base = _pair('base_resolution', base_resolution)
    locs = check_levels(num_levels, locations_per_level, grid_size)
    check_selection(selection)
    if not (_is_int(grid_index) or (isinstance(grid_index, str)
                                    and grid_index)):
        raise ValueError(f'grid_index must be a backbone output '
                         f'index (int) or a backbone sub-module '
                         f'name (str), got {grid_index!r}')
    if not _is_int(feature_index):
        raise ValueError(f'feature_index must be an int (backbone '
                         f'output index), got {feature_index!r}')
    _check_slice(grid_slice)
    if positional_variant not in TNET_POSITIONAL_VARIANTS:
        raise ValueError(f'positional_variant must be one of '
                         f'{TNET_POSITIONAL_VARIANTS}, got '
                         f'{positional_variant!r}')
    if location_variant not in TNET_LOCATION_VARIANTS:
        raise ValueError(f'location_variant must be one of '
                         f'{TNET_LOCATION_VARIANTS}, got '
                         f'{location_variant!r}')
    if not isinstance(feature_weighting, bool):
        raise ValueError(f'feature_weighting must be True or False, '
                         f'got {feature_weighting!r}')
    if isinstance(dropout, bool) or not isinstance(
            dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f'dropout must be a rate in [0, 1), got '
                         f'{dropout!r}')
    if fc_init not in _FC_INITS:
        raise ValueError(f'fc_init must be one of {_FC_INITS}, got '
                         f'{fc_init!r}')
    if not _is_int(num_samples) or num_samples < 1:
        raise ValueError(f'num_samples must be an integer >= 1 (M '
                         f'Monte-Carlo samples), got {num_samples!r}')
    if not _is_int(min_crop_size) or min_crop_size < 1:
        raise ValueError(f'min_crop_size must be an integer >= 1, '
                         f'got {min_crop_size!r}')
    unknown = sorted(set(dict(test_cfg or {})) - set(_TEST_KEYS))
    if unknown:
        raise ValueError(f'test_cfg accepts the keys {_TEST_KEYS}, '
                         f'got {unknown}')
    in_size = None if input_size is None else _pair('input_size',
                                                    input_size)
    if in_size is not None:
        level_geometries(in_size[0], in_size[1], grid_size,
                         float(overlap), num_levels, min_crop_size)
    if train_cfg is not None and (
            not isinstance(train_cfg, dict)
            or set(train_cfg) - {'augments', 'probs'}
            or 'augments' not in train_cfg):
        raise ValueError(
            f"train_cfg must be None or a dict with 'augments' (and "
            f"optionally 'probs'), mmpretrain's batch augmentations "
            f"(e.g. dict(augments=[dict(type='Mixup', alpha=0.8)])),"
            f" got {train_cfg!r}")
    return base, locs, in_size


@MODELS.register_module()
class TNet(BaseClassifier):
    """TNet: multi-level hard attention over an n x n grid.

    Args:
        backbone (dict): Feature extractor config; it must return the map of
            ``feature_index`` (and of ``grid_index`` when that is an int).
        num_classes (int): Classes.
        feat_dim (int): Width of the pooled backbone feature (512 for
            BagNet-77, 1280 for EN-B0); checked against the backbone.
        grid_size (int): n (>= 2). Defaults to 5.
        overlap (float): Cell side as a fraction of its parent's side, in
            (0, 1). Defaults to 0.34375.
        base_resolution (int | tuple[int, int]): Side (or (h, w)) every
            level's input is resized to. Defaults to 77.
        num_levels (int): Levels in training (>= 1; 1 = the whole image
            only, and with 1 in ``test_cfg`` too no location module is
            built). Defaults to 2.
        locations_per_level (int | Sequence[int]): Locations per grid at
            each of the ``num_levels - 1`` splits (each in [1, n*n]), in
            training. Defaults to (3, ).
        selection (str): ``'topk'`` (official) or ``'sample'`` (paper
            section 3.1, sequential sampling without replacement), in
            training. Defaults to ``'topk'``.
        grid_index (int | str): Backbone output index of the grid map, or
            the dotted name of the backbone sub-module giving it.
            Defaults to 0.
        feature_index (int): Backbone output index of the map (or vector)
            average-pooled into the feature. Defaults to -1.
        grid_slice (Sequence): ``(start, stop, step)`` on H and W of the grid
            map, leaving n x n cells. Defaults to ``(0, None, 2)``.
        pos_dim (int): Width of the sin/cos position encoding. Defaults
            to 512.
        positional_variant (str): ``'concat'`` (ImageNet) or ``'add'``
            (fMoW/CUB). Defaults to ``'concat'``.
        location_variant (str): ``'context'`` (ImageNet) or ``'se'``
            (fMoW/CUB). Defaults to ``'context'``.
        location_hidden (int, optional): Hidden width of the location
            module (None: its default).
        feature_weighting (bool): Pool with the feature weighting module
            (CUB) instead of the mean. Defaults to False.
        feature_weighting_hidden (int, optional): Its squeeze width (None:
            ``feat_dim // 4``).
        dropout (float): Drop rate before the classifier, in [0, 1).
            Defaults to 0.
        fc_init (str): ``'glorot_normal'`` (ImageNet) or ``'efficientnet'``
            (``VarianceScaling(1/3, 'fan_out', 'uniform')``, fMoW/CUB).
            Defaults to ``'glorot_normal'``.
        loss (dict): :class:`~td_plugins.models.losses.TNetLoss` config.
        num_samples (int): M Monte-Carlo samples (the training batch is
            tiled M times). Defaults to 1.
        input_size (int | tuple[int, int], optional): When given, every
            level's geometry is checked at build time.
        min_crop_size (int): Smallest crop side (input pixels) accepted at
            the deepest level. Defaults to 1.
        test_cfg (dict, optional): ``num_levels``, ``locations_per_level``
            (default: the training ones, cut to the levels) and
            ``selection`` (default ``'topk'``) for evaluation.
        train_cfg (dict, optional): ``dict(augments=[...])`` (Mixup, CutMix)
            becomes the preprocessor's ``batch_augments``, as mmpretrain's
            ``ImageClassifier``; the mixed ``gt_score`` is the loss target.
        data_preprocessor (dict, optional): Defaults to mmpretrain's
            ``ClsDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.

    Example:
        >>> import torch
        >>> from td_plugins.models.classifiers import TNet
        >>> model = TNet(
        ...     backbone=dict(type='ResNet_CIFAR', depth=18,
        ...                   out_indices=(1, 3)),
        ...     num_classes=4, feat_dim=512, grid_size=3, overlap=0.5,
        ...     base_resolution=32, grid_slice=(1, None, 6), pos_dim=24,
        ...     locations_per_level=2).eval()
        >>> out = model.predict(torch.rand(1, 3, 64, 64))[0]
        >>> out.pred_score.shape, out.tnet_boxes.shape
        (torch.Size([4]), torch.Size([2, 4]))
    """

    def __init__(self, backbone: dict, num_classes: int, feat_dim: int,
                 grid_size: int = 5, overlap: float = 0.34375,
                 base_resolution: Union[int, Sequence[int]] = 77,
                 num_levels: int = 2,
                 locations_per_level: Union[int, Sequence[int]] = (3, ),
                 selection: str = 'topk',
                 grid_index: Union[int, str] = 0,
                 feature_index: int = -1,
                 grid_slice: Sequence[Optional[int]] = (0, None, 2),
                 pos_dim: int = 512,
                 positional_variant: str = 'concat',
                 location_variant: str = 'context',
                 location_hidden: Optional[int] = None,
                 feature_weighting: bool = False,
                 feature_weighting_hidden: Optional[int] = None,
                 dropout: float = 0.0,
                 fc_init: str = 'glorot_normal',
                 loss: dict = dict(type='td_plugins.TNetLoss'),
                 num_samples: int = 1,
                 input_size: Union[int, Sequence[int], None] = None,
                 min_crop_size: int = 1,
                 test_cfg: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        # Settings first (cheap), the backbone afterwards.
        base, locs, in_size = check_tnet_args(
            num_classes, feat_dim, grid_size, overlap, base_resolution,
            num_levels, locations_per_level, selection, grid_index,
            feature_index, grid_slice, positional_variant, location_variant,
            feature_weighting, dropout, fc_init, num_samples, min_crop_size,
            test_cfg, input_size, train_cfg)
        data_preprocessor = dict(data_preprocessor or {}) if isinstance(
            data_preprocessor, (dict, type(None))) else data_preprocessor
        if isinstance(data_preprocessor, dict):
            data_preprocessor.setdefault('type', 'ClsDataPreprocessor')
            if train_cfg is not None:
                data_preprocessor.setdefault('batch_augments', train_cfg)
                data_preprocessor.setdefault('num_classes', num_classes)
            data_preprocessor = MMPRETRAIN_MODELS.build(data_preprocessor)
        super().__init__(init_cfg=init_cfg,
                         data_preprocessor=data_preprocessor)

        self.num_classes = num_classes
        self.feat_dim = feat_dim
        self.grid_size = grid_size
        self.overlap = float(overlap)
        self.base_resolution = base
        self.grid_index = grid_index
        self.feature_index = feature_index
        self.grid_slice = tuple(grid_slice)
        self.num_samples = num_samples
        self.min_crop_size = min_crop_size
        self.input_size = in_size
        self.num_levels, self.locations_per_level = num_levels, locs
        self.selection = selection
        self.test_num_levels = self.test_locations_per_level = None
        self.test_selection = 'topk'
        self.set_traversal(test=True, **dict(test_cfg or {}))

        self.backbone = backbone if isinstance(backbone, nn.Module) \
            else MMPRETRAIN_MODELS.build(backbone)
        if isinstance(grid_index, str):
            try:
                self.backbone.get_submodule(grid_index)
            except AttributeError:
                raise ValueError(
                    f'grid_index {grid_index!r} names no sub-module of '
                    f'the backbone ({type(self.backbone).__name__})'
                ) from None
        grid_channels = self._check_backbone()

        # One level (training and test) attends nothing: no location
        # module, so DDP finds no parameter without a gradient.
        self.location_module = TNetLocationModule(
            grid_channels, location_variant,
            context_dim=feat_dim if location_variant == 'context' else 0,
            hidden_channels=location_hidden) if max(
                self.num_levels, self.test_num_levels) > 1 else None
        self._location_decided = True
        self.positional_module = TNetPositionalModule(
            feat_dim, pos_dim, positional_variant)
        self.feature_weighting = FeatureWeighting(
            feat_dim, feature_weighting_hidden or max(1, feat_dim // 4)
        ) if feature_weighting else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 \
            else nn.Identity()
        self.fc = nn.Linear(feat_dim, num_classes)
        if fc_init == 'glorot_normal':
            glorot_normal_(self.fc.weight)
        else:
            variance_scaling_(self.fc.weight, 1.0 / 3.0, 'fan_out',
                              'uniform')
        nn.init.zeros_(self.fc.bias)
        self.loss_module = loss if isinstance(loss, nn.Module) \
            else MMPRETRAIN_MODELS.build(loss)
        if not isinstance(self.loss_module, TNetLoss):
            raise ValueError(f'loss must build a td_plugins.TNetLoss, '
                             f'got {type(self.loss_module).__name__}')

    def _check_backbone(self) -> int:
        """Probe the backbone once at the base resolution; the grid map's
        channels."""
        try:
            grid_shape, feat_shape = probe_shapes(
                self.extract_feat, self.backbone, self.base_resolution)
        except IndexError:
            raise ValueError(
                f'the backbone returns too few outputs for grid_index='
                f'{self.grid_index!r} / feature_index='
                f'{self.feature_index} (set its out_indices)') from None
        n = self.grid_size
        if len(grid_shape) != 4 or grid_shape[2:] != (n, n):
            raise ValueError(
                f'the grid map (grid_index={self.grid_index!r}) after '
                f'grid_slice={self.grid_slice} is {grid_shape} at '
                f'base_resolution={self.base_resolution}; it must be '
                f'[K, C, {n}, {n}] for grid_size={n}')
        if len(feat_shape) != 2:
            raise ValueError(f'backbone output feature_index='
                             f'{self.feature_index} must be a map or a '
                             f'vector, got shape {feat_shape}')
        if feat_shape[1] != self.feat_dim:
            raise ValueError(
                f'feat_dim ({self.feat_dim}) must equal the width of '
                f'backbone output feature_index={self.feature_index} '
                f'({feat_shape[1]})')
        return grid_shape[1]

    # ---------------------------------------------------------------
    # Settings
    def set_traversal(self, num_levels: Optional[int] = None,
                      locations_per_level: Union[int, Sequence[int],
                                                 None] = None,
                      selection: Optional[str] = None,
                      test: bool = True) -> None:
        """Change the number of levels / locations / selection rule.

        Args:
            num_levels (int, optional): Levels (>= 1).
            locations_per_level (int | Sequence[int], optional):
                Locations per grid at each split. When omitted with a
                new ``num_levels``, the training list cut to the levels
                is used (an error if it is too short).
            selection (str, optional): ``'topk'`` or ``'sample'``.
            test (bool): Change the evaluation (True) or the training
                (False) settings. Defaults to True.
        """
        prefix = 'test_' if test else ''
        levels = num_levels if num_levels is not None else (
            getattr(self, prefix + 'num_levels') or self.num_levels)
        self._check_locations_built(levels)
        locs = locations_per_level
        if locs is None:
            current = getattr(self, prefix + 'locations_per_level')
            if current is not None and len(current) == levels - 1:
                locs = current
            elif len(self.locations_per_level) >= levels - 1:
                locs = self.locations_per_level[:levels - 1]
            else:
                raise ValueError(
                    f'{prefix}num_levels={levels} needs '
                    f'{prefix}locations_per_level ({levels - 1} entries);'
                    f' the training setting has only '
                    f'{len(self.locations_per_level)}')
        name = ('test_cfg.' if test else '') + 'locations_per_level'
        locs = check_levels(levels, locs, self.grid_size, name)
        if selection is not None:
            check_selection(selection, ('test_cfg.' if test else '')
                            + 'selection')
        if self.input_size is not None:
            level_geometries(self.input_size[0], self.input_size[1],
                             self.grid_size, self.overlap, levels,
                             self.min_crop_size)
        setattr(self, prefix + 'num_levels', levels)
        setattr(self, prefix + 'locations_per_level', locs)
        if selection is not None:
            setattr(self, prefix + 'selection', selection)

    def _check_locations_built(self, levels: int) -> None:
        # (set_traversal runs in __init__ before the module exists)
        if levels > 1 and getattr(self, '_location_decided', False) and \
                self.location_module is None:
            raise ValueError(
                f'num_levels={levels} needs the location module, which '
                f'is built only when num_levels or test_cfg.num_levels '
                f'is > 1 (this model has {self.num_levels} and '
                f'{self.test_num_levels}); build it with one of them > 1')

    def _traversal(self) -> Tuple[int, Tuple[int, ...], str]:
        if self.training:
            levels, locs, sel = (self.num_levels,
                                 self.locations_per_level,
                                 self.selection)
        else:
            levels, locs, sel = (self.test_num_levels,
                                 self.test_locations_per_level,
                                 self.test_selection)
        # Attributes may have been set by hand: re-check (cheap).
        locs = check_levels(levels, locs, self.grid_size)
        return levels, locs, check_selection(sel)

    # ---------------------------------------------------------------
    # Feature extraction and traversal
    def extract_feat(self, images: torch.Tensor
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Grid map ``[K, C, n, n]`` and pooled feature ``[K, D]`` of
        base-resolution images (the feature extraction module, section
        3.2)."""
        return grid_and_feature(self.backbone, images, self.grid_index,
                                self.feature_index, self.grid_slice)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """The classification module: dropout + linear layer."""
        return self.fc(self.dropout(features))

    def traverse(self, inputs: torch.Tensor,
                 num_levels: Optional[int] = None,
                 locations_per_level: Union[int, Sequence[int],
                                            None] = None,
                 selection: Optional[str] = None) -> Dict[str, Any]:
        """Traverse (section 3.1), pool the features and classify.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` preprocessed images.
            num_levels, locations_per_level, selection: Override the settings.

        Returns:
            dict: ``logits [B, classes]``, ``features [B, N, D]``,
            ``pooled [B, D]``, ``level_counts``, ``log_probs``/``probs``
            ``[B, N-1]``, ``boxes``/``valid`` ``[B, N-1, 4]``, ``levels
            [N-1]``, ``feature_weights`` (``[B, N]`` or None).
        """
        levels, locs, sel = self._traversal()
        if num_levels is not None or locations_per_level is not None:
            levels = num_levels if num_levels is not None else levels
            locs = check_levels(
                levels, locations_per_level if locations_per_level
                is not None else locs[:levels - 1], self.grid_size)
        if selection is not None:
            sel = check_selection(selection)
        self._check_locations_built(levels)
        out = traverse_levels(
            inputs, self.extract_feat, self.location_module,
            self.positional_module, self.grid_size, self.overlap,
            self.base_resolution, levels, locs, sel, self.min_crop_size)
        features = out['features']                       # [B, N, D]
        weights = None
        if self.feature_weighting is not None:
            pooled, weights = self.feature_weighting(features)
        else:
            pooled = features.mean(dim=1)
        return dict(logits=self.classify(pooled), features=features,
                    pooled=pooled, level_counts=out['level_counts'],
                    log_probs=out['log_probs'], probs=out['probs'],
                    boxes=out['boxes'], valid=out['valid'],
                    levels=out['levels'], feature_weights=weights)

    # ---------------------------------------------------------------
    # mmpretrain modes
    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        """``'tensor'``: logits ``[B, classes]``; ``'loss'``: the dict
        of :class:`TNetLoss`; ``'predict'``: a list of DataSample."""
        if mode == 'tensor':
            return self.traverse(inputs)['logits']
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def loss(self, inputs: torch.Tensor,
             data_samples: List) -> Dict[str, torch.Tensor]:
        """Tile the batch M times, traverse, and compute TNetLoss.

        The target is ``gt_score`` when the samples carry it (Mixup /
        CutMix, or soft labels: soft CE and rewards, see
        :class:`TNetLoss`), else the single class of ``gt_label``.
        """
        labels = self._targets(data_samples).to(inputs.device)
        if self.num_samples > 1:
            inputs = inputs.repeat(self.num_samples, 1, 1, 1)
            labels = labels.repeat(self.num_samples,
                                   *([1] * (labels.dim() - 1)))
        out = self.traverse(inputs)
        return self.loss_module(out['logits'], labels,
                                self.classify(out['features']),
                                out['log_probs'], out['level_counts'])

    def _targets(self, data_samples: Optional[List]) -> torch.Tensor:
        """``[B, C]`` soft targets (``gt_score``) or ``[B]`` classes."""
        if not data_samples:
            raise ValueError('TNet.loss needs data samples with gt_label '
                             'or gt_score')
        scored = ['gt_score' in s for s in data_samples]
        if all(scored):
            scores = torch.stack([torch.as_tensor(s.gt_score).float()
                                  for s in data_samples])
            if scores.dim() != 2 or scores.shape[1] != self.num_classes:
                raise ValueError(
                    f'gt_score must hold num_classes={self.num_classes} '
                    f'scores per sample, got {tuple(scores.shape)}')
            return scores
        if any(scored):
            raise ValueError('either every data sample has gt_score or '
                             'none has (a mixed batch)')
        labels = []
        for s in data_samples:
            if 'gt_label' not in s:
                raise ValueError('TNet.loss needs data samples with '
                                 'gt_label or gt_score')
            label = torch.as_tensor(s.gt_label).view(-1)
            if label.numel() != 1:
                raise ValueError(
                    f'gt_label must hold one class per sample (TNet is '
                    f'single-label), got {label.tolist()}')
            labels.append(label)
        return torch.cat(labels)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List] = None,
                **kwargs: Any) -> List:
        """Scores, labels and the attended regions of every image."""
        out = self.traverse(inputs)
        scores = torch.softmax(out['logits'], dim=1).detach()
        labels = scores.argmax(dim=1, keepdim=True)
        boxes, valid = out['boxes'], out['valid']
        seen = torch.cat([torch.maximum(boxes[..., :2], valid[..., :2]),
                          torch.minimum(boxes[..., 2:], valid[..., 2:])],
                         dim=-1).float().cpu()
        levels = torch.tensor(out['levels'], dtype=torch.long)
        probs = out['probs'].float().cpu()
        weights = out['feature_weights']
        if data_samples is None:
            data_samples = [None] * scores.shape[0]
        results = []
        for i, sample in enumerate(data_samples):
            sample = DataSample() if sample is None else sample
            sample.set_pred_score(scores[i]).set_pred_label(labels[i])
            sample.set_field(seen[i], 'tnet_boxes')
            sample.set_field(levels.clone(), 'tnet_levels')
            sample.set_field(probs[i], 'tnet_probs')
            if weights is not None:
                sample.set_field(weights[i].float().cpu(),
                                 'tnet_feature_weights')
            results.append(sample)
        return results
