"""Drawing rotated detections on images (MMRotate's ``show_result`` / ``imshow_det_rbboxes``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from rbox_geometry import obb2poly
from rdet_core.structures import Detections, detections_to_result

__all__ = ["DOTA_PALETTE", "get_palette", "palette_for", "show_result", "show_result_pyplot"]

# MMRotate's DOTADataset.PALETTE (RGB), class by class
DOTA_PALETTE = [
    (165, 42, 42), (189, 183, 107), (0, 255, 0), (255, 0, 0), (138, 43, 226), (255, 128, 0), (255, 0, 255),
    (0, 255, 255), (255, 193, 193), (0, 51, 153), (255, 250, 205), (0, 139, 139), (255, 255, 0), (147, 116, 116),
    (0, 0, 255),
]  # fmt: skip


def palette_for(num_classes: int) -> list[tuple[int, int, int]]:
    """MMRotate's DOTA palette, extended with fixed pseudo-random colours beyond 15 classes."""
    rng = np.random.default_rng(42)
    extra = [
        tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(max(0, num_classes - len(DOTA_PALETTE)))
    ]
    return (DOTA_PALETTE + extra)[:num_classes]


def get_palette(
    palette: str | Sequence[Sequence[int]] | None, num_classes: int
) -> list[tuple[int, int, int]]:
    """MMDetection's ``get_palette``: RGB colours, one per class. ``None`` or ``'dota'``:
    :func:`palette_for` (MMRotate's DOTA palette); ``'random'``: fixed pseudo-random colours
    (seed 42, as MMDetection); a list of ``(r, g, b)``: used as it is.

    Raises:
        ValueError: Another name (MMDetection's ``'coco'`` / ``'voc'`` / ``'citys'`` are not
            rotated datasets' palettes), too few colours, or a colour that is not 3 values in
            0..255.
    """
    if palette is None or palette == "dota":
        return palette_for(num_classes)
    if palette == "random":
        rng = np.random.RandomState(42)
        return [tuple(int(c) for c in rng.randint(0, 256, 3)) for _ in range(num_classes)]
    if isinstance(palette, str):
        raise ValueError(f"palette {palette!r}: give None / 'dota', 'random' or a list of (r, g, b) colours")
    colours = [tuple(int(c) for c in colour) for colour in palette]
    if len(colours) < num_classes or any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in colours):
        raise ValueError(
            f"palette: {num_classes} colours of 3 values in 0..255 needed (r, g, b), got {list(palette)!r}"
        )
    return colours[:num_classes]


def _read(img: str | os.PathLike | np.ndarray) -> np.ndarray:
    if isinstance(img, np.ndarray):
        return img.copy()
    image = cv2.imread(os.fspath(img), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {img}")
    return image


def show_result(
    img: str | os.PathLike | np.ndarray,
    result: Detections | Sequence[np.ndarray],
    class_names: Sequence[str],
    score_thr: float = 0.3,
    out_file: str | os.PathLike | None = None,
    thickness: int = 2,
    font_scale: float = 0.5,
    palette: str | Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """Draw detections on a BGR image: ``Detections`` (labels index ``class_names``) or
    MMRotate's result format (a (k, 6) array per class), in ``palette``'s colours
    (:func:`get_palette`).

    Boxes are outlined in their class's colour with ``name|score`` at the first corner;
    detections under ``score_thr`` are left out. Returns the drawn image (and writes it to
    ``out_file`` if given; the folder is created).

    Raises:
        ValueError: ``result`` has another number of classes than ``class_names`` (a label
            outside them, for ``Detections``).
    """
    if isinstance(result, Detections):
        result = detections_to_result(result, len(class_names))
    if len(result) != len(class_names):
        raise ValueError(f"result has {len(result)} classes but {len(class_names)} class names were given")
    canvas = _read(img)
    colours = get_palette(palette, len(class_names))
    for c, dets in enumerate(result):
        d = np.asarray(dets, np.float64).reshape(-1, 6)
        d = d[d[:, 5] >= score_thr]
        if not len(d):
            continue
        polys = obb2poly(d[:, :5]).reshape(-1, 4, 2)
        r, g, b = colours[c]
        for poly, score in zip(polys, d[:, 5]):
            pts = np.round(poly).astype(np.int32)
            cv2.polylines(canvas, [pts], True, (b, g, r), thickness, cv2.LINE_AA)
            x, y = int(pts[:, 0].min()), int(pts[:, 1].min())
            cv2.putText(
                canvas,
                f"{class_names[c]}|{score:.2f}",
                (x, max(y - 2, 10)),
                cv2.FONT_HERSHEY_SIMPLEX,
                font_scale,
                (b, g, r),
                1,
                cv2.LINE_AA,
            )
    if out_file is not None:
        Path(out_file).parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(os.fspath(out_file), canvas):
            raise OSError(f"cannot write {out_file}")
    return canvas


def draw_patch_grid(
    img: np.ndarray, windows: np.ndarray, colour: tuple[int, int, int] = (255, 255, 255), thickness: int = 1
) -> np.ndarray:
    """Outline patch windows (P, 4) ``x0, y0, x1, y1`` (pixels) on a BGR image, in place."""
    for x0, y0, x1, y1 in np.asarray(windows, np.int64):
        cv2.rectangle(img, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), colour, thickness, cv2.LINE_4)
    return img


def show_result_pyplot(
    model: object,
    img: str | os.PathLike | np.ndarray,
    result: Detections | Sequence[np.ndarray],
    score_thr: float = 0.3,
    title: str = "result",
    wait_time: float = 0,
    palette: str | Sequence[Sequence[int]] | None = None,
    out_file: str | os.PathLike | None = None,
) -> np.ndarray:
    """MMDetection's ``show_result_pyplot``, as MMRotate's ``image_demo.py`` calls it: the
    detections drawn with the model's class names (``model.CLASSES``). rdet opens no window
    (opencv-headless): the drawing is written to ``out_file`` and returned; ``title`` and
    ``wait_time`` are accepted for MMRotate's scripts and change nothing.

    Raises:
        ValueError: The model has no class names; as :func:`show_result`.
    """
    names = getattr(model, "CLASSES", None)
    if not names:
        raise ValueError(
            f"show_result_pyplot: {type(model).__name__} has no CLASSES (class names) to draw with"
        )
    return show_result(img, result, list(names), score_thr, out_file, palette=palette)
