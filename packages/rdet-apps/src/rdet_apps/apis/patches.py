"""Huge-image inference: detect on overlapping patches, merge back onto the whole image.

MMRotate's ``inference_detector_by_patches`` (its huge-image demo): the image is resized by
each ratio, cut into ``sizes`` windows every ``steps`` pixels as MMRotate's ``slide_window`` cuts
them (every window ``size`` x ``size``; the last one of a row or column flush with the border,
or, where the image is smaller than the window, reaching past it; windows less than
``img_rate_thr`` = 0.6 image are left out unless none is more), every patch is padded to the
full window size with zeros at its bottom and right (MMRotate's ``LoadPatchFromImage``:
``mmcv.impad``, pad value 0) and goes through the test pipeline, so that a small image is never
upscaled to the test scale; detections move back by the patch's offset and ratio, and
class-wise rotated NMS at ``merge_iou_thr`` removes the duplicates that overlapping patches see
twice. All of it on ``Detections`` (:func:`predict_by_patches`);
:func:`inference_detector_by_patches` converts to MMRotate's per-class lists at the end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from rdet_apps.apis.inference import ImageInput, _model_num_classes, predict_images
from rdet_apps.progress import track
from rdet_core.structures import Detections, detections_to_result

__all__ = [
    "IMG_RATE_THR",
    "MAX_OVERLAP",
    "check_merge",
    "check_overlap",
    "check_sizes_steps",
    "inference_detector_by_patches",
    "patch_windows",
    "predict_by_patches",
]


#: MMRotate's ``slide_window`` default: a window less than this much image (the rest padding) is
#: left out, unless no window of the image has more
IMG_RATE_THR = 0.6
#: the densest tiling :func:`predict_by_patches` runs: a step of at least ``size / MAX_OVERLAP``
#: (each pixel in at most about ``MAX_OVERLAP ** 2`` = 64 patches; MMRotate's demo: 1024 / 824;
#: ``rdet infer``'s default gap of 200 on a 256-pixel test scale: 256 / 56)
MAX_OVERLAP = 8


def _starts(length: int, size: int, step: int) -> list[int]:
    """MMRotate's ``slide_window`` starts along one side: one window where the side is no longer
    than the size (it reaches past the border), else every ``step`` with the last moved back
    flush with the border."""
    if length <= size:
        return [0]
    num = math.ceil((length - size) / step + 1)
    starts = [step * i for i in range(num)]
    if starts[-1] + size > length:
        starts[-1] = length - size
    return starts


def check_sizes_steps(sizes: Sequence[int], steps: Sequence[int]) -> None:
    """Patch ``sizes`` and ``steps`` (strides) that tile an image: paired, whole numbers, and
    ``1 <= step <= size`` (a step over the size leaves strips that no patch covers; MMRotate
    asserts ``step < size``, a step equal to the size is patches edge to edge).

    Raises:
        ValueError: naming the argument and the offending entry.
    """
    sizes, steps = list(sizes), list(steps)
    if not sizes or len(sizes) != len(steps):
        raise ValueError(f"sizes {sizes} and steps {steps} must pair up (one step per size, at least one)")
    for i, (size, step) in enumerate(zip(sizes, steps)):
        for name, value in (("sizes", size), ("steps", step)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name}[{i}] = {value!r}: must be a whole number of pixels")
        if size < 1:
            raise ValueError(f"sizes[{i}] = {size}: a patch size must be at least 1 pixel")
        if step < 1:
            raise ValueError(f"steps[{i}] = {step}: a step (stride) must be at least 1 pixel")
        if step > size:
            raise ValueError(
                f"steps[{i}] = {step} is larger than sizes[{i}] = {size}: strips of {step - size} "
                "pixels between the patches would be covered by none (overlap = size - step >= 0)"
            )


def _windows(width: int, height: int, sizes: Sequence[int], steps: Sequence[int]) -> np.ndarray:
    """All (P, 4) full-size windows ``x0, y0, x0 + size, y0 + size`` of MMRotate's
    ``slide_window``, before its image-rate filter."""
    wins = []
    for size, step in zip(sizes, steps):
        for y in _starts(height, size, step):
            for x in _starts(width, size, step):
                wins.append((x, y, x + size, y + size))
    return np.asarray(wins, np.int64).reshape(-1, 4)


def _image_rates(windows: np.ndarray, width: int, height: int) -> np.ndarray:
    """The share of each window that is image (the rest is padding)."""
    inside_w = np.clip(windows[:, 2], 0, width) - np.clip(windows[:, 0], 0, width)
    inside_h = np.clip(windows[:, 3], 0, height) - np.clip(windows[:, 1], 0, height)
    area = (windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1])
    return inside_w * inside_h / area


def _keep_by_rate(rates: np.ndarray, img_rate_thr: float) -> np.ndarray:
    """MMRotate's filter: windows with at least ``img_rate_thr`` image; if none, those with the
    most."""
    keep = rates >= img_rate_thr
    return keep if keep.any() else rates == rates.max()


def patch_windows(
    width: int, height: int, sizes: Sequence[int], steps: Sequence[int], img_rate_thr: float = IMG_RATE_THR
) -> np.ndarray:
    """(P, 4) windows ``x0, y0, x1, y1`` over a ``width`` x ``height`` image, for each (size,
    step) pair, as MMRotate 0.3.4's ``slide_window``: every window is ``size`` x ``size``; along
    a side longer than the size they start every ``step`` pixels and the last is moved back flush
    with the border, along a shorter side one window starts at 0 and reaches past the image
    (:func:`predict_by_patches` pads it with zeros). Windows with less than ``img_rate_thr`` of
    their area in the image are left out, unless no window has more (then those with the most
    stay). Unique, sorted.

    Raises:
        ValueError: sizes and steps that do not tile the image (:func:`check_sizes_steps`).
    """
    check_sizes_steps(sizes, steps)
    wins = _windows(width, height, sizes, steps)
    wins = wins[_keep_by_rate(_image_rates(wins, width, height), img_rate_thr)]
    return np.unique(wins, axis=0)


def check_overlap(sizes: Sequence[int], steps: Sequence[int]) -> None:
    """Steps of at least ``size / MAX_OVERLAP``: a step of 1 with 512-pixel patches (``rdet
    infer --patch-size 512 --patch-gap 511``) makes about 262,000 patches of a 1024-pixel image,
    each pixel detected 262,144 times (MMRotate runs it, for hours).

    Raises:
        ValueError: naming the step, the size, the patches per pixel, and the smallest step.
    """
    for i, (size, step) in enumerate(zip(sizes, steps)):
        if step * MAX_OVERLAP < size:
            least = math.ceil(size / MAX_OVERLAP)
            raise ValueError(
                f"steps[{i}] = {step} with sizes[{i}] = {size} (overlap {size - step} pixels): each "
                f"pixel would be in about {math.ceil(size / step) ** 2} patches; the step must be at "
                f"least 1/{MAX_OVERLAP} of the size, {least} (an overlap of at most {size - least})"
            )


def _pad_to(patch: np.ndarray, size: int) -> np.ndarray:
    """``patch`` padded to ``size`` x ``size`` with zeros at its bottom and right, as MMRotate's
    ``LoadPatchFromImage`` (``mmcv.impad(patch, shape=(size, size))``, pad value 0)."""
    h, w = patch.shape[:2]
    if h == size and w == size:
        return np.ascontiguousarray(patch)
    out = np.zeros((size, size, *patch.shape[2:]), patch.dtype)
    out[:h, :w] = patch
    return out


def check_merge(merge_iou_thr: float, batch_size: int) -> None:
    """A merge IoU threshold in (0, 1] (over 1 merges nothing) and a whole ``batch_size`` >= 1.

    Raises:
        ValueError: naming ``merge_iou_thr`` / ``batch_size``.
    """
    if isinstance(merge_iou_thr, bool) or not isinstance(merge_iou_thr, (int, float, np.number)):
        raise ValueError(f"merge_iou_thr = {merge_iou_thr!r}: must be a number in (0, 1]")
    if not 0 < merge_iou_thr <= 1:
        raise ValueError(f"merge_iou_thr = {merge_iou_thr}: an IoU threshold must be in (0, 1]")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size = {batch_size!r}: must be a whole number of patches, at least 1")


def _read_image(img: ImageInput) -> np.ndarray:
    """An array as it is; a path read by rdet-data's ``imread`` (as ``inference_detector``:
    a truncated or corrupt file is refused, not decoded in part)."""
    from rdet_data.transforms.loading import imread

    if isinstance(img, np.ndarray):
        return img
    return imread(os.fspath(img))


def predict_by_patches(
    model: torch.nn.Module,
    img: ImageInput,
    sizes: Sequence[int] = (1024,),
    steps: Sequence[int] = (824,),
    ratios: Sequence[float] = (1.0,),
    merge_iou_thr: float = 0.1,
    batch_size: int = 4,
) -> Detections:
    """Detections (numpy) on a whole (huge) image, in its pixels, by overlapping patches.

    The windows are MMRotate's (:func:`patch_windows`; the image-rate filter over the windows of
    every size and ratio together, as MMRotate's one ``slide_window`` call); each patch, padded to
    its full size with zeros (bottom and right, as MMRotate), goes through
    :func:`predict_images`; its boxes move by the patch's offset and
    back by the ratio, and one class-aware rotated NMS (``rbox_ops.nms_rotated`` with labels:
    a box only suppresses boxes of its class) removes what neighbouring patches saw twice.
    The kept detections are in descending score order.

    Args:
        sizes / steps: Patch sizes and strides in pixels of the resized image (MMRotate's
            demo: 1024 and 824, i.e. a 200-pixel gap).
        ratios: Resize ratios (multi-scale), each patched separately.
        merge_iou_thr: Class-wise rotated NMS threshold of the merge (MMRotate: 0.1).
        batch_size: Patches per ``model.predict`` call.

    Raises:
        ValueError: ``sizes`` / ``steps`` that do not tile the image (a step of 0, or over the
            size: :func:`check_sizes_steps`), a step under 1/8 of its size
            (:func:`check_overlap`), no ratio, a ratio that is not a finite number > 0
            or resizes the image to no pixels, ``merge_iou_thr``
            outside (0, 1] or a ``batch_size`` that is not a whole number >= 1
            (:func:`check_merge`).
        FileNotFoundError: ``img`` cannot be read (missing, truncated or corrupt), naming it.
    """
    from rbox_ops import nms_rotated

    check_sizes_steps(sizes, steps)
    check_overlap(sizes, steps)
    check_merge(merge_iou_thr, batch_size)
    if not len(ratios):
        raise ValueError("ratios is empty: give at least one resize ratio (1.0: the image as it is)")
    for i, ratio in enumerate(ratios):
        if (
            isinstance(ratio, bool)
            or not isinstance(ratio, (int, float))
            or not (math.isfinite(ratio) and ratio > 0)
        ):
            raise ValueError(f"ratios[{i}] = {ratio!r}: a resize ratio must be a finite number > 0")
    image = _read_image(img)
    height, width = image.shape[:2]
    for i, ratio in enumerate(ratios):
        if round(width * ratio) < 1 or round(height * ratio) < 1:
            raise ValueError(
                f"ratios[{i}] = {ratio}: resizes the {width}x{height} image to "
                f"{round(width * ratio)}x{round(height * ratio)} pixels"
            )
    scaled_images, windows = [], []
    for ratio in ratios:
        scaled = (
            image
            if ratio == 1
            else cv2.resize(
                image, (round(width * ratio), round(height * ratio)), interpolation=cv2.INTER_LINEAR
            )
        )
        scaled_images.append(scaled)
        windows.append(_windows(scaled.shape[1], scaled.shape[0], sizes, steps))
    # MMRotate cuts the windows of every size and ratio in one slide_window call: one filter
    rates = [_image_rates(w, s.shape[1], s.shape[0]) for w, s in zip(windows, scaled_images)]
    keep = _keep_by_rate(np.concatenate(rates), IMG_RATE_THR)
    keeps = np.split(keep, np.cumsum([len(w) for w in windows])[:-1])
    boxes, scores, labels = [], [], []
    for ratio, scaled, wins, kept in zip(ratios, scaled_images, windows, keeps):
        wins = np.unique(wins[kept], axis=0)
        starts = range(0, len(wins), batch_size)
        desc = f"patches of {scaled.shape[1]}x{scaled.shape[0]}"
        for start in track(starts, desc=desc, unit="batch") if len(starts) > 1 else starts:
            chunk = wins[start : start + batch_size]
            patches = [_pad_to(scaled[y0:y1, x0:x1], x1 - x0) for x0, y0, x1, y1 in chunk]
            for (x0, y0, _, _), dets in zip(chunk, predict_images(model, patches)):
                b = np.array(dets.boxes, np.float32)
                b[:, 0] += x0
                b[:, 1] += y0
                b[:, :4] /= ratio
                boxes.append(b)
                scores.append(dets.scores)
                labels.append(dets.labels)
    if not boxes:
        return Detections.empty()
    b, s, lab = np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels)
    _, keep = nms_rotated(torch.from_numpy(b), torch.from_numpy(s), merge_iou_thr, torch.from_numpy(lab))
    keep = keep.numpy()
    return Detections(b[keep], s[keep], lab[keep])


def inference_detector_by_patches(
    model: torch.nn.Module,
    img: ImageInput,
    sizes: Sequence[int] = (1024,),
    steps: Sequence[int] = (824,),
    ratios: Sequence[float] = (1.0,),
    merge_iou_thr: float = 0.1,
    batch_size: int | None = None,
    *,
    bs: int | None = None,
) -> list[np.ndarray]:
    """Detections on a whole (huge) image in MMRotate's result format: a (k, 6) float32
    array ``(cx, cy, w, h, theta, score)`` per class, each in descending score order.

    :func:`predict_by_patches` (same arguments and errors), converted once at the end. The
    arguments are MMRotate 0.3.x's (``model, img, sizes, steps, ratios, merge_iou_thr, bs``), in
    its order, so that its scripts run unchanged: ``bs`` is MMRotate's name for ``batch_size``
    (default 4 patches per batch; the batch size does not change the detections).

    Raises:
        TypeError: ``batch_size`` and ``bs`` both given, with different values.
        ValueError: As :func:`predict_by_patches`; a ``bs`` that is not a whole number >= 1,
            named.
    """
    if bs is not None:
        if isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs < 1:
            raise ValueError(f"bs = {bs!r}: the batch size must be a whole number of patches, at least 1")
        if batch_size is not None and batch_size != bs:
            raise TypeError(
                f"inference_detector_by_patches: batch_size={batch_size!r} and bs={bs!r} (MMRotate's "
                "name for it) are the same argument: give one"
            )
        batch_size = bs
    dets = predict_by_patches(
        model, img, sizes, steps, ratios, merge_iou_thr, 4 if batch_size is None else batch_size
    )
    return detections_to_result(dets, _model_num_classes(model))
