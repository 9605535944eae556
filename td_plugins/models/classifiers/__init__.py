"""Classifiers of td_plugins (registered in td_plugins.registry.MODELS)."""
from .tdam_classifier import TDAMClassifier, tdam_classifier_class

__all__ = ['TDAMClassifier', 'tdam_classifier_class']
