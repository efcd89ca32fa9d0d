"""``OnnxDetector``: an exported rdet model (``rdet export``) run by ONNX Runtime, with the test
pipeline and the rotated NMS in numpy. No torch."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rbox_geometry import is_isotropic, rescale_rboxes
from rdet_core.structures import Detections, detections_to_result
from rdet_deploy.postprocess import multiclass_nms_rotated
from rdet_deploy.preprocess import Prepared, load_image, prepare

__all__ = ["SPEC_KEY", "ImageInput", "OnnxDetector", "inference_detector"]

SPEC_KEY = "rdet"
#: metadata versions this runtime reads (1: fixed input size; 2: dynamic, ``rdet export --dynamic``;
#: 3: either, with the ``img_shape`` input its ``inputs`` declare)
SUPPORTED_VERSIONS = (1, 2, 3)
#: the inputs this runtime can feed: the padded images, each image's (H, W) before padding
KNOWN_INPUTS = ("img", "img_shape")
ImageInput = str | os.PathLike | np.ndarray
"""An image: a file path, or a BGR ``HxWx3`` uint8 array."""


def _check_providers(providers: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The providers to ask for (None or empty: the CPU), each one ONNX Runtime has here; a ValueError
    naming an unknown one and the available ones (ONNX Runtime would only print a warning and
    fall back to the CPU)."""
    if isinstance(providers, str):
        providers = [providers]
    providers = list(providers or ["CPUExecutionProvider"])  # None or []: the CPU, as before
    for p in providers:
        name = p[0] if isinstance(p, tuple) and p else p  # (name, options) pairs as ONNX Runtime takes
        if not isinstance(name, str) or name not in available:
            raise ValueError(
                f"providers: {name!r} is not an execution provider of this ONNX Runtime; "
                f"available here: {list(available)}"
            )
    return providers


def unscale_boxes(
    boxes: np.ndarray, scale_factor: np.ndarray, version: str | None, keep_ratio: bool = True
) -> np.ndarray:
    """Rotated boxes (N, 5 + k) from the resized image to the original one, as rdet-models'
    ``rescale_rboxes``: isotropic factors divide (cx, cy, w, h), the angle unchanged; anisotropic
    ones map the 4 corners by (1 / sx, 1 / sy) and take the rectangle in the model's angle
    ``version`` (what ``RResize(keep_ratio=False)`` does to training boxes). Metadata exported
    before it named the version: a ``keep_ratio`` resize (anisotropic only by rounding) divides.

    Raises:
        ValueError: a ``keep_ratio=False`` resize with different factors and no angle version.
    """
    sx, sy = float(scale_factor[0]), float(scale_factor[1])
    out = boxes.astype(np.float32, copy=True)
    if is_isotropic(sx, sy) or (version is None and keep_ratio):
        out[:, :4] /= np.asarray([sx, sy, sx, sy], np.float32)
        return out
    if version is None:
        raise ValueError(
            "the image was resized by different factors in x and y (keep_ratio=False) and the model's "
            "metadata names no angle version to map its boxes back: export it again with this rdet"
        )
    return rescale_rboxes(out, (1 / sx, 1 / sy), version=version)


