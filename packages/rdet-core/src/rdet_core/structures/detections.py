"""``Detections`` (one image's predictions) and MMRotate's result format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rdet_core.structures._arrays import (
    check_integer_labels,
    check_length,
    check_shape,
    is_torch,
    to_numpy,
)

__all__ = ["Detections", "detections_from_result", "detections_to_result"]


@dataclass
class Detections:
    """One image's detections, numpy or torch (all three fields alike).

    Attributes:
        boxes: (K, 5) rotated boxes ``(cx, cy, w, h, theta)``: pixels of the original image,
            theta in radians, clockwise on screen.
        scores: (K,) confidences in [0, 1].
        labels: (K,) 0-based class indices: an integer dtype, or floats with whole values
            (``1.7`` is a ``ValueError`` naming ``Detections.labels``, never truncated to 1).
    """

    boxes: Any
    scores: Any
    labels: Any

    def __post_init__(self) -> None:
        check_shape("boxes", self.boxes, (5,), "Detections")
        check_length("scores", self.scores, self.boxes.shape[0], "Detections")
        check_length("labels", self.labels, self.boxes.shape[0], "Detections")
        check_integer_labels("labels", self.labels, "Detections")

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 5), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64))

    def numpy(self) -> Detections:
        """The same detections as numpy arrays (float32 boxes and scores, int64 labels)."""
        return Detections(
            to_numpy(self.boxes).astype(np.float32, copy=False),
            to_numpy(self.scores).astype(np.float32, copy=False),
            to_numpy(self.labels).astype(np.int64, copy=False),
        )

    def __getitem__(self, index: Any) -> Detections:
        """A subset, e.g. ``dets[dets.scores > 0.3]``."""
        return Detections(self.boxes[index], self.scores[index], self.labels[index])

    def to(self, device: Any) -> Detections:
        """Move torch tensors to ``device``; numpy arrays stay as they are."""
        if not is_torch(self.boxes):
            return self
        return Detections(self.boxes.to(device), self.scores.to(device), self.labels.to(device))


def detections_to_result(dets: Detections, num_classes: int) -> list[np.ndarray]:
    """MMRotate's result format (``rbbox2result``): one (k, 6) float32 array per class.

    Each row is ``(cx, cy, w, h, theta, score)``; rows keep their order within a class.

    Raises:
        ValueError: A label is outside ``[0, num_classes)``.
    """
    d = dets.numpy()
    if len(d) and (d.labels.min() < 0 or d.labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got min {d.labels.min()} and max {d.labels.max()}"
        )
    rows = np.concatenate([d.boxes, d.scores[:, None]], axis=1)
    return [rows[d.labels == c] for c in range(num_classes)]


def detections_from_result(result: list[Any]) -> Detections:
    """``Detections`` from MMRotate's result format: a list per class of (k, 6) arrays.

    Raises:
        ValueError: A class's array is not (k, 6); the message names the class index.
    """
    boxes, scores, labels = [], [], []
    for c, arr in enumerate(result):
        a = to_numpy(arr).astype(np.float32, copy=False)
        if a.ndim != 2 or a.shape[1] != 6:
            raise ValueError(
                f"result[{c}] must have shape (k, 6) = (cx, cy, w, h, theta, score), got {a.shape}"
            )
        boxes.append(a[:, :5])
        scores.append(a[:, 5])
        labels.append(np.full(len(a), c, np.int64))
    if not boxes:
        return Detections.empty()
    return Detections(np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels))
