"""The embedded default data set: synthetic oriented objects written in DOTA format.

Deterministic for a seed: the same images and labels on every machine, so that the main
job and the learning tests have a fixed target. Three classes that differ in shape and
colour (``plane``: a long bar, ``ship``: a pointed hull, ``storage-tank``: a near-square
tank), on a noisy textured background, at any rotation; some objects are marked difficult.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rbox_geometry import obb2poly

__all__ = ["DEMO_CLASSES", "DemoSet", "make_demo_dota", "make_demo_scene"]

DEMO_CLASSES = ("plane", "ship", "storage-tank")
_COLOURS = {"plane": (230, 230, 240), "ship": (40, 90, 220), "storage-tank": (60, 200, 240)}  # BGR
_ASPECT = {"plane": (3.0, 4.0), "ship": (2.2, 3.0), "storage-tank": (1.0, 1.3)}


@dataclass(frozen=True)
class DemoSet:
    """Where a generated split lies: ``images/`` and ``labelTxt/`` under ``root``."""

    root: Path
    num_images: int
    num_objects: int

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def labels(self) -> Path:
        return self.root / "labelTxt"


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(60, 120, 3)
    noise = rng.normal(0, 12, (size // 8 + 1, size // 8 + 1, 3))
    tex = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    img = np.clip(base + tex + rng.normal(0, 6, (size, size, 3)), 0, 255)
    return img.astype(np.uint8)


def _draw(img: np.ndarray, cls: str, box: np.ndarray) -> None:
    poly = obb2poly(box[None]).reshape(4, 2)
    colour = _COLOURS[cls]
    if cls == "ship":  # a hull pointed at the bow: the rectangle with one short side pinched
        mid = (poly[1] + poly[2]) / 2
        shape = np.stack([poly[0], poly[1] * 0.6 + mid * 0.4, mid, poly[2] * 0.6 + mid * 0.4, poly[3]])
        cv2.fillPoly(img, [np.round(shape).astype(np.int32)], colour, cv2.LINE_AA)
    elif cls == "storage-tank":
        cv2.fillPoly(img, [np.round(poly).astype(np.int32)], colour, cv2.LINE_AA)
        c = box[:2]
        cv2.circle(
            img, (int(c[0]), int(c[1])), max(int(min(box[2], box[3]) * 0.3), 1), (30, 30, 30), -1, cv2.LINE_AA
        )
    else:  # plane: a bar with wings across its middle
        cv2.fillPoly(img, [np.round(poly).astype(np.int32)], colour, cv2.LINE_AA)
        w, h, t = box[2], box[3], box[4]
        wing = np.array([box[0], box[1], h * 0.8, w * 0.6, t])
        cv2.fillPoly(
            img, [np.round(obb2poly(wing[None]).reshape(4, 2)).astype(np.int32)], colour, cv2.LINE_AA
        )


def _layout(
    rng: np.random.Generator,
    size: int,
    max_objects: int,
    object_scale: int | None = None,
    centres: np.ndarray | None = None,
) -> list[tuple[str, np.ndarray]]:
    """Objects that do not overlap (rejection sampling on their bounding circles), as large as
    in an image of ``object_scale`` pixels (default ``size``); ``centres`` (k, 2) are tried first."""
    scale = object_scale or size
    placed: list[tuple[str, np.ndarray]] = []
    wanted = [] if centres is None else [tuple(c) for c in centres]
    for attempt in range(max_objects * 10 + len(wanted)):
        if len(placed) >= max_objects:
            break
        cls = DEMO_CLASSES[int(rng.integers(0, len(DEMO_CLASSES)))]
        lo, hi = _ASPECT[cls]
        h = rng.uniform(scale * 0.06, scale * 0.11)
        w = h * rng.uniform(lo, hi)
        radius = math.hypot(w, h) / 2
        if attempt < len(wanted):
            cx, cy = np.clip(wanted[attempt], radius + 2, size - radius - 2)
        else:
            cx, cy = rng.uniform(radius + 2, size - radius - 2, 2)
        theta = rng.uniform(-math.pi / 2, math.pi / 2)
        if all(math.hypot(cx - b[0], cy - b[1]) > radius + math.hypot(b[2], b[3]) / 2 + 3 for _, b in placed):
            placed.append((cls, np.array([cx, cy, w, h, theta])))
    return placed


def _write_dota(root: Path, name: str, img: np.ndarray, objects: list[tuple[str, np.ndarray]], rng) -> None:
    lines = ["imagesource:rdet-synthetic", "gsd:0.5"]
    for cls, box in objects:
        poly = obb2poly(box[None]).reshape(-1)
        difficult = int(rng.random() < 1 / 12)
        lines.append(" ".join(f"{v:.1f}" for v in poly) + f" {cls} {difficult}")
    cv2.imwrite(str(root / "images" / f"{name}.png"), img)
    (root / "labelTxt" / f"{name}.txt").write_text("\n".join(lines) + "\n")


def make_demo_scene(
    root: str | os.PathLike, size: int = 2048, patch: int = 256, step: int = 200, seed: int = 7
) -> DemoSet:
    """One large scene of the demo's domain (objects as large as in its ``patch``-pixel images),
    written as ``images/SCENE.png`` + ``labelTxt/SCENE.txt``: for huge-image inference by
    patches. A third of the objects sit on the edges of the ``patch`` x ``patch`` windows at
    stride ``step`` (so that neighbouring patches both see them and the merge must keep one)."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labelTxt").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng((seed, size))
    img = _background(rng, size)
    count = (size // patch) ** 2 * 4
    edges = np.arange(patch, size, step, dtype=np.float64)  # right / bottom edges of the windows
    on_edges = np.stack(
        [rng.choice(edges, count // 3), rng.uniform(0, size, count // 3)], axis=1
    )  # on vertical edges; half of them turned onto horizontal ones
    flip = rng.random(len(on_edges)) < 0.5
    on_edges[flip] = on_edges[flip][:, ::-1]
    objects = _layout(rng, size, count, object_scale=patch, centres=on_edges)
    for cls, box in objects:
        _draw(img, cls, box)
    _write_dota(root, "SCENE", img, objects, rng)
    return DemoSet(root, 1, len(objects))


def make_demo_dota(
    root: str | os.PathLike, num_images: int = 48, size: int = 256, max_objects: int = 6, seed: int = 0
) -> DemoSet:
    """Write ``num_images`` PNG images and DOTA label files under ``root`` (created).

    Labels carry DOTA's header (``imagesource:``, ``gsd:``), integer-rounded corners in
    DOTA's clockwise order, and ``difficult`` 1 for about one object in twelve. Returns where
    they are and how many objects were written. Existing identical files are rewritten.
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labelTxt").mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(num_images):
        rng = np.random.default_rng((seed, i))
        img = _background(rng, size)
        objects = _layout(rng, size, int(rng.integers(2, max_objects + 1)))
        for cls, box in objects:
            _draw(img, cls, box)
        _write_dota(root, f"S{seed:02d}{i:04d}", img, objects, rng)
        total += len(objects)
    return DemoSet(root, num_images, total)
