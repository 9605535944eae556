"""Classifiers of td_plugins (registered in td_plugins.registry.MODELS)."""
from ...utils.codebases import import_if_available

__all__ = []

if import_if_available('td_plugins.models.classifiers.tdam_classifier',
                       'mmpretrain', ['TDAMClassifier']):
    from .tdam_classifier import TDAMClassifier
    __all__ += ['TDAMClassifier']
if import_if_available('td_plugins.models.classifiers.tnet', 'mmpretrain',
                       ['TNet']):
    from .tnet import TNet
    __all__ += ['TNet']