class OnnxDetector:
    """An exported detector.

    Raises (construction):
        FileNotFoundError: ``path`` does not exist.
        ValueError: A ``num_threads`` that is not an integer >= 0; a provider this ONNX Runtime
            does not have (naming it and the available ones; ONNX Runtime itself would fall back
            to the CPU); a file that is not an ONNX model (naming it); a file without rdet's
            metadata, or of a metadata version or inputs this runtime does not read.

    Args:
        path: the ``.onnx`` file written by ``rdet export`` (its metadata ``rdet`` holds the
            pipeline and the NMS settings).
        providers: ONNX Runtime execution providers (default: CPU), names or ``(name, options)``
            pairs; each must be in ``onnxruntime.get_available_providers()``.
        num_threads: intra-op threads, an integer >= 0 (0: ONNX Runtime's default).
        pad_to_input: a fixed-size model: pad each image further (bottom, right) to its input
            size. Off, an image whose pipeline output differs from that size is an error: padding
            is MMRotate's batch padding, and changes detections (the features near the padded
            edges, the anchors in the padding; a model without an ``img_shape`` input, metadata
            version 1 or 2, also clamps its boxes at the padded size). A dynamic model
            (``rdet export --dynamic``) takes every size as the pipeline pads it (to its size
            divisor) and ignores this.

    Attributes:
        spec: the metadata (``pipeline``, ``postprocess``, ``input``, ``classes``, ``num_classes``).
        CLASSES: class names, or None.
        dynamic: whether the model takes any input size.
        input_shape: (H, W) of a fixed-size model's input; None when dynamic.
        batch: images per run; None: any (a dynamic dense model).
        inputs: the graph's inputs fed: ``img`` (N, 3, H, W), and ``img_shape`` (N, 2) (each
            image's resized size before padding, where the graph clamps its boxes) when the
            metadata declares it (version 3; older files take ``img`` alone).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        providers: Sequence[str] | None = None,
        num_threads: int = 0,
        pad_to_input: bool = False,
    ) -> None:
        import onnxruntime as ort

        if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) or num_threads < 0:
            raise ValueError(
                f"num_threads {num_threads!r}: must be an integer >= 0 (0: ONNX Runtime's default)"
            )
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {str(path)!r} does not exist")
        providers = _check_providers(providers, ort.get_available_providers())
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(num_threads)
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as e:  # onnxruntime's InvalidProtobuf, Fail ... (its own exception classes)
            if (
                type(e).__name__ in ("InvalidProtobuf", "InvalidGraph", "NoModel")
                or "protobuf" in str(e).lower()
            ):
                raise ValueError(
                    f"{path}: not an ONNX model (ONNX Runtime cannot load it: {type(e).__name__}); "
                    "pass the .onnx file written by `rdet export`"
                ) from e
            raise
        meta = self.session.get_modelmeta().custom_metadata_map
        if SPEC_KEY not in meta:
            raise ValueError(f"{path}: no '{SPEC_KEY}' metadata; export the model with `rdet export`")
        self.spec: dict[str, Any] = json.loads(meta[SPEC_KEY])
        if self.spec.get("version") not in SUPPORTED_VERSIONS:
            raise ValueError(
                f"{path}: metadata version {self.spec.get('version')!r}; this rdet-deploy reads {SUPPORTED_VERSIONS}"
            )
        self.CLASSES = self.spec.get("classes")
        self.num_classes = int(self.spec["num_classes"])
        inp = self.spec["input"]
        self.dynamic = bool(inp.get("dynamic", False))
        self.batch: int | None = None if inp["batch"] is None else int(inp["batch"])
        self.input_shape: tuple[int, int] | None = (
            None if self.dynamic else (int(inp["height"]), int(inp["width"]))
        )
        if self.batch is None and not self.dynamic:
            raise ValueError(f"{path}: metadata input.batch is null for a fixed-size model")
        self.pad_to_input = bool(pad_to_input) and not self.dynamic
        self.inputs: tuple[str, ...] = tuple(self.spec.get("inputs", ["img"]))
        unknown = [n for n in self.inputs if n not in KNOWN_INPUTS]
        graph_inputs = {i.name: i.type for i in self.session.get_inputs()}
        missing = [n for n in self.inputs if n not in graph_inputs]
        if unknown or missing or "img" not in self.inputs:
            raise ValueError(
                f"{path}: metadata inputs {list(self.inputs)}: this rdet-deploy feeds {list(KNOWN_INPUTS)} "
                f"('img' first), the graph takes {sorted(graph_inputs)}"
            )
        self._shape_dtype = np.float32 if graph_inputs.get("img_shape") == "tensor(float)" else np.int64

    def prepare(self, img: ImageInput, name: str = "image") -> Prepared:
        """Load one image and run the test pipeline; a fixed-size model's input size must be its
        padded size (a dynamic model takes any). ``name``: the image in messages.

        Raises:
            FileNotFoundError, TypeError: As ``load_image``.
            ValueError: An array that is not a BGR ``HxWx3`` uint8 image (``load_image``); the
                pipeline's output is not the model's input size (see ``pad_to_input``).
        """
        image = load_image(img, name)
        try:
            p = prepare(image, self.spec["pipeline"], self.input_shape if self.pad_to_input else None)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
        if self.input_shape is not None and p.img.shape[1:] != self.input_shape:
            h, w = self.input_shape
            raise ValueError(
                f"{name}: resizes and pads to {p.img.shape[1]}x{p.img.shape[2]}, the model was exported for "
                f"{h}x{w}: export it with `--shape {p.img.shape[1]} {p.img.shape[2]}`, or pass pad_to_input=True "
                "to pad it (detections near the padded edges then differ from an unpadded run)"
            )
        return p

    def _run(self, prepared: Sequence[Prepared]) -> list[tuple[np.ndarray, ...]]:
        """The graph on the images (and their sizes before padding, where the model takes them),
        per padded size (a dynamic model's batch holds one size), in batches of ``self.batch``
        images (a fixed batch's last one filled with copies; None: all images of a size at once).
        Returns per image, in order, its (boxes, scores, factors)."""
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, p in enumerate(prepared):
            by_shape.setdefault(p.img.shape, []).append(i)
        outs: list[tuple[np.ndarray, ...] | None] = [None] * len(prepared)
        for indices in by_shape.values():
            step = self.batch or len(indices)
            for start in range(0, len(indices), step):
                chunk = indices[start : start + step]
                chunk_full = chunk + [chunk[-1]] * ((self.batch or len(chunk)) - len(chunk))
                feeds = {"img": np.stack([prepared[i].img for i in chunk_full])}
                if "img_shape" in self.inputs:
                    shapes = [prepared[i].img_shape for i in chunk_full]
                    feeds["img_shape"] = np.array(shapes, self._shape_dtype).reshape(-1, 2)
                boxes, scores, factors = self.session.run(["boxes", "scores", "score_factors"], feeds)
                for j, i in enumerate(chunk):
                    outs[i] = (boxes[j], scores[j], factors[j])
        return outs  # type: ignore[return-value]

    def predict(self, imgs: ImageInput | Sequence[ImageInput]) -> list[Detections]:
        """Per image its detections (numpy ``Detections``): boxes (K, 5) ``(cx, cy, w, h, theta)``
        in original-image pixels, radians, clockwise; scores (K,); labels (K,); best first.

        Raises:
            FileNotFoundError: An image path does not exist.
            TypeError: An image that is neither a path nor an array.
            ValueError: An array that is not a non-empty BGR ``HxWx3`` uint8 image (naming
                ``imgs[i]``, its shape and dtype); an image's pipeline output is not a fixed-size
                model's input size.
        """
        is_list = isinstance(imgs, (list, tuple))
        items = list(imgs) if is_list else [imgs]
        prepared = [self.prepare(img, f"imgs[{i}]" if is_list else "imgs") for i, img in enumerate(items)]
        post = self.spec["postprocess"]
        results = []
        for p, (boxes, scores, factors) in zip(prepared, self._run(prepared)):
            boxes = unscale_boxes(
                boxes, p.scale_factor, post.get("angle_version"), self.spec["pipeline"]["keep_ratio"]
            )
            b, s, labels = multiclass_nms_rotated(
                boxes, scores, factors, post["score_thr"], post["iou_thr"], post["max_per_img"]
            )
            results.append(Detections(b, s, labels))
        return results


def inference_detector(model: OnnxDetector, imgs: ImageInput | Sequence[ImageInput]) -> Any:
    """MMRotate's result format, as ``rdet_apps.apis.inference_detector``: per image a list per
    class of (k, 6) float32 ``(cx, cy, w, h, theta, score)``; a list of those for a list."""
    results = [detections_to_result(d, model.num_classes) for d in model.predict(imgs)]
    return results if isinstance(imgs, (list, tuple)) else results[0]
