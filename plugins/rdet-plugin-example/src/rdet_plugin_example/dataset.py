"""A dataset of synthetic images with filled rotated rectangles: for smoke tests and demos."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class ToyShapesDataset:
    """``num_images`` square images, each with 1 to ``max_objects`` filled rotated rectangles.

    Items are dicts: ``img`` (H, W, 3) uint8, ``gt_bboxes`` (K, 5) float32
    ``(cx, cy, w, h, theta)`` (pixels, radians, clockwise on screen, le90), ``gt_labels`` (K,)
    int64 in ``[0, len(CLASSES))``. The same seed gives the same images.
    """

    CLASSES = ("box", "bar")

    def __init__(self, num_images: int = 8, img_size: int = 256, max_objects: int = 4, seed: int = 0) -> None:
        if num_images < 1 or img_size < 32 or max_objects < 1:
            raise ValueError(
                f"need num_images >= 1, img_size >= 32, max_objects >= 1; got {num_images}, {img_size}, {max_objects}"
            )
        self.num_images, self.img_size, self.max_objects, self.seed = num_images, img_size, max_objects, seed

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.num_images:
            raise IndexError(f"ToyShapesDataset has {self.num_images} images, asked for index {index}")
        rng = np.random.default_rng((self.seed, index))
        size = self.img_size
        img = np.full((size, size, 3), 32, np.uint8)
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            label = int(rng.integers(0, 2))
            w = rng.uniform(0.15, 0.3) * size
            h = w if label == 0 else w / 3
            theta = rng.uniform(-math.pi / 2, math.pi / 2)
            cx, cy = rng.uniform(0.25, 0.75, 2) * size
            boxes.append((cx, cy, w, h, theta))
            labels.append(label)
            _fill_rotated_rect(img, cx, cy, w, h, theta, (200, 80 + 120 * label, 60))
        return {
            "img": img,
            "gt_bboxes": np.asarray(boxes, np.float32),
            "gt_labels": np.asarray(labels, np.int64),
        }


def _fill_rotated_rect(
    img: np.ndarray, cx: float, cy: float, w: float, h: float, theta: float, colour: tuple[int, int, int]
) -> None:
    """Paint the pixels whose centres lie inside the box (clockwise theta, y down)."""
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    cos, sin = math.cos(theta), math.sin(theta)
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    img[(np.abs(along) <= w / 2) & (np.abs(across) <= h / 2)] = colour
