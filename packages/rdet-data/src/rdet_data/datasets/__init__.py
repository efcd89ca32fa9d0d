"""Datasets: MMRotate's (DOTA, HRSC2016, SAR) and DIOR-R, YOLO-OBB; each registered in ``DATASETS``."""

from rdet_data.datasets.base import DatasetSummary, RotatedDataset
from rdet_data.datasets.checks import EmptyDatasetError
from rdet_data.datasets.dior import DIORDataset
from rdet_data.datasets.dota import DOTADataset, DOTAv2Dataset, DOTAv15Dataset, SARDataset
from rdet_data.datasets.hrsc import HRSCDataset
from rdet_data.datasets.yolo_obb import YOLOOBBDataset

CustomDataset = RotatedDataset  # MMDetection's name

__all__ = [
    "CustomDataset",
    "DIORDataset",
    "DOTADataset",
    "DOTAv2Dataset",
    "DOTAv15Dataset",
    "DatasetSummary",
    "EmptyDatasetError",
    "HRSCDataset",
    "RotatedDataset",
    "SARDataset",
    "YOLOOBBDataset",
]
