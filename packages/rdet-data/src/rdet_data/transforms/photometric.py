"""``PhotoMetricDistortion``: MMDetection 2.x's colour jitter (pixels only; boxes do not move).

Randomness comes from ``numpy.random`` (seeded per worker by ``build_dataloader``), drawn in
MMDetection's order, so that a seed gives MMDetection's distortion of the same image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from rdet_data.registry import TRANSFORMS
from rdet_data.transforms._checks import check_image, check_number, check_pair

__all__ = ["PhotoMetricDistortion"]


@TRANSFORMS.register_module()
class PhotoMetricDistortion:
    """MMDetection 2.28's ``PhotoMetricDistortion``; each step happens with probability 0.5.

    1. brightness: ``img += uniform(-brightness_delta, brightness_delta)``
    2. contrast, when ``mode`` (drawn 0 or 1) is 1: ``img *= uniform(*contrast_range)``
    3. BGR -> HSV (OpenCV on float32: H in [0, 360), S in [0, 1], V as the BGR values)
    4. saturation: ``S *= uniform(*saturation_range)``
    5. hue: ``H += uniform(-hue_delta, hue_delta)``, wrapped back into [0, 360]
    6. HSV -> BGR
    7. contrast, when ``mode`` is 0
    8. a random permutation of the three channels

    The image becomes float32 first (MMDetection 2.28 converts; 2.x before mmdetection#6442,
    late 2021, asserted float32: ``LoadImageFromFile(to_float32=True)`` is not needed) and stays float32, not clipped:
    values may leave [0, 255] as in MMDetection. Boxes, labels and shapes are untouched. The
    draws are MMDetection's, from ``numpy.random`` in its order (``randint(2)`` for each step,
    then ``uniform``; ``permutation(3)``), so one seed gives MMDetection's output.

    Raises:
        ValueError: (at build) ``brightness_delta`` / ``hue_delta`` not a finite number >= 0
            (``hue_delta`` <= 360), a range not a pair ``0 <= lo <= hi``; (at call)
            ``img_fields`` other than ``['img']`` (MMDetection asserts one image), an image that
            is not (H, W, 3).
        KeyError, TypeError: (at call) no image yet (before ``LoadImageFromFile``), or an
            image already a tensor (after ``DefaultFormatBundle``).
    """

    def __init__(
        self,
        brightness_delta: float = 32,
        contrast_range: Sequence[float] = (0.5, 1.5),
        saturation_range: Sequence[float] = (0.5, 1.5),
        hue_delta: float = 18,
    ):
        owner = "PhotoMetricDistortion"
        check_number(owner, "brightness_delta", brightness_delta, low=0)
        check_number(owner, "hue_delta", hue_delta, low=0, high=360)
        for name, value in (("contrast_range", contrast_range), ("saturation_range", saturation_range)):
            lo, hi = check_pair(owner, name, value)
            check_number(owner, f"{name}[0]", lo, low=0)
            check_number(owner, f"{name}[1]", hi, low=lo)
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        fields = results.get("img_fields", ["img"])
        if list(fields) != ["img"]:
            raise ValueError(
                f"PhotoMetricDistortion distorts one image: img_fields must be ['img'] (as MMDetection "
                f"asserts), got {list(fields)}"
            )
        img = check_image(results, "PhotoMetricDistortion")
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"PhotoMetricDistortion needs a 3-channel (H, W, 3) BGR image, got shape {img.shape}"
            )
        img = img.astype(np.float32)  # a copy: the input is never changed
        rand = np.random
        if rand.randint(2):
            img += rand.uniform(-self.brightness_delta, self.brightness_delta)
        mode = rand.randint(2)  # 1: contrast before the HSV steps, 0: after them
        if mode == 1 and rand.randint(2):
            img *= rand.uniform(self.contrast_lower, self.contrast_upper)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        if rand.randint(2):
            img[..., 1] *= rand.uniform(self.saturation_lower, self.saturation_upper)
        if rand.randint(2):
            hue = img[..., 0]  # a view
            hue += rand.uniform(-self.hue_delta, self.hue_delta)
            hue[hue > 360] -= 360
            hue[hue < 0] += 360
        img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
        if mode == 0 and rand.randint(2):
            img *= rand.uniform(self.contrast_lower, self.contrast_upper)
        if rand.randint(2):
            img = img[..., rand.permutation(3)]
        results["img"] = img
        return results

    def __repr__(self) -> str:
        return (
            f"PhotoMetricDistortion(brightness_delta={self.brightness_delta}, "
            f"contrast_range={(self.contrast_lower, self.contrast_upper)}, "
            f"saturation_range={(self.saturation_lower, self.saturation_upper)}, "
            f"hue_delta={self.hue_delta})"
        )
