"""Rotated-box datasets (DOTA, HRSC2016, SSDD/HRSID, DIOR-R, YOLO-OBB), MMRotate's transforms and
dataset wrappers, data loaders collating into ``rdet_core.structures.DetBatch``, the DOTA splitter.

The names below are imported on first access (PEP 562), so that ``import rdet_data`` and the
splitter (``rdet_data.split``) do not import torch; the registries import their built-ins on
first use (see :mod:`rdet_data.registry`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdet_data.builder import build_dataset
    from rdet_data.datasets import (
        CustomDataset,
        DatasetSummary,
        DIORDataset,
        DOTADataset,
        DOTAv2Dataset,
        DOTAv15Dataset,
        EmptyDatasetError,
        HRSCDataset,
        RotatedDataset,
        SARDataset,
        YOLOOBBDataset,
    )
    from rdet_data.epoch_spanning import EpochSpanningLoader
    from rdet_data.loader import build_dataloader, build_dataloaders, collate, dataloader_args, worker_init_fn
    from rdet_data.registry import DATASETS, PIPELINES, TRANSFORMS
    from rdet_data.samplers import DistributedGroupSampler, DistributedSampler, GroupSampler
    from rdet_data.transforms import Compose
    from rdet_data.wrappers import ClassBalancedDataset, ConcatDataset, MultiImageMixDataset, RepeatDataset

__version__ = "0.1.0"

# public name -> the submodule that defines it
_LAZY = {
    "build_dataset": "rdet_data.builder",
    **dict.fromkeys(
        [
            "CustomDataset",
            "DatasetSummary",
            "DIORDataset",
            "DOTADataset",
            "DOTAv2Dataset",
            "DOTAv15Dataset",
            "EmptyDatasetError",
            "HRSCDataset",
            "RotatedDataset",
            "SARDataset",
            "YOLOOBBDataset",
        ],
        "rdet_data.datasets",
    ),
    **dict.fromkeys(
        ["build_dataloader", "build_dataloaders", "collate", "dataloader_args", "worker_init_fn"],
        "rdet_data.loader",
    ),
    **dict.fromkeys(["DATASETS", "PIPELINES", "TRANSFORMS"], "rdet_data.registry"),
    **dict.fromkeys(["DistributedGroupSampler", "DistributedSampler", "GroupSampler"], "rdet_data.samplers"),
    "Compose": "rdet_data.transforms",
    "EpochSpanningLoader": "rdet_data.epoch_spanning",
    **dict.fromkeys(
        ["ClassBalancedDataset", "ConcatDataset", "MultiImageMixDataset", "RepeatDataset"],
        "rdet_data.wrappers",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DATASETS",
    "PIPELINES",
    "TRANSFORMS",
    "ClassBalancedDataset",
    "Compose",
    "ConcatDataset",
    "CustomDataset",
    "DIORDataset",
    "DOTADataset",
    "DOTAv2Dataset",
    "DOTAv15Dataset",
    "DatasetSummary",
    "DistributedGroupSampler",
    "DistributedSampler",
    "EmptyDatasetError",
    "EpochSpanningLoader",
    "GroupSampler",
    "HRSCDataset",
    "MultiImageMixDataset",
    "RepeatDataset",
    "RotatedDataset",
    "SARDataset",
    "YOLOOBBDataset",
    "__version__",
    "build_dataloader",
    "build_dataloaders",
    "build_dataset",
    "collate",
    "dataloader_args",
    "worker_init_fn",
]
