"""Backbones of td_plugins (registered in td_plugins.registry.MODELS)."""
