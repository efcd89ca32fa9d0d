"""Run rdet's exported ONNX detectors with ONNX Runtime, without torch.

from rdet_deploy import OnnxDetector, inference_detector
model = OnnxDetector("retinanet.onnx")
result = inference_detector(model, "demo.png")   # per class (k, 6) arrays, as MMRotate
"""

from rdet_deploy.model import ImageInput, OnnxDetector, inference_detector
from rdet_deploy.postprocess import multiclass_nms_rotated, nms_rotated
from rdet_deploy.preprocess import Prepared, load_image, prepare

__version__ = "0.1.0"

__all__ = [
    "ImageInput",
    "OnnxDetector",
    "Prepared",
    "inference_detector",
    "load_image",
    "multiclass_nms_rotated",
    "nms_rotated",
    "prepare",
]
