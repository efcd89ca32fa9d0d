"""The dataset base class: MMDetection 2.x's ``CustomDataset`` API, plus a load summary.

A dataset holds ``data_infos``: one dict per image, ``{'filename': str (relative to
``img_prefix``), 'width'?, 'height'?, 'ann': {...}}``, where ``ann`` is what
:meth:`RotatedDataset.get_ann_info` returns:

- ``bboxes`` (n, 5) float32 ``(cx, cy, w, h, theta)``: pixels, radians, clockwise, in the
  dataset's angle ``version``; ``labels`` (n,) int64, 0-based indices into ``CLASSES``;
- ``polygons`` (n, 8) float32, the annotated corners; ``difficult`` (n,) int64;
- ``bboxes_ignore`` (m, 5), ``labels_ignore`` (m,), ``polygons_ignore`` (m, 8).

Checked at construction (``on_error='raise'``: an error naming the file and line or object;
``'warn'``: a warning, and the object, line or image is dropped and counted in ``summary()``):
corners more than an image size outside their image or objects wholly outside it, label files whose image is missing (when
the pipeline loads images), ``classes`` entries that no label file names (a warning with the
closest names), and a dataset left without a sample (:class:`EmptyDatasetError`, always).
"""

from __future__ import annotations

import logging
import numbers
import os
import os.path as osp
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from rdet_data.datasets.checks import (
    OUTSIDE_MARGIN,
    EmptyDatasetError,
    closest_names,
    disjoint_from_image,
    missing_files,
    outside_image,
)
from rdet_data.formats.dota import DotaLabelError
from rdet_data.formats.imagesize import image_size
from rdet_data.formats.text import read_text_lines
from rdet_data.transforms.compose import Compose

__all__ = ["DatasetSummary", "EmptyDatasetError", "RotatedDataset", "empty_ann", "poly2obb"]

logger = logging.getLogger("rdet_data")

DROP_REASONS = {
    "degenerate": "a side < 2 px after poly2obb (MMRotate drops them)",
    "difficulty": "difficult > the `difficulty` threshold",
    "other_class": "class not in `classes`",
    "malformed_line": "skipped with on_error='warn'",
    "out_of_image": "a corner more than an image size outside the image, or the whole object outside it "
    "(on_error='warn')",
}


def poly2obb(polygons: np.ndarray, version: str) -> np.ndarray:
    """(n, 8) corners -> (n, 5) float32 boxes by MMRotate's ``poly2obb_np``; NaN rows where it gave None."""
    import rbox_geometry as rg

    with np.errstate(invalid="ignore", divide="ignore"):  # zero-length edges of degenerate quads
        return np.asarray(rg.poly2obb_np(np.asarray(polygons, np.float32), version), np.float32)


def empty_ann(with_heads: bool = False) -> dict[str, np.ndarray]:
    """An ``ann`` dict without objects (all arrays of length 0)."""
    ann = {
        "bboxes": np.zeros((0, 5), np.float32),
        "labels": np.zeros((0,), np.int64),
        "polygons": np.zeros((0, 8), np.float32),
        "difficult": np.zeros((0,), np.int64),
        "bboxes_ignore": np.zeros((0, 5), np.float32),
        "labels_ignore": np.zeros((0,), np.int64),
        "polygons_ignore": np.zeros((0, 8), np.float32),
    }
    if with_heads:
        ann["headers"] = np.zeros((0, 2), np.int64)
        ann["headers_ignore"] = np.zeros((0, 2), np.int64)
    return ann


