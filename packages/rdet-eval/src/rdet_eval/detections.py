"""Detections in their typed form, by duck typing: anything with ``boxes``, ``scores``, ``labels``.

rdet's detectors predict ``rdet_core.structures.Detections`` per image. rdet-eval does not
import rdet-core (it depends on nothing of ours but rbox-geometry, so that it installs beside
any framework): it accepts any object with those three attributes (:class:`DetectionsLike`),
numpy arrays or anything ``np.asarray`` takes (a torch tensor is detached and moved to the
CPU through its own methods; torch is never imported). Each entry point also keeps taking
MMRotate's per-class form, a list per class of (k, 6) arrays, with identical numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DetectionArrays",
    "DetectionsLike",
    "as_detection_arrays",
    "detections_to_per_class",
    "flatten_detections",
    "is_detections_like",
    "is_typed_results",
    "per_class_results",
    "resolve_num_classes",
]

_FIELDS = ("boxes", "scores", "labels")


@runtime_checkable
class DetectionsLike(Protocol):
    """One image's detections: what ``rdet_core.structures.Detections`` provides.

    Attributes:
        boxes: (K, 5) rotated boxes ``(cx, cy, w, h, theta)``.
        scores: (K,) confidences.
        labels: (K,) 0-based integer class indices.
    """

    @property
    def boxes(self) -> Any: ...

    @property
    def scores(self) -> Any: ...

    @property
    def labels(self) -> Any: ...


@dataclass(frozen=True)
class DetectionArrays:
    """A plain numpy :class:`DetectionsLike`: float64 boxes (K, 5), scores (K,), int64 labels (K,).

    What rdet-eval returns where it produces typed detections (e.g. ``merge_patch_results``
    of typed input); ``rdet_core.structures.Detections(d.boxes, d.scores, d.labels)`` makes
    it rdet's own type.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


def is_detections_like(x: Any) -> bool:
    """Whether ``x`` has ``boxes``, ``scores`` and ``labels`` (a :class:`DetectionsLike`)."""
    return all(hasattr(x, f) for f in _FIELDS)


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu()
    return np.asarray(x)


def as_detection_arrays(dets: Any, where: str) -> DetectionArrays:
    """Checked numpy arrays of a :class:`DetectionsLike`.

    Args:
        dets: The detections of one image.
        where: How error messages name them, e.g. ``'det_results[3]'``.

    Raises:
        TypeError: ``dets`` lacks one of ``boxes``, ``scores``, ``labels``.
        ValueError: ``boxes`` is not (K, 5); ``scores`` or ``labels`` is not (K,) for the
            same K; a label is negative or not a whole number; a box or score is not finite.
    """
    missing = [f for f in _FIELDS if not hasattr(dets, f)]
    if missing:
        raise TypeError(
            f"{where} must have boxes (K, 5), scores (K,) and labels (K,); "
            f"{type(dets).__name__} has no {', '.join(missing)}"
        )
    boxes = _numpy(dets.boxes)
    scores = _numpy(dets.scores)
    labels = _numpy(dets.labels)
    if boxes.size == 0 and boxes.ndim < 2:
        boxes = boxes.reshape(0, 5)
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(f"{where}.boxes must have shape (K, 5), got {boxes.shape}")
    k = boxes.shape[0]
    for name, arr in (("scores", scores), ("labels", labels)):
        if arr.shape != (k,):
            raise ValueError(f"{where}.{name} must have shape ({k},) to match its {k} boxes, got {arr.shape}")
    boxes = boxes.astype(np.float64, copy=False)
    scores = scores.astype(np.float64, copy=False)
    if k:
        whole = np.issubdtype(labels.dtype, np.integer) or (
            np.issubdtype(labels.dtype, np.floating) and bool(np.all(np.mod(labels, 1) == 0))
        )
        if not whole:
            raise ValueError(f"{where}.labels must be integer class indices, got dtype {labels.dtype}")
        if labels.min() < 0:
            raise ValueError(f"{where}.labels must be >= 0, got {labels.min()}")
        bad = ~(np.isfinite(boxes).all(1) & np.isfinite(scores))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{where} has a non-finite detection {i}: box {boxes[i].tolist()}, score {scores[i]}"
            )
    return DetectionArrays(boxes, scores, labels.astype(np.int64, copy=False))


def is_typed_results(det_results: Sequence[Any], what: str) -> bool:
    """Whether ``det_results`` (one entry per image) holds DetectionsLike (True) or per-class
    lists (False).

    Raises:
        TypeError: The images mix the two forms.
    """
    if not len(det_results):
        return False
    typed = is_detections_like(det_results[0])
    for i, r in enumerate(det_results):
        if is_detections_like(r) != typed:
            first, this = ("detections", "a per-class list") if typed else ("a per-class list", "detections")
            raise TypeError(
                f"{what}[{i}] is {this} but {what}[0] is {first}: give every image in one form "
                "(boxes/scores/labels, or MMRotate's list per class of (k, 6) arrays)"
            )
    return typed


