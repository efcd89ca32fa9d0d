"""``RMosaic``: four images into one (MMRotate's, after MMDetection's ``Mosaic``); needs ``MultiImageMixDataset``."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

import rbox_geometry as rg
from rdet_data.registry import TRANSFORMS
from rdet_data.transforms._checks import check_bool, check_number, check_pair, check_scales
from rdet_data.transforms.loading import mark_geometric

__all__ = ["RMosaic"]


@TRANSFORMS.register_module()
class RMosaic:
    """Paste four images around a random centre of a ``2h x 2w`` canvas.

    Args:
        img_scale: ``(h, w)`` of each quarter; the output is ``(2h, 2w)``.
        center_ratio_range: The centre is drawn in ``ratio * (w, h)``.
        min_bbox_size: Boxes with a side <= this, or the centre off the canvas, are dropped.
        bbox_clip_border, skip_filter: Accepted for MMRotate's configs; like MMRotate, boxes are
            never clipped (a rotated box cannot be) and always filtered.
        pad_val: Canvas value.
        prob: Probability of applying the mosaic.
        version: Angle version (unused: scaling and shifting keep angles).

    ``results['mix_results']`` must hold three more results (``MultiImageMixDataset`` fills it
    from :meth:`get_indexes`). Returns None when no box survives (the wrapper draws again).

    Raises:
        ValueError: (at build) ``prob`` outside [0, 1], ``img_scale`` not a pair of ints >= 1,
            ``center_ratio_range`` not a pair ``0 < lo <= hi``, a negative ``min_bbox_size``,
            an unknown ``version``.
    """

    def __init__(
        self,
        img_scale: Sequence[int] = (640, 640),
        center_ratio_range: Sequence[float] = (0.5, 1.5),
        min_bbox_size: float = 10,
        bbox_clip_border: bool = True,
        skip_filter: bool = True,
        pad_val: float = 114,
        prob: float = 1.0,
        version: str = "oc",
    ):
        check_bool("RMosaic", "bbox_clip_border", bbox_clip_border)
        check_bool("RMosaic", "skip_filter", skip_filter)
        check_number("RMosaic", "prob", prob, low=0, high=1)
        (scale,) = check_scales("RMosaic", [img_scale] if isinstance(img_scale, (list, tuple)) else img_scale)
        low, high = check_pair("RMosaic", "center_ratio_range", center_ratio_range)
        check_number("RMosaic", "center_ratio_range[0]", low, low=0, low_open=True)
        check_number("RMosaic", "center_ratio_range[1]", high, low=low)
        check_number("RMosaic", "min_bbox_size", min_bbox_size, low=0)
        rg.angles.check_version(version)
        self.img_scale = scale
        self.center_ratio_range = (low, high)
        self.min_bbox_size = min_bbox_size
        self.pad_val = pad_val
        self.prob = prob
        self.version = version

    def get_indexes(self, dataset: Any) -> list[int]:
        """Three random indices of ``dataset`` for the other quarters."""
        return [int(np.random.randint(0, len(dataset))) for _ in range(3)]

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        if np.random.uniform(0, 1) > self.prob:
            return results
        if len(results.get("mix_results", [])) != 3:
            raise ValueError("RMosaic needs results['mix_results'] of 3 results (use MultiImageMixDataset)")
        h, w = self.img_scale
        img0 = results["img"]
        canvas = np.full((2 * h, 2 * w) + img0.shape[2:], self.pad_val, dtype=img0.dtype)
        cx = int(np.random.uniform(*self.center_ratio_range) * w)
        cy = int(np.random.uniform(*self.center_ratio_range) * h)
        boxes, labels = [], []
        for i, loc in enumerate(("top_left", "top_right", "bottom_left", "bottom_right")):
            part = results if i == 0 else results["mix_results"][i - 1]
            img = part["img"]
            hi, wi = img.shape[:2]
            ratio = min(h / hi, w / wi)
            img = cv2.resize(img, (int(wi * ratio), int(hi * ratio)), interpolation=cv2.INTER_LINEAR)
            (px1, py1, px2, py2), (cx1, cy1, cx2, cy2) = self._combine(
                loc, (cx, cy), img.shape[1], img.shape[0]
            )
            canvas[py1:py2, px1:px2] = img[cy1:cy2, cx1:cx2]
            b = np.array(part["gt_bboxes"], np.float32).reshape(-1, 5).copy()
            if len(b):
                b[:, 0] = ratio * b[:, 0] + (px1 - cx1)
                b[:, 1] = ratio * b[:, 1] + (py1 - cy1)
                b[:, 2:4] *= ratio
            boxes.append(b)
            labels.append(np.asarray(part["gt_labels"], np.int64).reshape(-1))
        boxes_all, labels_all = np.concatenate(boxes), np.concatenate(labels)
        keep = (
            (boxes_all[:, 0] > 0) & (boxes_all[:, 0] < 2 * w) & (boxes_all[:, 1] > 0) & (boxes_all[:, 1] < 2 * h)
            & (boxes_all[:, 2] > self.min_bbox_size) & (boxes_all[:, 3] > self.min_bbox_size)
        )  # fmt: skip
        if not keep.any():
            return None
        out = copy.copy(results)
        out.pop("mix_results")
        out["img"] = canvas
        out["img_shape"] = canvas.shape
        out["gt_bboxes"] = boxes_all[keep]
        out["gt_labels"] = labels_all[keep]
        out["bbox_fields"] = ["gt_bboxes"]
        out.pop("gt_bboxes_ignore", None)
        mark_geometric(out, "RMosaic")
        return out

    def _combine(self, loc: str, center: tuple[int, int], wi: int, hi: int):
        """Paste box on the canvas and crop box in the (resized) image, each (x1, y1, x2, y2)."""
        cx, cy = center
        W, H = 2 * self.img_scale[1], 2 * self.img_scale[0]
        if loc == "top_left":
            x1, y1, x2, y2 = max(cx - wi, 0), max(cy - hi, 0), cx, cy
            crop = (wi - (x2 - x1), hi - (y2 - y1), wi, hi)
        elif loc == "top_right":
            x1, y1, x2, y2 = cx, max(cy - hi, 0), min(cx + wi, W), cy
            crop = (0, hi - (y2 - y1), min(wi, x2 - x1), hi)
        elif loc == "bottom_left":
            x1, y1, x2, y2 = max(cx - wi, 0), cy, cx, min(H, cy + hi)
            crop = (wi - (x2 - x1), 0, wi, min(y2 - y1, hi))
        else:
            x1, y1, x2, y2 = cx, cy, min(cx + wi, W), min(H, cy + hi)
            crop = (0, 0, min(wi, x2 - x1), min(y2 - y1, hi))
        return (x1, y1, x2, y2), crop

    def __repr__(self) -> str:
        return f"RMosaic(img_scale={self.img_scale}, center_ratio_range={self.center_ratio_range}, prob={self.prob})"
