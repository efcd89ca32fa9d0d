"""rdet-data's registries; third parties add to them through entry points (DESIGN.md, Plugins).

``DATASETS`` (group ``rdet.datasets``) and ``TRANSFORMS`` (group ``rdet.transforms``);
``PIPELINES`` is MMDetection 2.x's name for ``TRANSFORMS``.
"""

from rdet_core import Registry

DATASETS = Registry("datasets")
TRANSFORMS = Registry("transforms")
PIPELINES = TRANSFORMS

__all__ = ["DATASETS", "PIPELINES", "TRANSFORMS"]