class DatasetSummary(dict):
    """What a dataset loaded: a dict whose ``str()`` is a table.

    Keys: ``dataset``, ``images``, ``images_without_objects``, ``images_filtered`` (dropped by
    ``filter_empty_gt``), ``images_missing`` (label files without their image, dropped with
    ``on_error='warn'``), ``images_bad_size`` (images whose size is not the one their label file
    states, dropped with ``on_error='warn'``), ``objects``, ``per_class`` ({class: n}), ``difficult`` (kept objects
    with a difficult flag > 0), ``ignored`` (objects in ``*_ignore``), ``dropped`` ({reason: n},
    reasons in ``DROP_REASONS``), ``unseen_classes`` ({class of a ``classes`` override that no
    label file names: [closest names in the label files]}).
    """

    def __str__(self) -> str:
        rows = [("images", self["images"]), ("  without objects", self["images_without_objects"])]
        rows.append(("  filtered (no objects)", self["images_filtered"]))
        rows.append(("  missing (dropped)", self.get("images_missing", 0)))
        rows.append(("  size not the label's (dropped)", self.get("images_bad_size", 0)))
        rows += [
            ("objects", self["objects"]),
            ("  difficult", self["difficult"]),
            ("  ignored", self["ignored"]),
        ]
        rows += [(f"  {name}", n) for name, n in self["per_class"].items()]
        rows += [(f"dropped: {reason}", n) for reason, n in self["dropped"].items()]
        width = max(len(r[0]) for r in rows)
        lines = [f"{self['dataset']}", "-" * (width + 10)]
        lines += [f"{name:<{width}}  {n:>8}" for name, n in rows]
        for name, close in self.get("unseen_classes", {}).items():
            lines.append(f"class {name!r} is in no label file (closest: {', '.join(close) or 'none'})")
        return "\n".join(lines)


