"""rdet-apps' registries: training hooks (entry-point group ``rdet.hooks``), whose built-ins
(``rdet_apps.engine.hooks``) are imported on the registry's first use."""

from rdet_core import Registry

HOOKS = Registry("hooks", builtins=("rdet_apps.engine.hooks",))

__all__ = ["HOOKS"]
