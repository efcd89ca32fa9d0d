"""HRSC2016: one XML per image, an ImageSets list file of image ids."""

from __future__ import annotations

import os.path as osp
import re
from pathlib import Path
from typing import Any

import numpy as np

import rbox_geometry as rg
from rdet_data.datasets.base import RotatedDataset, empty_ann, poly2obb
from rdet_data.formats.text import read_text_lines
from rdet_data.formats.xml_labels import AnnotationError, read_hrsc_xml
from rdet_data.registry import DATASETS

__all__ = ["HRSCDataset", "read_id_list", "resolve_subdir"]

# HRSC2016's class ids: '1000000' and a 2-digit code 01..33 (sysdata.xml)
_HRSC_ID = re.compile(r"1000000(0[1-9]|[12][0-9]|3[0-3])")


def read_id_list(path: str) -> list[str]:
    """Image ids, one a line (blank lines skipped); not UTF-8: ``LabelEncodingError`` naming file:line."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"image list {path!r} does not exist")
    return [line.strip() for _, line in read_text_lines(path)[0] if line.strip()]


def resolve_subdir(subdir: str, img_prefix: str, ann_file: str) -> str:
    """Where a sub-folder is: as given, under ``img_prefix`` (MMRotate joins them), or beside ``ann_file`` or its parents.

    MMRotate's HRSC configs give ``ann_subdir`` with the data root in front, which
    MMRotate then joins to ``img_prefix``; both spellings work here.
    """
    parents = [osp.dirname(ann_file)]
    for _ in range(2):  # ImageSets/Main/trainval.txt lies two levels below the data root
        parents.append(osp.dirname(parents[-1]))
    candidates = [subdir, osp.join(img_prefix or "", subdir)] + [osp.join(p, subdir) for p in parents]
    for candidate in candidates:
        if osp.isdir(candidate):
            return candidate
    raise FileNotFoundError(
        f"annotation folder {subdir!r} not found (also tried under img_prefix {img_prefix!r} "
        f"and beside {ann_file!r} and its parents)"
    )


def _canonical_le90(boxes: np.ndarray) -> np.ndarray:
    """(K, 5) float32 HRSC boxes with w >= h and theta in [-pi/2, pi/2); those already so unchanged."""
    ok = np.asarray(rg.angles.in_range(boxes, "le90"), bool)
    return np.where(ok[:, None], boxes, np.asarray(rg.angles.regularize(boxes, "le90"), np.float32))


@DATASETS.register_module()
class HRSCDataset(RotatedDataset):
    """HRSC2016 (MMRotate's ``HRSCDataset``).

    Args:
        ann_file: An ImageSets file of image ids (``trainval.txt``).
        img_subdir: Kept for MMRotate's configs (which set it equal to ``img_prefix``); images
            are ``img_prefix/<id>.bmp``, or whichever image with that stem is there.
        ann_subdir: Folder of ``<id>.xml``.
        classwise: False: one class ``'ship'``. True: the 31 HRSC classes, by ``Class_ID``
            ``1000000xx``; objects with HRSC's ids 21 and 23, which MMRotate's table leaves out,
            are dropped and counted (``other_class``), as MMRotate does; a missing ``Class_ID``
            or one that is no HRSC id (``10000013``, ``100000034``) is an ``AnnotationError``
            naming the XML and the object (``on_error='warn'``: dropped, counted as ``malformed_line``).
        version: Angle version. The XML's ``mbox_*`` is read as an 'le90' box; for other
            versions it goes through its polygon (MMRotate's rule). Either way, a box with a
            side < 2 px is dropped and counted (``degenerate``, MMRotate's ``poly2obb_np``);
            'le90' keeps the XML's numbers, turned into le90's canonical form (w >= h, theta
            in [-pi/2, pi/2)) where they are not in it.

    Corners more than an image size outside ``Img_SizeWidth`` x ``Img_SizeHeight`` are an error
    naming the XML and the object (``on_error='warn'``: dropped, ``out_of_image``). Where the
    image is there, a size other than its header's is an error naming the XML and both sizes
    (``on_error='warn'``: the image is left out, ``images_bad_size``).
    """

    CLASSES = None
    HRSC_CLASS = ("ship",)
    HRSC_CLASSES = (
        "ship", "aircraft carrier", "warcraft", "merchant ship", "Nimitz", "Enterprise",
        "Arleigh Burke", "WhidbeyIsland", "Perry", "Sanantonio", "Ticonderoga", "Kitty Hawk",
        "Kuznetsov", "Abukuma", "Austen", "Tarawa", "Blue Ridge", "Container", "OXo|--)",
        "Car carrier([]==[])", "Hovercraft", "yacht", "CntShip(_|.--.--|_]=", "Cruise",
        "submarine", "lute", "Medical", "Car carrier(======|", "Ford-class", "Midway-class",
        "Invincible-class",
    )  # fmt: skip
    HRSC_CLASSES_ID = (
        "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15",
        "16", "17", "18", "19", "20", "22", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33",
    )  # fmt: skip

    def __init__(
        self,
        ann_file: str,
        pipeline: Any = None,
        img_subdir: str = "JPEGImages",
        ann_subdir: str = "Annotations",
        classwise: bool = False,
        version: str = "oc",
        **kwargs: Any,
    ):
        rg.angles.check_version(version)
        self.img_subdir = img_subdir
        self.ann_subdir = ann_subdir
        self.classwise = classwise
        self.version = version
        self.CLASSES = self.HRSC_CLASSES if classwise else self.HRSC_CLASS
        self.catid2label = {"1" + "0" * 6 + cid: i for i, cid in enumerate(self.HRSC_CLASSES_ID)}
        super().__init__(ann_file, pipeline, **kwargs)

    def load_annotations(self, ann_file: str) -> list[dict[str, Any]]:
        """One ``data_info`` per id in ``ann_file``: filename, width, height, ann (with ``headers``)."""
        ann_dir = resolve_subdir(self.ann_subdir, self.img_prefix, ann_file)
        images = self._image_names()
        infos = []
        ids = read_id_list(ann_file)
        self.label_files = len(ids)
        self.empty_hint = f" (no image id in {ann_file})"
        for img_id in ids:
            xml = read_hrsc_xml(osp.join(ann_dir, f"{img_id}.xml"))
            filename = images.get(img_id, self._default_image(img_id, "bmp"))
            image = osp.join(self.img_prefix, filename) if img_id in images else None
            if not self._size_matches(str(xml.path), image, xml.width, xml.height):
                continue  # on_error='warn': the image is left out
            ann = empty_ann(with_heads=True)
            if len(xml):
                if self.classwise:
                    labels = self._class_labels(xml.path, xml.class_ids)
                else:
                    labels = np.zeros(len(xml), np.int64)
                polygons = np.asarray(rg.obb2poly(xml.boxes.astype(np.float64), "le90"), np.float32)
                boxes = poly2obb(polygons, self.version)  # NaN rows: a side < 2 px (MMRotate's None)
                if self.version == "le90":  # MMRotate keeps the XML's box, in le90's canonical form
                    boxes = np.where(np.isnan(boxes), boxes, _canonical_le90(xml.boxes))
                keep = labels >= 0
                self.dropped["other_class"] += int((labels == -1).sum())
                self.dropped["malformed_line"] += int((labels == -2).sum())
                where = [f" object {k + 1}" for k in np.flatnonzero(keep)]
                keep[keep] = self._inside(str(xml.path), where, polygons[keep], xml.width, xml.height)
                bad = keep & np.isnan(boxes).any(axis=1)
                self.dropped["degenerate"] += int(bad.sum())
                keep &= ~bad
                ann.update(
                    bboxes=boxes[keep],
                    labels=labels[keep],
                    polygons=polygons[keep],
                    difficult=xml.difficult[keep],
                    headers=xml.heads[keep],
                )
            infos.append(
                {
                    "filename": filename,
                    "width": xml.width,
                    "height": xml.height,
                    "ann": ann,
                }
            )
        return infos

    def _class_labels(self, path: Path, class_ids: list[str]) -> np.ndarray:
        """(K,) int64 labels of ``Class_ID`` s: -1 for HRSC's ids that the 31 classes leave out
        (``100000021``, ``100000023``: dropped, as MMRotate does), -2 for a missing or malformed
        id (an error naming the XML and the object; ``on_error='warn'``: dropped, ``malformed_line``).
        """
        labels = np.array([self.catid2label.get(c, -1) for c in class_ids], np.int64)
        bad = [k for k, c in enumerate(class_ids) if labels[k] < 0 and not _HRSC_ID.fullmatch(c)]
        if bad:
            k = bad[0]
            found = f"<Class_ID> {class_ids[k]!r}" if class_ids[k] else "no <Class_ID>"
            self._bad_annotation(
                f"{path}: object {k + 1} has {found}; classwise=True needs an HRSC class id, "
                "'1000000' and a 2-digit code 01..33 (e.g. '100000013'); "
                f"{len(bad)} such object(s) in this file",
                AnnotationError,
            )
            labels[bad] = -2
        return labels

    def evaluate(self, results: list, metric: str = "mAP", logger: Any = None, proposal_nums=(100, 300, 1000),
                 iou_thr: Any = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95), scale_ranges=None,
                 use_07_metric: bool = True, nproc: int = 4, scorer: Any = None) -> dict[str, float]:  # fmt: skip
        """MMRotate's HRSC evaluation: mAP at each of ``iou_thr`` (AP50 ... AP95) and their mean."""
        return super().evaluate(
            results, metric, logger, proposal_nums, iou_thr, scale_ranges, use_07_metric, nproc, scorer
        )
