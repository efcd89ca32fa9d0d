"""Per-image, per-class inputs flattened once into arrays with image and class columns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rdet_eval._checks import check_labels

__all__ = ["annotation_array", "flatten_annotations", "flatten_results"]


def flatten_results(
    det_results: Sequence[Sequence[np.ndarray]], width: int, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``det_results[image][class]`` (k, width) arrays -> rows, image index, class index.

    Rows keep image-major, then class, then input order, so selecting one class gives its
    detections in image order, as a per-class result file lists them.

    Raises:
        ValueError: An array has the wrong shape, a non-finite value, or an image has a
            different number of classes; the message names ``what[image][class]``.
    """
    if not det_results:
        return np.zeros((0, width)), np.zeros(0, np.int64), np.zeros(0, np.int64)
    num_classes = len(det_results[0])
    arrays, counts = [], []
    for i, per_image in enumerate(det_results):
        if len(per_image) != num_classes:
            raise ValueError(f"{what}[{i}] has {len(per_image)} classes, {what}[0] has {num_classes}")
        for c, dets in enumerate(per_image):
            d = np.asarray(dets, np.float64)
            if d.size == 0:
                d = d.reshape(0, width)
            if d.ndim != 2 or d.shape[1] != width:
                raise ValueError(f"{what}[{i}][{c}] must have shape (k, {width}), got {d.shape}")
            arrays.append(d)
            counts.append(d.shape[0])
    rows = np.vstack(arrays)
    bad = ~np.isfinite(rows).all(1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        cell = int(np.searchsorted(np.cumsum(counts), k, side="right"))
        raise ValueError(
            f"{what}[{cell // num_classes}][{cell % num_classes}] has a non-finite row: {rows[k].tolist()}"
        )
    cells = np.arange(len(counts))
    image = np.repeat(cells // num_classes, counts)
    label = np.repeat(cells % num_classes, counts)
    return rows, image, label


def flatten_annotations(
    annotations: Sequence[dict],
    geom_key: str,
    width: int,
    ignore: tuple[str, str] | None = None,
    flag_key: str | None = None,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-image annotation dicts -> geometry rows, image index, label, ignored flag.

    Args:
        geom_key: The geometry array's key (``'bboxes'``, ``'polygons'``).
        width: Its number of columns.
        ignore: Keys of separately listed ignored objects (``('bboxes_ignore',
            'labels_ignore')``), appended after each image's objects.
        flag_key: A per-object boolean key marking ignored objects (``'difficult'``).
        num_classes: If given, every label must lie in ``[0, num_classes)``.

    Raises:
        ValueError: Ignored geometry without its labels (``bboxes_ignore`` but no
            ``labels_ignore``), named ``annotations[i]``; a label outside ``[0, num_classes)``, named
            ``annotations[i]['labels']`` (or the ignore key) with the value and the count; a
            geometry array not of shape ``(n, width)`` or with a non-finite row, named
            ``annotations[i][geom_key]`` (or the ignore key) with the row.
    """
    geoms, images, labels, ignored = [], [], [], []
    for i, ann in enumerate(annotations):
        for key in (geom_key, "labels"):
            if key not in ann:
                raise KeyError(f"annotations[{i}] has no {key!r}")
        g = annotation_array(ann[geom_key], i, geom_key, width)
        lab = np.asarray(ann["labels"]).reshape(-1)
        if lab.shape[0] != g.shape[0]:
            raise ValueError(f"annotations[{i}]: {g.shape[0]} {geom_key} but {lab.shape[0]} labels")
        flags = (
            np.asarray(ann[flag_key], bool).reshape(-1)
            if flag_key and flag_key in ann
            else np.zeros(g.shape[0], bool)
        )
        geoms.append(g)
        labels.append(lab)
        ignored.append(flags)
        count = g.shape[0]
        unlabelled = ignore is not None and ann.get(ignore[1]) is None and ann.get(ignore[0]) is not None
        if unlabelled and annotation_array(ann[ignore[0]], i, ignore[0], width).shape[0]:
            # MMRotate skips them: the ignored objects' detections would count as false positives
            raise ValueError(
                f"annotations[{i}] has {ignore[0]!r} but no {ignore[1]!r}: give each ignored "
                "object's label (the ignored objects of a class are matched with its detections)"
            )
        if ignore is not None and ann.get(ignore[1]) is not None:
            gi = annotation_array(ann.get(ignore[0], ()), i, ignore[0], width)
            li = np.asarray(ann[ignore[1]]).reshape(-1)
            if li.shape[0] != gi.shape[0]:
                raise ValueError(f"annotations[{i}]: {gi.shape[0]} {ignore[0]} but {li.shape[0]} {ignore[1]}")
            geoms.append(gi)
            labels.append(li)
            ignored.append(np.ones(gi.shape[0], bool))
            count += gi.shape[0]
        images.append(np.full(count, i))
    if not geoms:
        return np.zeros((0, width)), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    flat_images = np.concatenate(images)
    flat_labels = np.concatenate(labels)
    flat_ignored = np.concatenate(ignored)
    _check_whole(flat_labels, flat_images, flat_ignored, ignore)
    if num_classes is not None:
        check_annotation_labels(flat_labels, flat_images, flat_ignored, num_classes, ignore)
    return np.vstack(geoms), flat_images, flat_labels.astype(np.int64), flat_ignored


def annotation_array(value: object, image: int, key: str, width: int) -> np.ndarray:
    """``annotations[image][key]`` as a float64 ``(n, width)`` array (an empty one of any shape
    is ``(0, width)``).

    Raises:
        ValueError: Another shape (``annotations[i]['bboxes'] must have shape (n, 5), got
            (1, 4)``) or a non-finite row, named with its index and values.
    """
    try:
        g = np.asarray(value, np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"annotations[{image}][{key!r}] must be an (n, {width}) array of numbers: {e}"
        ) from None
    if g.size == 0:
        return g.reshape(0, width)
    if g.ndim != 2 or g.shape[1] != width:
        raise ValueError(f"annotations[{image}][{key!r}] must have shape (n, {width}), got {g.shape}")
    bad = np.flatnonzero(~np.isfinite(g).all(1))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"annotations[{image}][{key!r}] has a non-finite row {k}: {g[k].tolist()}")
    return g


def check_annotation_labels(
    labels: np.ndarray,
    images: np.ndarray,
    ignored: np.ndarray,
    num_classes: int,
    ignore: tuple[str, str] | None = None,
) -> None:
    """Flattened annotation labels must be whole numbers in ``[0, num_classes)``.

    Raises:
        ValueError: Naming ``annotations[i]['labels']`` (or the ignore key: ``ignored``
            marks those rows when ``ignore`` is given), the label and ``num_classes``.
    """

    check_labels(labels, num_classes, lambda k: _label_name(images, ignored, ignore, k))


def _label_name(images: np.ndarray, ignored: np.ndarray, ignore: tuple[str, str] | None, k: int) -> str:
    key = ignore[1] if ignore is not None and ignored[k] else "labels"
    return f"annotations[{images[k]}][{key!r}]"


def _check_whole(
    labels: np.ndarray, images: np.ndarray, ignored: np.ndarray, ignore: tuple[str, str] | None
) -> None:
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        try:
            frac = np.flatnonzero(np.mod(labels, 1) != 0)
        except TypeError:
            frac = np.zeros(1, np.int64)
        if frac.size:
            k = int(frac[0])
            raise ValueError(
                f"{_label_name(images, ignored, ignore, k)} has label {labels[k].item()!r}, which is not a class index"
            )
