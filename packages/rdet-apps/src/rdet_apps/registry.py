"""rdet-apps' registries: training hooks (entry-point group ``rdet.hooks``)."""

from rdet_core import Registry

HOOKS = Registry("hooks")

__all__ = ["HOOKS"]
