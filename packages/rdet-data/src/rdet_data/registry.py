"""rdet-data's registries; third parties add to them through entry points (DESIGN.md, Plugins).

``DATASETS`` (group ``rdet.datasets``) and ``TRANSFORMS`` (group ``rdet.transforms``);
``PIPELINES`` is MMDetection 2.x's name for ``TRANSFORMS``. Importing this module imports no
dataset or transform (nor torch): each registry imports the modules of its built-ins on its
first use (``Registry(builtins=...)``).
"""

from rdet_core import Registry

DATASETS = Registry("datasets", builtins=("rdet_data.datasets", "rdet_data.wrappers"))
TRANSFORMS = Registry("transforms", builtins=("rdet_data.transforms",))
PIPELINES = TRANSFORMS

__all__ = ["DATASETS", "PIPELINES", "TRANSFORMS"]
