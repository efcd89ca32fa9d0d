"""What the server runs: a predictor, images in, one ``Detections`` per image out.

A predictor is anything with ``classes`` (the class names, index = label) and
``predict(images)``; :class:`TorchPredictor` wraps a torch detector built by ``init_detector``.
An exported model plugs in the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rdet_apps.serve.batcher import ImageRejectedError
from rdet_core.structures import Detections

__all__ = ["OnnxPredictor", "Predictor", "TorchPredictor", "check_class_names"]


@runtime_checkable
class Predictor(Protocol):
    """A batched detector as the server sees it.

    Attributes:
        classes: the class names; a detection's label indexes this list.
    """

    classes: Sequence[str]

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in ``images`` (each ``HxWx3`` uint8 BGR): one ``Detections`` per
        image, boxes ``(cx, cy, w, h, theta)`` in that image's pixels, theta in radians."""
        ...


def check_class_names(classes: Any) -> list[str]:
    """The predictor's ``classes`` as a list of str.

    Raises:
        ValueError: ``classes`` is missing, empty or holds something other than strings.
    """
    if classes is None or isinstance(classes, (str, bytes)) or len(classes) == 0:
        raise ValueError(f"predictor.classes must be a non-empty list of class names, got {classes!r}")
    names = list(classes)
    bad = [c for c in names if not isinstance(c, str)]
    if bad:
        raise ValueError(f"predictor.classes must hold strings, got {bad[0]!r} ({type(bad[0]).__name__})")
    return names


class TorchPredictor:
    """A torch detector (``rdet_apps.apis.init_detector``) behind the predictor interface:
    the config's test pipeline, ``model.predict`` on collated batches
    (``rdet_apps.apis.predict_images``), under ``torch.inference_mode``.

    Images of one shape are predicted together, each shape in its own batch: padding an image
    to a larger companion's shape changes its detections (anchors over the padding compete in
    the top-k), and an answer must not depend on which requests shared its batch.
    """

    def __init__(self, model: Any) -> None:
        classes = getattr(model, "CLASSES", None)
        if classes is None:
            classes = [str(i) for i in range(int(model.num_classes))]
        self.model = model
        self.classes = [str(c) for c in classes]

    @classmethod
    def from_files(
        cls,
        config: str | os.PathLike,
        checkpoint: str | os.PathLike | None,
        device: str | None = None,
        cfg_options: Mapping[str, Any] | None = None,
        strict: bool = True,
    ) -> TorchPredictor:
        """``init_detector(config, checkpoint, ...)`` wrapped; ``device`` None is CUDA when
        available, else the CPU. The checkpoint must fit the model unless ``strict=False``."""
        import torch

        from rdet_apps.apis import init_detector

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = init_detector(config, checkpoint, device=device, cfg_options=cfg_options, strict=strict)
        return cls(model)

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One ``Detections`` (numpy) per ``HxWx3`` uint8 BGR image, original-image pixels;
        one ``model.predict`` per distinct image shape.

        Raises:
            ImageRejectedError: The test pipeline refuses an image (``ValueError``: a 2x5000
                image resizes to no pixels), naming its index in ``images``.
        """
        import torch

        from rdet_apps.apis import predict_images

        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(tuple(image.shape), []).append(i)
        out: list[Detections | None] = [None] * len(images)
        with torch.inference_mode():  # grad mode is per thread: the batcher's worker sets its own
            for indices in by_shape.values():
                try:
                    found = predict_images(self.model, [images[i] for i in indices])
                except ValueError:
                    self._find_rejected(images, indices)
                    raise  # no image alone is refused: the model failed, a server fault
                for i, dets in zip(indices, found):
                    out[i] = dets
        return out  # type: ignore[return-value]

    def _find_rejected(self, images: Sequence[np.ndarray], indices: Sequence[int]) -> None:
        """Raise ``ImageRejectedError`` for the first of ``images[indices]`` that the test
        pipeline refuses on its own; return when it takes each of them."""
        from rdet_apps.apis.inference import _image_batch

        for i in indices:
            try:
                _image_batch(self.model, [images[i]], "the image")
            except ValueError as e:
                raise ImageRejectedError(i, _rejection(e)) from e


def _rejection(error: ValueError) -> str:
    """The answer for an image the test pipeline refuses (the pipeline's message names the
    image itself: "the image: the image (2x5000) would be resized to ..." says it once)."""
    return "the model cannot take this image: " + str(error).removeprefix("the image: ")


class OnnxPredictor:
    """A model exported by ``rdet export`` (``.onnx``), run by ONNX Runtime through
    ``rdet_deploy.OnnxDetector``: no torch in the request path.

    A dynamic model (``rdet export --dynamic``) takes each image as the test pipeline resizes and
    pads it (to its size divisor), and (metadata version 3) clamps its boxes at the image's own
    size before padding, so every image gets the torch model's detections; images of one padded
    size share a batch. A fixed-size graph has each image padded (bottom, right) up
    to its input size after the pipeline's resize (``pad_to_input``): any image size is served,
    and an image whose pipeline output already has that size gets the exported model's exact
    detections.

    Raises:
        ModuleNotFoundError: rdet-deploy / onnxruntime are missing (the message names the extra).
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 0) -> None:
        try:
            from rdet_deploy import OnnxDetector
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(
                f"serving an .onnx model needs rdet-deploy and onnxruntime ({e.name} is missing): "
                "pip install 'rdet-apps[export]'"
            ) from e
        # pad_to_input applies to fixed-size models only; a dynamic one pads to its size divisor
        self.detector = OnnxDetector(path, num_threads=num_threads, pad_to_input=True)
        self.dynamic = self.detector.dynamic
        names = self.detector.CLASSES or [str(i) for i in range(self.detector.num_classes)]
        self.classes = [str(c) for c in names]

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One ``Detections`` (numpy) per ``HxWx3`` uint8 BGR image, original-image pixels.

        Raises:
            ImageRejectedError: The test pipeline refuses an image (``ValueError``), naming its
                index in ``images``.
        """
        try:
            return self.detector.predict(list(images))
        except ValueError:
            for i, image in enumerate(images):
                try:
                    self.detector.prepare(image, "the image")
                except ValueError as e:
                    raise ImageRejectedError(i, _rejection(e)) from e
            raise
