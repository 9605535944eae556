"""Classifiers of td_plugins (registered in td_plugins.registry.MODELS)."""
from ...utils.codebases import import_if_available
from .tdam_classifier import TDAMClassifier, tdam_classifier_class

__all__ = ['TDAMClassifier', 'tdam_classifier_class']

if import_if_available('td_plugins.models.classifiers.tnet', 'mmpretrain',
                       ['TNet']):
    from .tnet import TNet
    __all__ += ['TNet']
