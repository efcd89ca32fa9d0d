"""Pixel-only transforms: Normalize, Pad (padding adds pixels at the bottom and right; boxes do not move)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from rdet_data.registry import TRANSFORMS
from rdet_data.transforms._checks import check_bool, check_image, check_number, check_pair, is_number

__all__ = ["Normalize", "Pad"]


@TRANSFORMS.register_module()
class Normalize:
    """``img = (img[BGR->RGB if to_rgb] - mean) / std`` as float32 (MMCV's ``imnormalize``); adds ``img_norm_cfg``.

    Raises:
        ValueError: (at build) ``mean`` / ``std`` not non-empty lists of finite
            numbers, a ``std`` entry 0; (at call) their lengths neither 1 nor the image's
            channel count.
        KeyError, TypeError: (at call) no image yet (before ``LoadImageFromFile``), or an
            image already a tensor (after ``DefaultFormatBundle``).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True):
        check_bool("Normalize", "to_rgb", to_rgb)
        for name, values in (("mean", mean), ("std", std)):
            if is_number(values):
                values = [values]
            if not isinstance(values, (list, tuple, np.ndarray)) or len(values) == 0:
                raise ValueError(f"Normalize: {name} must be a non-empty list of numbers, got {values!r}")
            for v in values:
                check_number("Normalize", f"each {name} entry", v)
        if any(float(v) == 0 for v in np.ravel(std)):
            raise ValueError(f"Normalize: std entries must not be 0 (division by std), got {std!r}")
        self.mean = np.array(mean, dtype=np.float32).reshape(-1)
        self.std = np.array(std, dtype=np.float32).reshape(-1)
        self.to_rgb = to_rgb
        self._mean = self.mean.reshape(1, -1).astype(np.float64)
        self._inv_std = (1 / self.std.astype(np.float64)).reshape(1, -1)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in results.get("img_fields", ["img"]):
            img = check_image(results, "Normalize", key)
            channels = img.shape[2] if img.ndim == 3 else 1
            for name, values in (("mean", self.mean), ("std", self.std)):
                if len(values) not in (1, channels):
                    raise ValueError(
                        f"Normalize: {name} has {len(values)} entries but the image results[{key!r}] has "
                        f"{channels} channel(s) (shape {img.shape}): give 1 or {channels} entries"
                    )
            img = img.astype(np.float32)  # a copy
            if self.to_rgb and img.ndim == 3 and img.shape[2] == 3:
                cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)
            cv2.subtract(img, self._mean, img)
            cv2.multiply(img, self._inv_std, img)
            results[key] = img
        results["img_norm_cfg"] = {"mean": self.mean, "std": self.std, "to_rgb": self.to_rgb}
        return results

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()}, to_rgb={self.to_rgb})"


@TRANSFORMS.register_module()
class Pad:
    """Pad at the bottom and right to ``size`` (h, w), to a multiple of ``size_divisor``, or to a square.

    ``pad_val``: a number or MMDetection 2.x's ``dict(img=0, masks=0, seg=255)``. Sets
    ``pad_shape``, ``pad_fixed_size``, ``pad_size_divisor``.

    Raises:
        ValueError: (at build) ``size`` not a pair of ints >= 1, ``size_divisor``
            not an int >= 1, ``pad_val`` not a number, or not exactly one of them; (at call)
            the image is larger than ``size``.
        KeyError, TypeError: (at call) no image yet (before ``LoadImageFromFile``), or an
            image already a tensor (after ``DefaultFormatBundle``).
    """

    def __init__(
        self,
        size: Sequence[int] | None = None,
        size_divisor: int | None = None,
        pad_to_square: bool = False,
        pad_val: float | dict = 0,
    ):
        if check_bool("Pad", "pad_to_square", pad_to_square):
            if size is not None or size_divisor is not None:
                raise ValueError("pad_to_square excludes size and size_divisor")
        elif (size is None) == (size_divisor is None):
            raise ValueError("give exactly one of size and size_divisor")
        if size is not None:
            check_pair("Pad", "size", size)
            for v in size:
                check_number("Pad", f"size {tuple(size)} entry", v, low=1, integer=True)
        if size_divisor is not None:
            check_number("Pad", "size_divisor", size_divisor, low=1, integer=True)
        pad_val = pad_val.get("img", 0) if isinstance(pad_val, dict) else pad_val
        for v in pad_val if isinstance(pad_val, (list, tuple)) else [pad_val]:
            check_number("Pad", "pad_val", v)
        self.size = size
        self.size_divisor = size_divisor
        self.pad_to_square = pad_to_square
        self.pad_val = pad_val

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        for key in results.get("img_fields", ["img"]):
            img = check_image(results, "Pad", key)
            h, w = img.shape[:2]
            if self.pad_to_square:
                th = tw = max(h, w)
            elif self.size is not None:
                th, tw = int(self.size[0]), int(self.size[1])
            else:
                d = self.size_divisor
                th, tw = -(-h // d) * d, -(-w // d) * d
            if th < h or tw < w:
                raise ValueError(f"Pad: the image ({h}, {w}) is larger than the padded size ({th}, {tw})")
            if (th, tw) != (h, w):
                out = np.empty((th, tw) + img.shape[2:], img.dtype)
                out[...] = self.pad_val
                out[:h, :w] = img
                img = out
            results[key] = img
        results["pad_shape"] = results["img"].shape
        results["pad_fixed_size"] = self.size
        results["pad_size_divisor"] = self.size_divisor
        return results

    def __repr__(self) -> str:
        return f"Pad(size={self.size}, size_divisor={self.size_divisor}, pad_to_square={self.pad_to_square}, pad_val={self.pad_val})"
