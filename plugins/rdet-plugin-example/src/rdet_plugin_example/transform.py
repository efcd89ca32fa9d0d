"""A pipeline transform in MMRotate's style: a callable that takes and returns a results dict."""

from __future__ import annotations

from typing import Any

import numpy as np


class RandomGrayscale:
    """With probability ``prob``, replace ``results['img']`` (H, W, 3) by its luma in all channels.

    Boxes are untouched. ``seed`` makes the choice reproducible.
    """

    def __init__(self, prob: float = 0.5, seed: int | None = None) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must lie in [0, 1], got {prob}")
        self.prob = prob
        self._rng = np.random.default_rng(seed)

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results["img"]
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"RandomGrayscale needs an (H, W, 3) image, got shape {img.shape}")
        if self._rng.random() < self.prob:
            luma = img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            results["img"] = np.repeat(np.clip(luma.round(), 0, 255).astype(img.dtype)[..., None], 3, axis=2)
        return results

    def __repr__(self) -> str:
        return f"RandomGrayscale(prob={self.prob})"
