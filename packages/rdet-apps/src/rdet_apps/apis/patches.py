"""Huge-image inference: detect on overlapping patches, merge back onto the whole image.

MMRotate's ``inference_detector_by_patches`` (its huge-image demo): the image is resized by
each ratio, cut into ``sizes`` windows every ``steps`` pixels (the last window flush with the
border), every patch goes through the test pipeline, detections move back by the patch's
offset and ratio, and class-wise rotated NMS at ``merge_iou_thr`` removes the duplicates that
overlapping patches see twice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from rdet_apps.apis.inference import inference_detector

__all__ = ["inference_detector_by_patches", "patch_windows"]


def _starts(length: int, size: int, step: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, step))
    starts.append(length - size)
    return sorted(set(starts))


def patch_windows(width: int, height: int, sizes: Sequence[int], steps: Sequence[int]) -> np.ndarray:
    """(P, 4) windows ``x0, y0, x1, y1`` covering a ``width`` x ``height`` image, for each
    (size, step) pair; the last window of a row or column is flush with the border."""
    if len(sizes) != len(steps):
        raise ValueError(f"sizes {list(sizes)} and steps {list(steps)} must pair up")
    wins = []
    for size, step in zip(sizes, steps):
        if step <= 0 or size <= 0:
            raise ValueError(f"patch size and step must be positive, got {size} and {step}")
        for y in _starts(height, size, step):
            for x in _starts(width, size, step):
                wins.append((x, y, min(x + size, width), min(y + size, height)))
    return np.unique(np.asarray(wins, np.int64), axis=0)


def inference_detector_by_patches(
    model: torch.nn.Module,
    img: str | os.PathLike | np.ndarray,
    sizes: Sequence[int] = (1024,),
    steps: Sequence[int] = (824,),
    ratios: Sequence[float] = (1.0,),
    merge_iou_thr: float = 0.1,
    batch_size: int = 4,
) -> list[np.ndarray]:
    """Detections on a whole (huge) image, MMRotate's result format (a (k, 6) array per class).

    Args:
        sizes / steps: Patch sizes and strides in pixels of the resized image (MMRotate's
            demo: 1024 and 824, i.e. a 200-pixel gap).
        ratios: Resize ratios (multi-scale), each patched separately.
        merge_iou_thr: Class-wise rotated NMS threshold of the merge (MMRotate: 0.1).
    """
    from rbox_ops import nms_rotated

    image = cv2.imread(os.fspath(img), cv2.IMREAD_COLOR) if not isinstance(img, np.ndarray) else img
    if image is None:
        raise FileNotFoundError(f"cannot read image {img}")
    height, width = image.shape[:2]
    per_class: list[list[np.ndarray]] | None = None
    for ratio in ratios:
        scaled = (
            image
            if ratio == 1
            else cv2.resize(
                image, (round(width * ratio), round(height * ratio)), interpolation=cv2.INTER_LINEAR
            )
        )
        windows = patch_windows(scaled.shape[1], scaled.shape[0], sizes, steps)
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            patches = [np.ascontiguousarray(scaled[y0:y1, x0:x1]) for x0, y0, x1, y1 in chunk]
            results = inference_detector(model, patches)
            for (x0, y0, _, _), result in zip(chunk, results):
                if per_class is None:
                    per_class = [[] for _ in result]
                for c, dets in enumerate(result):
                    if len(dets):
                        d = np.asarray(dets, np.float32).copy()
                        d[:, 0] += x0
                        d[:, 1] += y0
                        d[:, :4] /= ratio
                        per_class[c].append(d)
    merged = []
    for dets in per_class or []:
        if not dets:
            merged.append(np.zeros((0, 6), np.float32))
            continue
        d = torch.from_numpy(np.vstack(dets))
        kept, _ = nms_rotated(d[:, :5], d[:, 5], merge_iou_thr)
        merged.append(kept.numpy().astype(np.float32))
    return merged
