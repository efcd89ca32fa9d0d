"""Python API: ``init_detector`` and ``inference_detector`` (MMDetection 2.x's signatures)."""

from rdet_apps.apis.inference import inference_detector, init_detector

__all__ = ["inference_detector", "init_detector"]
