"""Rotated-box datasets (DOTA, HRSC2016, SSDD/HRSID, DIOR-R, YOLO-OBB), MMRotate's transforms and
dataset wrappers, data loaders collating into ``rdet_core.structures.DetBatch``, the DOTA splitter.
"""

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
from rdet_data.loader import build_dataloader, build_dataloaders, collate, dataloader_args, worker_init_fn
from rdet_data.registry import DATASETS, PIPELINES, TRANSFORMS
from rdet_data.samplers import DistributedGroupSampler, DistributedSampler, GroupSampler
from rdet_data.transforms import Compose
from rdet_data.wrappers import ClassBalancedDataset, ConcatDataset, MultiImageMixDataset, RepeatDataset

__version__ = "0.1.0"

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
