"""What the runtime needs besides the graph, read from the config: the test pipeline's resize,
normalisation and padding, and the NMS settings. Stored as JSON in the ONNX file's metadata
(key ``rdet``), so that ``rdet_deploy`` needs no config file and no torch.

Version 1: a fixed input size (``input.height`` / ``input.width``). Version 2: a dynamic model
(``input.dynamic``): height and width free (null), ``input.batch`` null where any batch runs,
``input.size_divisor`` the pipeline's padding multiple (the runtime pads only to it). Version 3
(fixed or dynamic, as ``input.dynamic`` says): ``inputs`` names the graph's inputs, ``img`` and
``img_shape`` (N, 2) int64, each image's (H, W) before padding, where the graph clamps its boxes
(versions 1 and 2 take ``img`` alone and clamp at the padded size)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "SPEC_KEY",
    "SPEC_VERSION",
    "UnsupportedPipelineError",
    "default_input_shape",
    "runtime_spec",
]

SPEC_KEY = "rdet"
#: the metadata version written, fixed or dynamic (1: fixed, 2: dynamic, both without ``img_shape``)
SPEC_VERSION = 3
#: the graph's inputs (``rdet_apps.export.graph.INPUT_NAMES``)
_INPUTS = ["img", "img_shape"]

_IGNORED = ("DefaultFormatBundle", "ImageToTensor", "Collect", "LoadImageFromFile", "LoadImageFromWebcam")


class UnsupportedPipelineError(ValueError):
    """A test pipeline step the exported model's runtime does not reproduce."""


def _scale_pairs(img_scale: Any) -> list[tuple[int, int]]:
    if (
        isinstance(img_scale, tuple)
        and len(img_scale) == 2
        and all(isinstance(v, (int, float)) for v in img_scale)
    ):
        return [(int(img_scale[0]), int(img_scale[1]))]
    return [(int(s[0]), int(s[1])) for s in img_scale]


def _pipeline(steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The flat test pipeline (``MultiScaleFlipAug`` opened) -> resize / normalise / pad settings."""
    spec: dict[str, Any] = {}
    flat: list[Mapping[str, Any]] = []
    for i, step in enumerate(steps):
        if step.get("type") == "MultiScaleFlipAug":
            if step.get("flip", False):
                raise UnsupportedPipelineError(
                    f"data.test.pipeline.{i}: flip test-time augmentation does not export"
                )
            if step.get("img_scale") is None:
                raise UnsupportedPipelineError(
                    f"data.test.pipeline.{i}: scale_factor resizing does not export"
                )
            scales = _scale_pairs(step["img_scale"])
            if len(scales) != 1:
                raise UnsupportedPipelineError(
                    f"data.test.pipeline.{i}: {len(scales)} scales (test-time augmentation) do not export"
                )
            spec["img_scale"] = list(scales[0])
            flat += list(step["transforms"])
        else:
            flat.append(step)
    for step in flat:
        kind = step.get("type")
        if kind in ("RResize", "Resize"):
            if step.get("img_scale") is not None:
                spec["img_scale"] = list(_scale_pairs(step["img_scale"])[0])
            spec["keep_ratio"] = bool(step.get("keep_ratio", True))
            spec["interpolation"] = step.get("interpolation", "bilinear")
        elif kind == "Normalize":
            spec["mean"] = [float(v) for v in step["mean"]]
            spec["std"] = [float(v) for v in step["std"]]
            spec["to_rgb"] = bool(step.get("to_rgb", True))
        elif kind == "Pad":
            if step.get("pad_to_square", False):
                raise UnsupportedPipelineError("Pad(pad_to_square=True) does not export")
            pad_val = step.get("pad_val", 0)
            spec["size_divisor"] = step.get("size_divisor")
            spec["pad_size"] = list(step["size"]) if step.get("size") is not None else None
            spec["pad_val"] = float(pad_val.get("img", 0) if isinstance(pad_val, Mapping) else pad_val)
        elif kind not in _IGNORED:
            raise UnsupportedPipelineError(
                f"test pipeline step {kind!r} is not reproduced by the ONNX runtime"
            )
    for key in ("img_scale", "mean"):
        if key not in spec:
            raise UnsupportedPipelineError(
                f"the test pipeline has no {'resize' if key == 'img_scale' else 'Normalize'}"
            )
    spec.setdefault("keep_ratio", True)
    spec.setdefault("interpolation", "bilinear")
    spec.setdefault("size_divisor", None)
    spec.setdefault("pad_size", None)
    spec.setdefault("pad_val", 0.0)
    return spec


def default_input_shape(pipeline: Mapping[str, Any]) -> tuple[int, int]:
    """(H, W) that holds every image the pipeline makes: the scale's long side squared with
    ``keep_ratio`` (portrait or landscape), else the scale; rounded up to ``size_divisor``."""
    if pipeline["pad_size"] is not None:
        return int(pipeline["pad_size"][0]), int(pipeline["pad_size"][1])
    w, h = pipeline["img_scale"]
    if pipeline["keep_ratio"]:
        h = w = max(w, h)
    d = pipeline["size_divisor"] or 1
    return -(-h // d) * d, -(-w // d) * d


def _nms_settings(model: Any) -> dict[str, Any]:
    cfg = model.cfg.model.test_cfg
    cfg = cfg.get("rcnn", cfg) if hasattr(model, "roi_head") else cfg
    nms = cfg.get("nms") or {}
    thr = nms.get("iou_thr", nms.get("iou_threshold"))
    if thr is None or cfg.get("score_thr") is None:
        raise UnsupportedPipelineError(f"model.test_cfg needs score_thr and nms.iou_thr, got {dict(cfg)}")
    from rdet_models.tta import model_angle_version

    return {
        "score_thr": float(cfg["score_thr"]),
        "iou_thr": float(thr),
        "max_per_img": int(cfg.get("max_per_img", -1)),
        # the boxes' angle version: mapping them back after an anisotropic resize needs it
        "angle_version": model_angle_version(model),
    }


def runtime_spec(
    model: Any, input_shape: tuple[int, int], batch: int | None, dynamic: bool = False
) -> dict[str, Any]:
    """The JSON the ONNX file carries for ``rdet_deploy`` (see the module doc).

    Args:
        input_shape: (H, W) of the fixed input; dynamic: the size it was traced at (``traced_shape``).
        batch: images per run; None: any (a dynamic dense model).
        dynamic: height and width free (``input.dynamic``).
    """
    pipeline = _pipeline(model.cfg.data.test.pipeline)
    classes = getattr(model, "CLASSES", None)
    h, w = int(input_shape[0]), int(input_shape[1])
    if dynamic:
        inp: dict[str, Any] = {
            "name": "img",
            "batch": None if batch is None else int(batch),
            "height": None,
            "width": None,
            "dynamic": True,
            "size_divisor": pipeline["size_divisor"],
            "traced_shape": [h, w],
        }
    else:
        if batch is None:
            raise ValueError("a fixed-size export has a fixed batch (an int >= 1), got None")
        inp = {"name": "img", "batch": int(batch), "height": h, "width": w, "dynamic": False}
    return {
        "version": SPEC_VERSION,
        "model": type(model).__name__,
        "num_classes": int(model.num_classes),
        "classes": list(classes) if classes is not None else None,
        "input": inp,
        "inputs": list(_INPUTS),
        "outputs": ["boxes", "scores", "score_factors"],
        "pipeline": pipeline,
        "postprocess": _nms_settings(model),
    }
