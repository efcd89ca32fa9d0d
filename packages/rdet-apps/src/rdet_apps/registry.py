"""rdet-apps' registries: training hooks (entry-point group ``rdet.hooks``), whose built-ins
(``rdet_apps.engine.hooks``) are imported on the registry's first use; optimizers of your own
(``rdet.optimizers``: MMCV's ``OPTIMIZERS``; a config's ``optimizer.type`` looks here first,
then in ``torch.optim``) and optimizer constructors (``rdet.optimizer_builders``: MMCV's
``OPTIMIZER_BUILDERS``, a config's ``optimizer.constructor``)."""

from rdet_core import Registry

HOOKS = Registry("hooks", builtins=("rdet_apps.engine.hooks",))
OPTIMIZERS = Registry("optimizers")
OPTIMIZER_BUILDERS = Registry("optimizer_builders", builtins=("rdet_apps.engine.optim",))

__all__ = ["HOOKS", "OPTIMIZERS", "OPTIMIZER_BUILDERS"]
