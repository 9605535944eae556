"""Classifiers of td_plugins (registered in td_plugins.registry.MODELS)."""
from .tdam_classifier import TDAMClassifier, tdam_classifier_class
from .tnet import TNet, tnet_class

__all__ = ['TDAMClassifier', 'TNet', 'tdam_classifier_class', 'tnet_class']
