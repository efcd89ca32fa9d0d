"""Scores for rotated detectors, without torch: MMRotate's mAP, the official DOTA Task1
metric, submission files, patch merging and a confusion matrix.

Detections come in MMRotate's form (per image, a list per class of (k, 6) arrays) or typed
(per image, anything with ``boxes``, ``scores``, ``labels``: ``rdet_core``'s ``Detections``,
by duck typing, see :class:`DetectionsLike`)."""

from rdet_eval.ap import average_precision, voc_ap
from rdet_eval.confusion import confusion_matrix, plot_confusion_matrix
from rdet_eval.detections import DetectionArrays, DetectionsLike, is_detections_like
from rdet_eval.dota_files import DotaFileError, read_dota_objects, read_task1, write_task1
from rdet_eval.dota_task1 import (
    DOTA_V1_CLASSES,
    DOTA_V2_CLASSES,
    DOTA_V15_CLASSES,
    eval_dota_task1,
    evaluate_dota_task1,
)
from rdet_eval.merge import PatchName, merge_patch_results, merge_task1_patch_file, parse_patch_name
from rdet_eval.rbbox_map import eval_rbbox_map, eval_rbbox_map_coco, print_map_summary
from rdet_eval.submission import write_submission, zip_submission

__version__ = "0.1.0"

__all__ = [
    "DOTA_V1_CLASSES",
    "DOTA_V2_CLASSES",
    "DOTA_V15_CLASSES",
    "DetectionArrays",
    "DetectionsLike",
    "DotaFileError",
    "PatchName",
    "__version__",
    "average_precision",
    "confusion_matrix",
    "eval_dota_task1",
    "eval_rbbox_map",
    "eval_rbbox_map_coco",
    "evaluate_dota_task1",
    "is_detections_like",
    "merge_patch_results",
    "merge_task1_patch_file",
    "parse_patch_name",
    "plot_confusion_matrix",
    "print_map_summary",
    "read_dota_objects",
    "read_task1",
    "voc_ap",
    "write_submission",
    "write_task1",
    "zip_submission",
]
