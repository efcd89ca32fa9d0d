"""DOTA v1.0 / v1.5 / v2.0 and SAR ship datasets: folders of DOTA ``labelTxt`` files."""

from __future__ import annotations

import glob
import math
import numbers
import os.path as osp
from typing import Any

import numpy as np

import rbox_geometry as rg
from rdet_data.datasets.base import IMAGE_EXTENSIONS, RotatedDataset, empty_ann, poly2obb
from rdet_data.formats.dota import DotaLabelError, misspelled_class_names, read_dota_labels
from rdet_data.formats.imagesize import image_size
from rdet_data.registry import DATASETS

__all__ = ["DOTADataset", "DOTAv2Dataset", "DOTAv15Dataset", "SARDataset"]

DOTA_V1_CLASSES = (
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle",
    "large-vehicle", "ship", "tennis-court", "basketball-court", "storage-tank",
    "soccer-ball-field", "roundabout", "harbor", "swimming-pool", "helicopter",
)  # fmt: skip


@DATASETS.register_module()
class DOTADataset(RotatedDataset):
    """DOTA (MMRotate's ``DOTADataset``).

    Args:
        ann_file: A folder of ``<image id>.txt`` DOTA label files; at test time the image
            folder itself (no ``.txt`` inside): every image becomes a sample without objects.
        pipeline: Transform configs.
        version: Angle version of ``bboxes``: ``'oc'``, ``'le135'`` or ``'le90'``.
        difficulty: Objects whose difficult flag is **greater** than this are dropped (not
            ignored), as MMRotate does; 100 keeps all, 1 drops the splitter's truncated (2).
        **kwargs: :class:`RotatedDataset`'s (``img_prefix``, ``classes``, ``filter_empty_gt``,
            ``test_mode``, ``on_error``, ``scorer``, ...).

    Raises:
        TypeError: ``difficulty`` is not a number (``"1"``: the comparison would fail later).
        ValueError: ``difficulty`` is NaN (every comparison False: nothing dropped).

    Each label file gives one image ``<id>.<ext>`` in ``img_prefix``: ``<id>.<img_suffix>``
    when ``img_suffix`` is set (``'png'``, MMRotate 1.x's argument), else whichever image with
    that stem is there (``.png`` as MMRotate assumes, ``.jpg``, ...); two of them
    (``P0003.png`` and ``P0003.jpg``) are an error naming both. Polygons become boxes with
    MMRotate's ``poly2obb_np``; those with a side under 2 px (e.g. the zero-area quads of split
    patches) are dropped and counted. An empty file is an image without objects. Where the
    image is there, its size (from the header) bounds the corners: more than an image size
    outside is an error naming file:line (``on_error='warn'``: dropped, ``out_of_image``).
    """

    CLASSES = DOTA_V1_CLASSES
    PREFERRED_IMAGE_SUFFIX = "png"  # MMRotate 0.3.4 reads <stem>.png; another extension beside it is not used

    def __init__(
        self, ann_file: str, pipeline: Any = None, version: str = "oc", difficulty: int = 100, **kwargs: Any
    ):
        rg.angles.check_version(version)
        self.version = version
        if isinstance(difficulty, bool) or not isinstance(difficulty, numbers.Real):
            raise TypeError(
                f"difficulty must be a number (objects with a greater difficult "
                f"flag are dropped; 100 keeps all), got {type(difficulty).__name__} {difficulty!r}"
            )
        if math.isnan(difficulty):
            raise ValueError(f"{type(self).__name__}: difficulty must be a number, got nan")
        self.difficulty = difficulty
        super().__init__(ann_file, pipeline, **kwargs)

    def load_annotations(self, ann_folder: str) -> list[dict[str, Any]]:
        """One ``data_info`` per label file in ``ann_folder`` (sorted), or per image when it has none."""
        if not osp.isdir(ann_folder):
            raise FileNotFoundError(f"{type(self).__name__}: ann_file {ann_folder!r} is not a folder")
        images = self._image_names()
        ann_files = sorted(glob.glob(osp.join(glob.escape(ann_folder), "*.txt")))
        self.label_files = len(ann_files)
        infos: list[dict[str, Any]] = []
        if not ann_files:  # test phase: the folder holds images
            for path in sorted(glob.glob(osp.join(glob.escape(ann_folder), "*"))):
                stem, ext = osp.splitext(osp.basename(path))
                wanted = ext[1:] == self.img_suffix if self.img_suffix else ext.lower() in IMAGE_EXTENSIONS
                if wanted:
                    infos.append({"filename": images.get(stem, osp.basename(path)), "ann": empty_ann()})
            self.empty_hint = (
                f" (*.txt), only {len(infos)} images: is ann_file the image folder?"
                if infos
                else " (*.txt) and no images"
            )
        else:
            cls_map = {c: i for i, c in enumerate(self.CLASSES)}
            for path in ann_files:
                stem = osp.splitext(osp.basename(path))[0]
                image = osp.join(self.img_prefix, images[stem]) if stem in images else None
                info = {
                    "filename": images.get(stem, self._default_image(stem, "png")),
                    "ann": self._load_file(path, cls_map, image),
                }
                infos.append(info)
        self.img_ids = [osp.splitext(info["filename"])[0] for info in infos]
        return infos

    def _load_file(
        self, path: str, cls_map: dict[str, int], image: str | None = None
    ) -> dict[str, np.ndarray]:
        """One label file's ``ann``; ``image``: its image, whose size (read from the header) bounds the corners."""
        labels = read_dota_labels(path, errors="skip" if self.on_error == "warn" else "raise")
        self._count_skipped_lines(labels.skipped)
        self.label_names.update(labels.names)
        ann = empty_ann()
        if not len(labels):
            return ann
        keep = np.ones(len(labels), bool)
        if image is not None:
            width, height = image_size(image)
            keep = self._inside(str(path), [str(n) for n in labels.lines], labels.polygons, width, height)
        boxes = poly2obb(labels.polygons, self.version)
        degenerate = keep & np.isnan(boxes).any(axis=1)
        self.dropped["degenerate"] += int(degenerate.sum())
        keep &= ~degenerate
        cls = np.array([cls_map.get(n, -1) for n in labels.names], np.int64)
        if self.custom_classes:  # 'Plane' for 'plane' is a typo, not a class left out: never dropped silently
            typo, message = misspelled_class_names(labels, self.CLASSES)
            if message is not None and (keep & typo).any():
                self._bad_annotation(message, DotaLabelError)
                self.dropped["malformed_line"] += int((keep & typo).sum())
                keep &= ~typo
        unknown = keep & (cls < 0)
        if unknown.any():
            if not self.custom_classes:
                i = int(np.flatnonzero(unknown)[0])
                self._bad_annotation(
                    f"{path}:{labels.lines[i]}: unknown class {labels.names[i]!r} for "
                    f"{type(self).__name__} (classes: {', '.join(self.CLASSES)})"
                )
            self.dropped["other_class"] += int(unknown.sum())
            keep &= ~unknown
        hard = keep & (labels.difficult > self.difficulty)
        self.dropped["difficulty"] += int(hard.sum())
        keep &= ~hard
        ann["bboxes"] = boxes[keep]
        ann["labels"] = cls[keep]
        ann["polygons"] = labels.polygons[keep]
        ann["difficult"] = labels.difficult[keep]
        return ann


@DATASETS.register_module()
class DOTAv15Dataset(DOTADataset):
    """DOTA v1.5: v1.0's classes and ``container-crane``."""

    CLASSES = DOTA_V1_CLASSES + ("container-crane",)


@DATASETS.register_module()
class DOTAv2Dataset(DOTADataset):
    """DOTA v2.0: v1.5's classes, ``airport`` and ``helipad``."""

    CLASSES = DOTA_V1_CLASSES + ("container-crane", "airport", "helipad")


@DATASETS.register_module()
class SARDataset(DOTADataset):
    """SAR ship detection (SSDD, HRSID converted to DOTA label files, as MMRotate's configs use them)."""

    CLASSES = ("ship",)