def resolve_num_classes(
    num_classes: int | None,
    class_names: Sequence[str] | str | None,
    arrays: Sequence[DetectionArrays],
    extra_labels: Sequence[np.ndarray] = (),
) -> int:
    """The number of classes of typed detections, which do not carry it themselves.

    ``num_classes`` if given, else ``len(class_names)`` if that is a sequence of names,
    else one more than the largest label among ``arrays`` and ``extra_labels`` (e.g. the
    annotations' labels).
    """
    if num_classes is not None:
        return int(num_classes)
    if isinstance(class_names, (list, tuple)):
        return len(class_names)
    top = -1
    for labels in [a.labels for a in arrays] + [np.asarray(x).reshape(-1) for x in extra_labels]:
        if labels.size:
            top = max(top, int(labels.max()))
    return top + 1


def _check_labels(arrays: Sequence[DetectionArrays], num_classes: int, what: str) -> None:
    for i, a in enumerate(arrays):
        if len(a) and a.labels.max() >= num_classes:
            raise ValueError(
                f"{what}[{i}] has label {int(a.labels.max())}, but there are {num_classes} classes"
            )


def detections_to_per_class(a: DetectionArrays, num_classes: int) -> list[np.ndarray]:
    """Checked typed detections -> a list per class of (k, 6) float64 rows ``(box, score)``,
    each class's rows in input order (labels must lie in ``[0, num_classes)``)."""
    rows = np.concatenate([a.boxes, a.scores[:, None]], axis=1)
    return [rows[a.labels == c] for c in range(num_classes)]


def per_class_results(
    det_results: Sequence[Any], num_classes: int | None, what: str
) -> tuple[list[Sequence[np.ndarray]], int | None]:
    """Per image, MMRotate's per-class form, from either form.

    Per-class input passes through untouched (its own checks stay where they were);
    typed input becomes per class (k, 6) float64 arrays ``(cx, cy, w, h, theta, score)``,
    each class's rows in input order.

    Args:
        det_results: Per image, a :class:`DetectionsLike` or a list per class of arrays.
        num_classes: Required for typed input (the detections do not say it); checked
            against per-class input when given.
        what: How error messages name ``det_results``.

    Returns:
        ``(per-class results, num_classes)``; num_classes is None for empty input.

    Raises:
        ValueError: Typed input without ``num_classes``, a label outside it, a per-class
            image with another number of classes, or what :func:`as_detection_arrays` raises.
    """
    if not is_typed_results(det_results, what):
        if num_classes is not None:
            for i, r in enumerate(det_results):
                if len(r) != num_classes:
                    raise ValueError(f"{what}[{i}] has {len(r)} classes, expected {num_classes}")
        n = len(det_results[0]) if len(det_results) else num_classes
        return list(det_results), n
    if num_classes is None:
        raise ValueError(
            f"{what} holds detections (boxes/scores/labels), which do not say how many classes "
            "there are: give num_classes"
        )
    arrays = [as_detection_arrays(r, f"{what}[{i}]") for i, r in enumerate(det_results)]
    _check_labels(arrays, num_classes, what)
    return [detections_to_per_class(a, num_classes) for a in arrays], num_classes


def flatten_detections(
    det_results: Sequence[Any],
    what: str,
    num_classes: int | None = None,
    class_names: Sequence[str] | str | None = None,
    extra_labels: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Typed detections of every image -> (N, 6) rows ``(box, score)``, image index, class,
    and the number of classes (see :func:`resolve_num_classes`).

    The order is ``flatten_results``' order for the same detections in per-class form
    (image, then class, then input order), so that every score tie falls alike and the
    metrics are identical.
    """
    arrays = [as_detection_arrays(r, f"{what}[{i}]") for i, r in enumerate(det_results)]
    n = resolve_num_classes(num_classes, class_names, arrays, extra_labels)
    _check_labels(arrays, n, what)
    rows, images, labels = [], [], []
    for i, a in enumerate(arrays):
        order = np.argsort(a.labels, kind="stable")
        rows.append(np.concatenate([a.boxes[order], a.scores[order, None]], axis=1))
        images.append(np.full(len(a), i, np.int64))
        labels.append(a.labels[order])
    if not rows:
        return np.zeros((0, 6)), np.zeros(0, np.int64), np.zeros(0, np.int64), n
    return np.vstack(rows), np.concatenate(images), np.concatenate(labels), n