class RotatedDataset(Dataset):
    """Base of every rotated-box dataset (MMDetection 2.x ``CustomDataset``'s arguments).

    Args:
        ann_file: What ``load_annotations`` reads (a folder or a list file, per dataset).
        pipeline: Transform configs (or callables) run by ``__getitem__``.
        classes: Override ``CLASSES``: a sequence of names, or a file with one name a line.
        data_root: Joined in front of relative ``ann_file``, ``img_prefix``, ``seg_prefix``.
        img_prefix: Folder of the images; ``data_infos[i]['filename']`` is relative to it.
        test_mode: ``__getitem__`` runs the pipeline without annotations; no filtering.
        filter_empty_gt: Leave out images without objects (training only).
        img_suffix: The images' extension (``'png'``): a label file's image is ``<stem>.<img_suffix>``.
            None (default): whichever image file has the stem (``.png``, ``.jpg``, ``.bmp``,
            ``.tif`` ...); a stem with two such files (``P0003.png`` and ``P0003.jpg``) is then a
            ``ValueError`` naming both when its sample is loaded.
        on_error: ``'raise'`` (default): a malformed annotation (a bad line, an unknown class,
            a corner far outside the image, a missing image) is an error naming file and line.
            ``'warn'``: it is skipped with a warning and counted in ``summary()``.
        scorer: For :meth:`evaluate`: a function with ``rdet_eval.eval_rbbox_map``'s
            signature (rdet-data does not import rdet-eval).
    """

    CLASSES: tuple[str, ...] | None = None
    #: the extension chosen when a stem has images of several (None: that is an error)
    PREFERRED_IMAGE_SUFFIX: str | None = None
    PALETTE = None
    scorer: Callable[..., Any] | None = None
    outside_margin: float = OUTSIDE_MARGIN  # corners may lie this many image sizes outside
    case_insensitive_classes: bool = False  # class names match whatever their case (DIOR)
    empty_hint: str = ""  # what "no label files" means for this format (set by load_annotations)

    def __init__(
        self,
        ann_file: str,
        pipeline: Sequence[Any] | None = None,
        classes: Sequence[str] | str | None = None,
        data_root: str | None = None,
        img_prefix: str = "",
        seg_prefix: str | None = None,
        proposal_file: str | None = None,
        test_mode: bool = False,
        filter_empty_gt: bool = True,
        file_client_args: dict | None = None,
        on_error: str = "raise",
        scorer: Callable[..., Any] | None = None,
        img_suffix: str | None = None,
    ) -> None:
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}")
        if img_suffix is not None:
            ok = isinstance(img_suffix, str) and img_suffix.lstrip(".") and not set(img_suffix) & set("/\\*?")
            if not ok:
                raise ValueError(
                    f"{type(self).__name__}: img_suffix must be an image extension such as 'png' (or None: "
                    f"whichever image has the stem), got {img_suffix!r}"
                )
            img_suffix = img_suffix.lstrip(".")
        self.img_suffix = img_suffix
        self.ann_file = ann_file
        self.data_root = data_root
        self.img_prefix = img_prefix
        self.seg_prefix = seg_prefix
        self.proposal_file = proposal_file
        self.test_mode = test_mode
        self.filter_empty_gt = filter_empty_gt
        self.file_client_args = file_client_args
        self.on_error = on_error
        if scorer is not None:
            self.scorer = scorer
        self.custom_classes = classes is not None
        self.CLASSES = self.CLASSES if classes is None else self.get_classes(classes)
        if data_root is not None:
            if not osp.isabs(self.ann_file):
                self.ann_file = osp.join(data_root, self.ann_file)
            if not (self.img_prefix is None or osp.isabs(self.img_prefix)):
                self.img_prefix = osp.join(data_root, self.img_prefix)
            if not (self.seg_prefix is None or osp.isabs(self.seg_prefix)):
                self.seg_prefix = osp.join(data_root, self.seg_prefix)
        self.dropped: Counter[str] = Counter()
        self.images_filtered = 0
        self.images_missing = 0
        self.images_bad_size = 0  # label files whose image size is not their image's (on_error='warn')
        self.label_names: Counter[str] = Counter()  # class names as the label files write them
        self.label_files: int | None = None  # label files (or listed ids) read; set by load_annotations
        self.pipeline = Compose(pipeline or [])
        self.data_infos = self.load_annotations(self.ann_file)
        loaded = len(self.data_infos)
        self.unseen_classes = self._check_classes()
        self.proposals = None
        if not test_mode:
            valid = self._filter_imgs()
            self.images_filtered = len(self.data_infos) - len(valid)
            self.data_infos = [self.data_infos[i] for i in valid]
        self._check_images()
        if not self.data_infos:
            raise EmptyDatasetError(self._empty_message(loaded))
        if hasattr(self, "img_ids"):  # kept in step with data_infos (format_results zips them)
            self.img_ids = [osp.splitext(osp.basename(info["filename"]))[0] for info in self.data_infos]
        self._set_group_flag()

    # -- loading ------------------------------------------------------------------------------

    def load_annotations(self, ann_file: str) -> list[dict[str, Any]]:
        """Read ``ann_file`` into ``data_infos`` (one dict per image)."""
        raise NotImplementedError

    @classmethod
    def get_classes(cls, classes: Sequence[str] | str | None = None) -> tuple[str, ...] | None:
        """``CLASSES``, or the override: names, or a file of names (one a line).

        Raises:
            TypeError: ``classes`` is neither a list / tuple of strings nor a file path.
            FileNotFoundError: ``classes`` is a string that is not a file (a single class name
                must be given as a list: ``["plane"]``).
            ValueError: No name, or a name given twice (naming the file when read from one).
        """
        if classes is None:
            return cls.CLASSES
        name = cls.__name__
        source = ""
        if isinstance(classes, (str, os.PathLike)):
            if not osp.isfile(classes):
                raise FileNotFoundError(
                    f"{name}: classes={str(classes)!r} is not a file of class names (one a line); "
                    f"a single class name must be given as a list: classes=[{str(classes)!r}]"
                )
            source = f" in {classes}"
            names: tuple[Any, ...] = tuple(
                line.strip() for _, line in read_text_lines(classes)[0] if line.strip()
            )
        elif isinstance(classes, (tuple, list)):
            names = tuple(classes)
            bad = [c for c in names if not isinstance(c, str)]
            if bad:
                raise TypeError(
                    f"classes must be class names (strings), got {bad[0]!r} "
                    f"({type(bad[0]).__name__}) in classes={list(names)!r}"
                )
        else:
            raise TypeError(
                f"classes must be a list of names or the path of a file of names, "
                f"got {type(classes).__name__} {classes!r}"
            )
        if not names:
            raise ValueError(f"{name}: classes{source} lists no class")
        twice = [c for c, n in Counter(names).items() if n > 1]
        if twice:
            raise ValueError(
                f"{name}: classes{source} names {twice[0]!r} twice (each name must be one class; "
                f"labels of the second would never be used): {list(names)}"
            )
        return names

    def _bad_annotation(self, message: str, error: type[Exception] = ValueError) -> None:
        """Raise ``error``, or (on_error='warn') warn about a skipped item (the caller counts it)."""
        if self.on_error == "raise":
            raise error(message)
        warnings.warn(message, stacklevel=3)

    def _inside(
        self,
        path: str,
        where: Sequence[str],
        polygons: np.ndarray,
        width: float,
        height: float,
        unit: str = "px",
    ) -> np.ndarray:
        """(n,) bool: objects whose corners lie within ``outside_margin`` image sizes of the image
        and that overlap it (an object wholly outside belongs to another image or patch).

        Those outside are a :class:`DotaLabelError` naming ``path``, the first one's place
        (``where[i]``: ``'12'`` for line 12, ``' object 3'``), its corner and the image size, or
        (``on_error='warn'``) one warning per file, dropped and counted as ``out_of_image``.
        ``unit='normalised'``: ``polygons`` are YOLO's 0..1 values and ``width, height`` 1.
        """
        far = outside_image(polygons, width, height, self.outside_margin)
        out = far | disjoint_from_image(polygons, width, height)
        if not out.any():
            return ~out
        i = int(np.flatnonzero(out)[0])
        p = np.asarray(polygons[i], np.float64)
        m = self.outside_margin
        if unit == "px":
            allowed = f"x {-m * width:g}..{(1 + m) * width:g}, y {-m * height:g}..{(1 + m) * height:g}"
            size = f"the {width:g} x {height:g} px image (allowed: {allowed})"
        else:
            allowed = f"{-m:g}..{1 + m:g}; pixels written as-is?"
            size = f"the image: YOLO-OBB corners are x / width, y / height, 0..1 (allowed: {allowed})"
        if far[i]:
            what = f"lie far outside {size}"
        elif unit == "px":
            what = f"lie wholly outside the {width:g} x {height:g} px image (x 0..{width:g}, y 0..{height:g})"
        else:
            what = "lie wholly outside the image (YOLO-OBB corners are x / width, y / height, 0..1)"
        message = (
            f"{path}:{where[i]}: corners {' '.join(f'{v:g}' for v in p)} {what}; "
            f"{int(out.sum())} such object(s) in this file"
        )
        self._bad_annotation(message, DotaLabelError)
        self.dropped["out_of_image"] += int(out.sum())
        return ~out

    def _check_classes(self) -> dict[str, list[str]]:
        """``{name: closest names}`` for ``classes`` entries that no label file names (and a warning)."""
        if not self.custom_classes or not self.label_names or not self.CLASSES:
            return {}
        fold = str.lower if self.case_insensitive_classes else str
        seen = {fold(n) for n in self.label_names}
        unseen = {c: closest_names(c, self.label_names) for c in self.CLASSES if fold(c) not in seen}
        if unseen:
            common = ", ".join(f"{n} ({k})" for n, k in self.label_names.most_common(10))
            hints = "; ".join(
                f"{c!r}: did you mean {' or '.join(map(repr, close))}?" if close else f"{c!r}: nothing close"
                for c, close in unseen.items()
            )
            warnings.warn(
                f"{type(self).__name__} ({self.ann_file}): {len(unseen)} of the {len(self.CLASSES)} "
                f"`classes` appear in no label file, so they get no objects: {hints} "
                f"(the label files name: {common})",
                stacklevel=3,
            )
        return unseen

    def _loads_images(self) -> bool:
        """Whether the pipeline reads image files (a ``LoadImageFromFile``, not the webcam one)."""
        from rdet_data.transforms.loading import LoadImageFromFile, LoadImageFromWebcam

        return any(
            isinstance(t, LoadImageFromFile) and not isinstance(t, LoadImageFromWebcam)
            for t in self.pipeline.transforms
        )

    def _check_images(self) -> None:
        """Every kept sample's image exists, when the pipeline loads images (one folder listing).

        Raises:
            FileNotFoundError: ``img_prefix`` is not a folder, or images are missing (naming the
                first five and how many); with ``on_error='warn'`` those samples are dropped.
        """
        if not self.data_infos or not self._loads_images():
            return
        name = type(self).__name__
        prefix = self.img_prefix or ""
        if prefix and not osp.isdir(prefix):
            raise FileNotFoundError(
                f"{name}: img_prefix {prefix!r} is not a folder (ann_file: {self.ann_file})"
            )
        missing = missing_files(prefix, [info["filename"] for info in self.data_infos])
        if not missing:
            return
        first = ", ".join(self.data_infos[i]["filename"] for i in missing[:5])
        where = (
            f"img_prefix {prefix!r}"
            if prefix
            else f"the working directory {os.getcwd()!r} (img_prefix is not set)"
        )
        message = (
            f"{name}: {len(missing)} of {len(self.data_infos)} images are not in {where}: {first}"
            f"{' ...' if len(missing) > 5 else ''} (their labels: {self.ann_file})"
        )
        hint = "; on_error='warn' drops them" if self.on_error == "raise" else ": dropped"
        self._bad_annotation(message + hint, FileNotFoundError)
        drop = set(missing)
        self.data_infos = [info for i, info in enumerate(self.data_infos) if i not in drop]
        self.images_missing += len(missing)

    def _empty_message(self, loaded: int) -> str:
        """Why no sample is left: nothing found, everything filtered (by what), or images missing."""
        name = f"{type(self).__name__}: no {'test' if self.test_mode else 'training'} samples from {self.ann_file}"
        if loaded == 0:
            if self.label_files == 0:
                return f"{name}: it holds no label files{self.empty_hint}"
            return f"{name}: it lists no images"
        if self.images_missing == loaded - self.images_filtered and self.images_missing:
            return f"{name}: all {self.images_missing} images are missing from img_prefix {self.img_prefix!r}"
        dropped = {r: n for r, n in self.dropped.items() if n}
        n_dropped = sum(dropped.values())
        why = (
            f"{n_dropped} objects were dropped: "
            + ", ".join(f"{n} {r} ({DROP_REASONS.get(r, r)})" for r, n in dropped.items())
            if dropped
            else "the label files hold no objects"
        )
        text = (
            f"{name}: all {loaded} images were left out by filter_empty_gt=True, as none has an object "
            f"left; {why}"
        )
        if dropped.get("other_class") and self.CLASSES:
            common = ", ".join(f"{n} ({k})" for n, k in self.label_names.most_common(10))
            text += f"; classes: {', '.join(self.CLASSES)}; the label files name: {common or '-'}"
        if self.label_files == 0:
            text += f"; no label files were found{self.empty_hint}"
        return text

    def _count_skipped_lines(self, messages: Sequence[str]) -> None:
        for message in messages:
            warnings.warn(message, stacklevel=3)
        self.dropped["malformed_line"] += len(messages)

    def _image_names(self) -> ImageNames:
        """``{stem: file name}`` of the images in ``img_prefix`` (one directory listing).

        With ``img_suffix`` only ``<stem>.<img_suffix>`` files count. Without it, any image
        extension; a stem with several image files takes the dataset's
        ``PREFERRED_IMAGE_SUFFIX`` one if there is one (DOTA: ``png``, the only one MMRotate
        reads), else it is kept ambiguous: looking it up raises a ``ValueError`` naming them (the
        listing order must not choose a sample's image).
        """
        found: dict[str, list[str]] = {}
        if self.img_prefix and osp.isdir(self.img_prefix):
            for name in sorted(os.listdir(self.img_prefix)):
                stem, ext = osp.splitext(name)
                if self.img_suffix is not None:
                    if ext[1:] == self.img_suffix:
                        found.setdefault(stem, []).append(name)
                elif ext.lower() in IMAGE_EXTENSIONS:
                    found.setdefault(stem, []).append(name)
        preferred = self.PREFERRED_IMAGE_SUFFIX
        if preferred and self.img_suffix is None:  # MMRotate's DOTADataset reads <stem>.png
            for stem, names in found.items():
                if len(names) > 1 and f"{stem}.{preferred}" in names:
                    found[stem] = [f"{stem}.{preferred}"]
        return ImageNames(found, f"{type(self).__name__}: img_prefix {self.img_prefix!r}")

    def _default_image(self, stem: str, suffix: str) -> str:
        """The file name of ``stem``'s image when it is not in ``img_prefix``: ``img_suffix``'s or ``suffix``."""
        return f"{stem}.{self.img_suffix or suffix}"

    def _size_matches(self, label: str, image: str | None, width: int, height: int) -> bool:
        """Whether the size a label file states is that of its image (read from the header).

        True when the image is not there (no image, nothing to compare) or the label states no
        size (0). A different size is a ``ValueError`` naming the label file and both sizes
        (``on_error='warn'``: a warning, False, counted in ``images_bad_size``): the boxes are in
        the label's pixels and would land elsewhere in the resized image.
        """
        if image is None or not (width > 0 and height > 0) or not osp.isfile(image):
            return True
        real = image_size(image)
        if real == (int(width), int(height)):
            return True
        hint = (
            " (width and height swapped: an EXIF orientation the pipeline applies?)"
            if real == (int(height), int(width))
            else ""
        )
        self._bad_annotation(
            f"{label}: the image size it states, {width:g} x {height:g}, is not that of its image "
            f"{image}, {real[0]} x {real[1]}{hint}: its boxes would not fit the image "
            "(a resized image or a wrong label file?)",
            ValueError,
        )
        self.images_bad_size += 1
        return False

    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        """Indices of the images kept for training (those with objects, if ``filter_empty_gt``)."""
        return [
            i
            for i, info in enumerate(self.data_infos)
            if not self.filter_empty_gt or info["ann"]["labels"].size > 0
        ]

    def _set_group_flag(self) -> None:
        """``flag[i] = 1`` where width / height > 1 (aspect-ratio groups); 0 when sizes are unknown."""
        self.flag = np.zeros(len(self), dtype=np.uint8)
        for i, info in enumerate(self.data_infos):
            w, h = info.get("width"), info.get("height")
            if w and h and w / h > 1:
                self.flag[i] = 1

    # -- MMRotate's dataset API ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.data_infos)

    def get_ann_info(self, idx: int) -> dict[str, np.ndarray]:
        """The ``ann`` dict of image ``idx`` (see the module docstring for keys and shapes)."""
        return self.data_infos[idx]["ann"]

    def get_cat_ids(self, idx: int) -> list[int]:
        """The class indices of image ``idx``'s objects."""
        return self.data_infos[idx]["ann"]["labels"].astype(np.int64).tolist()

    def pre_pipeline(self, results: dict[str, Any]) -> None:
        """Add the prefixes and empty field lists the transforms expect."""
        results["img_prefix"] = self.img_prefix
        results["seg_prefix"] = self.seg_prefix
        results["proposal_file"] = self.proposal_file
        results["bbox_fields"] = []
        results["mask_fields"] = []
        results["seg_fields"] = []

    def prepare_train_img(self, idx: int) -> Any:
        """The pipeline's output for image ``idx`` with its annotations (None if a transform gave up)."""
        results = {"img_info": self.data_infos[idx], "ann_info": self.get_ann_info(idx)}
        self.pre_pipeline(results)
        return self.pipeline(results)

    def prepare_test_img(self, idx: int) -> Any:
        """The pipeline's output for image ``idx`` without annotations."""
        results = {"img_info": self.data_infos[idx]}
        self.pre_pipeline(results)
        return self.pipeline(results)

    def _rand_another(self, idx: int) -> int:
        pool = np.where(self.flag == self.flag[idx])[0]
        return int(np.random.choice(pool))

    def __getitem__(self, idx: int) -> Any:
        if self.test_mode:
            return self.prepare_test_img(idx)
        for _ in range(1000):
            data = self.prepare_train_img(idx)
            if data is not None:
                return data
            idx = self._rand_another(idx)  # a transform dropped every object: another image
        raise RuntimeError(f"{type(self).__name__}: the pipeline returned None for 1000 images in a row")

    def evaluate(
        self,
        results: list,
        metric: str | Sequence[str] = "mAP",
        logger: Any = None,
        proposal_nums: Sequence[int] = (100, 300, 1000),
        iou_thr: float | Sequence[float] = 0.5,
        scale_ranges: Sequence[tuple[float, float]] | None = None,
        use_07_metric: bool = True,
        nproc: int = 4,
        scorer: Callable[..., Any] | None = None,
    ) -> dict[str, float]:
        """MMRotate's ``evaluate``: mAP of ``results``, per image either MMRotate's per-class (k, 6)
        arrays or a ``Detections`` (boxes (k, 5), scores, labels), passed to the scorer as they are.

        The metric itself lives in rdet-eval: pass ``scorer=rdet_eval.eval_rbbox_map`` (or set
        it once on the class / at construction). With several ``iou_thr`` the result has
        ``APxx`` per threshold and their mean as ``mAP`` (MMRotate's HRSC behaviour).

        Raises:
            ValueError: An ``iou_thr`` that is not a number in (0, 1] or a non-empty sequence of
                them (a string such as ``--eval-options iou_thr=abc``); ``nproc`` not an
                integer >= 1; ``scale_ranges`` neither None nor a non-empty list of ``(min,
                max)`` number pairs with ``0 <= min < max``.
            TypeError: ``use_07_metric`` is not a bool: a string such as ``'False'`` or a
                mistyped ``'Flase'`` is truthy and would silently select the VOC07 metric.
        """
        thrs = _iou_thrs(iou_thr)
        # checked here, whatever the scorer (a third-party one may not check them)
        if not isinstance(use_07_metric, (bool, np.bool_)):
            raise TypeError(
                f"use_07_metric must be True or False, got {type(use_07_metric).__name__} {use_07_metric!r}"
            )
        if isinstance(nproc, (bool, np.bool_)) or not isinstance(nproc, numbers.Integral) or nproc < 1:
            raise ValueError(f"nproc must be an integer >= 1, got {type(nproc).__name__} {nproc!r}")
        if scale_ranges is not None:
            pairs = list(scale_ranges) if isinstance(scale_ranges, (Sequence, np.ndarray)) else None
            if isinstance(scale_ranges, (str, bytes)) or not pairs:
                raise ValueError(
                    f"scale_ranges must be None or a non-empty list of (min, max) pairs, got {scale_ranges!r}"
                )
            for k, rg in enumerate(pairs):
                ok = (
                    isinstance(rg, (Sequence, np.ndarray))
                    and not isinstance(rg, (str, bytes))
                    and len(rg) == 2
                )
                ok = ok and all(
                    isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in rg
                )
                if not (ok and 0 <= rg[0] < rg[1] and np.isfinite(rg[0])):  # NaN fails too
                    raise ValueError(
                        f"scale_ranges[{k}] must be a (min, max) pair of numbers, 0 <= min < max, got {rg!r}"
                    )
        if not isinstance(metric, str):
            if len(metric) != 1:
                raise KeyError(f"one metric at a time, got {metric}")
            metric = metric[0]
        if metric != "mAP":
            raise KeyError(f"metric {metric} is not supported")
        scorer = scorer or self.scorer
        if scorer is None:
            raise RuntimeError(
                "rdet_data does not compute metrics: pass scorer=rdet_eval.eval_rbbox_map "
                f"(or set {type(self).__name__}.scorer)"
            )
        if len(results) != len(self):
            raise ValueError(f"{len(results)} results for {len(self)} images")
        annotations = [self.get_ann_info(i) for i in range(len(self))]
        out: dict[str, float] = {}
        maps = []
        for thr in thrs:
            mean_ap, _ = scorer(
                results,
                annotations,
                scale_ranges=scale_ranges,
                iou_thr=float(thr),
                use_07_metric=use_07_metric,
                dataset=self.CLASSES,
                logger=logger,
                nproc=nproc,
            )
            maps.append(mean_ap)
            if len(thrs) > 1:
                out[f"AP{round(thr * 100):02d}"] = round(float(mean_ap), 3)
        return {"mAP": float(np.mean(maps)), **out}

    # -- the load summary ---------------------------------------------------------------------

    def summary(self) -> DatasetSummary:
        """Images, objects per class, difficult, ignored and dropped objects (``print()`` it)."""
        per_class: Counter[str] = Counter()
        n_objects = difficult = ignored = empty = 0
        names = self.CLASSES or ()
        for info in self.data_infos:
            ann = info["ann"]
            labels = ann["labels"]
            n_objects += len(labels)
            empty += len(labels) == 0
            difficult += int((ann.get("difficult", np.zeros(0)) > 0).sum())
            ignored += len(ann.get("labels_ignore", ()))
            for lab, n in zip(*np.unique(labels, return_counts=True)):
                per_class[names[lab] if lab < len(names) else str(lab)] += int(n)
        return DatasetSummary(
            dataset=f"{type(self).__name__} ({self.ann_file})",
            images=len(self),
            images_without_objects=empty,
            images_filtered=self.images_filtered,
            images_missing=self.images_missing,
            images_bad_size=self.images_bad_size,
            objects=n_objects,
            per_class={c: per_class.get(c, 0) for c in names},
            difficult=difficult,
            ignored=ignored,
            dropped={reason: self.dropped.get(reason, 0) for reason in DROP_REASONS},
            unseen_classes=dict(self.unseen_classes),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(images={len(self)}, classes={len(self.CLASSES or ())}, test_mode={self.test_mode})"


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class ImageNames(dict):
    """``{stem: image file name}``; a stem with several files raises a ``ValueError`` naming them
    when it is looked up (``images[stem]``, ``images.get(stem)``); ``stem in images`` is True."""

    def __init__(self, found: dict[str, list[str]], where: str):
        super().__init__({stem: names[0] for stem, names in found.items()})
        self.ambiguous = {stem: names for stem, names in found.items() if len(names) > 1}
        self.where = where

    def _check(self, stem: Any) -> None:
        names = self.ambiguous.get(stem)
        if names:
            raise ValueError(
                f"{self.where} holds {len(names)} images for {stem!r}: {', '.join(names)}; which one the "
                f"labels belong to is ambiguous: remove the others, or name the extension with "
                f"img_suffix={osp.splitext(names[0])[1][1:]!r} in the dataset config"
            )

    def __getitem__(self, stem: Any) -> str:
        self._check(stem)
        return super().__getitem__(stem)

    def get(self, stem: Any, default: Any = None) -> Any:
        self._check(stem)
        return super().get(stem, default)


def _iou_thrs(iou_thr: Any) -> list[float]:
    """``evaluate``'s ``iou_thr`` (a number or a sequence of them) as a list of floats.

    Raises:
        ValueError: A string, an empty sequence, or a threshold that is not a number in (0, 1].
    """
    if isinstance(iou_thr, (str, bytes)) or not isinstance(iou_thr, (numbers.Real, Sequence, np.ndarray)):
        raise ValueError(f"iou_thr {iou_thr!r}: must be a number in (0, 1] or a list of them")
    thrs = [iou_thr] if isinstance(iou_thr, numbers.Real) else list(iou_thr)
    if not thrs:
        raise ValueError("iou_thr []: give at least one threshold in (0, 1]")
    for thr in thrs:
        if isinstance(thr, bool) or not isinstance(thr, numbers.Real) or not 0 < thr <= 1:
            raise ValueError(f"iou_thr {iou_thr!r}: {thr!r} is not a number in (0, 1]")
    return [float(t) for t in thrs]
