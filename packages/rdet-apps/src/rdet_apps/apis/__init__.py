"""Python API: MMRotate's ``init_detector``, ``inference_detector``,
``inference_detector_by_patches``, ``train_detector``, ``single_gpu_test`` / ``multi_gpu_test``,
and ``show_result`` / MMDetection's ``show_result_pyplot``; and their typed forms ``predict_images`` / ``predict_by_patches``
(``Detections`` per image, which ``inference_detector*`` convert to MMRotate's per-class lists).
"""

from rdet_apps.apis.inference import inference_detector, init_detector, predict_images, resolve_device
from rdet_apps.apis.patches import check_sizes_steps, inference_detector_by_patches, predict_by_patches
from rdet_apps.apis.test import evaluate_results, multi_gpu_test, single_gpu_test, to_mmrotate_results
from rdet_apps.apis.train import train_detector
from rdet_apps.visualization import show_result, show_result_pyplot

__all__ = [
    "check_sizes_steps",
    "evaluate_results",
    "inference_detector",
    "inference_detector_by_patches",
    "init_detector",
    "multi_gpu_test",
    "predict_by_patches",
    "predict_images",
    "resolve_device",
    "show_result",
    "show_result_pyplot",
    "single_gpu_test",
    "to_mmrotate_results",
    "train_detector",
]
