"""``rdet serve``: an HTTP inference server (FastAPI + uvicorn, the ``serve`` extra).

A :class:`Predictor` (``classes``; ``predict(images) -> list[Detections]``; a torch model as
:class:`TorchPredictor`, or an exported ``.onnx`` as :class:`OnnxPredictor`) behind :func:`create_app`: ``POST /predict``
(the image as the raw body or the ``image`` file of a multipart form) answers JSON detections;
concurrent requests are gathered into batches by a :class:`MicroBatcher`. Importing this
package imports neither FastAPI nor torch; :func:`create_app` and :func:`run_server` need the
extra (``pip install 'rdet-apps[serve]'``).
"""

from rdet_apps.serve.app import create_app
from rdet_apps.serve.batcher import (
    BatcherClosedError,
    BatcherFullError,
    ImageRejectedError,
    MicroBatcher,
    PredictionError,
)
from rdet_apps.serve.detections_json import detections_to_json
from rdet_apps.serve.extra import SERVE_EXTRA_HINT, require_serve_extra
from rdet_apps.serve.payload import ImageLimits, RequestError, decode_image
from rdet_apps.serve.predictor import OnnxPredictor, Predictor, TorchPredictor
from rdet_apps.serve.server import bind, run_server

__all__ = [
    "SERVE_EXTRA_HINT",
    "BatcherClosedError",
    "BatcherFullError",
    "ImageLimits",
    "ImageRejectedError",
    "MicroBatcher",
    "OnnxPredictor",
    "PredictionError",
    "Predictor",
    "RequestError",
    "TorchPredictor",
    "bind",
    "create_app",
    "decode_image",
    "detections_to_json",
    "require_serve_extra",
    "run_server",
]
