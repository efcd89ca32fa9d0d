"""The JSON forms of one image's detections: ``POST /predict``'s, and MMRotate's TorchServe
handler's (``POST /predictions/<model>``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rbox_geometry import obb2poly
from rdet_core.structures import Detections

__all__ = ["detections_to_json", "detections_to_torchserve"]


def detections_to_json(
    dets: Detections, classes: Sequence[str], image_shape: Sequence[int], score_thr: float = 0.0
) -> dict[str, Any]:
    """The detections at or above ``score_thr``, by falling score.

    Returns:
        ``{"height": H, "width": W, "detections": [{"class": name, "label": i, "score": s,
        "box": [cx, cy, w, h, theta], "polygon": [x1, y1, ..., x4, y4]}, ...]}``: pixels of
        the original image, theta in radians (clockwise on screen), the polygon DOTA's four
        corners; float32 values as they are (not rounded).

    Raises:
        ValueError: A label outside ``[0, len(classes))``.
    """
    d = dets.numpy()
    d = d[d.scores >= score_thr]
    d = d[np.argsort(-d.scores, kind="stable")]
    if len(d) and (d.labels.min() < 0 or d.labels.max() >= len(classes)):
        raise ValueError(
            f"the predictor gave labels in [{d.labels.min()}, {d.labels.max()}] for {len(classes)} classes"
        )
    boxes = d.boxes.astype(np.float64)
    polygons = obb2poly(boxes) if len(boxes) else np.zeros((0, 8))
    return {
        "height": int(image_shape[0]),
        "width": int(image_shape[1]),
        "detections": [
            {
                "class": classes[label],
                "label": label,
                "score": score,
                "box": box,
                "polygon": polygon,
            }
            for label, score, box, polygon in zip(
                d.labels.tolist(), d.scores.astype(np.float64).tolist(), boxes.tolist(), polygons.tolist()
            )
        ],
    }


def detections_to_torchserve(
    dets: Detections, classes: Sequence[str], score_thr: float = 0.5
) -> list[dict[str, Any]]:
    """The detections at or above ``score_thr`` as MMRotate 0.3's TorchServe handler
    (``tools/deployment/mmrotate_handler.py``) answers them: by class, then by falling score,
    ``[{"class_name": name, "bbox": [cx, cy, w, h, theta], "score": s}, ...]``, so that
    clients of a ``.mar`` made by ``mmrotate2torchserve`` work unchanged (the handler's
    threshold is 0.5).

    Raises:
        ValueError: A label outside ``[0, len(classes))``.
    """
    d = dets.numpy()
    d = d[d.scores >= score_thr]
    if len(d) and (d.labels.min() < 0 or d.labels.max() >= len(classes)):
        raise ValueError(
            f"the predictor gave labels in [{d.labels.min()}, {d.labels.max()}] for {len(classes)} classes"
        )
    d = d[np.lexsort((-d.scores, d.labels))]
    return [
        {"class_name": classes[label], "bbox": box, "score": score}
        for label, score, box in zip(
            d.labels.tolist(), d.scores.astype(np.float64).tolist(), d.boxes.astype(np.float64).tolist()
        )
    ]
