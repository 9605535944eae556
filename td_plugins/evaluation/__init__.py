"""Metrics of td_plugins (registered in td_plugins.registry.METRICS)."""
from .any_step_accuracy import AnyStepAccuracy

__all__ = ['AnyStepAccuracy']
