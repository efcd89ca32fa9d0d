"""Ultralytics YOLO-OBB datasets (DOTA8-style): ``labels/<split>/*.txt`` beside ``images/<split>/``."""

from __future__ import annotations

import glob
import os.path as osp
from typing import Any

import numpy as np

import rbox_geometry as rg
from rdet_data.datasets.base import RotatedDataset, empty_ann, poly2obb
from rdet_data.formats.imagesize import image_size
from rdet_data.formats.yolo_obb import read_yolo_names, read_yolo_obb
from rdet_data.registry import DATASETS

__all__ = ["YOLOOBBDataset"]


@DATASETS.register_module()
class YOLOOBBDataset(RotatedDataset):
    """Ultralytics YOLO-OBB labels: ``class-index x1 y1 ... x4 y4``, corners normalised by W and H.

    Args:
        ann_file: The labels folder (``dota8/labels/train``).
        img_prefix: The images folder (``dota8/images/train``); default: ``ann_file`` with
            its ``labels`` path part replaced by ``images``, as Ultralytics does.
        classes: Names in index order, or the path of the Ultralytics data YAML (its
            ``names:``). Required: YOLO label files hold only indices.
        version: Angle version of the boxes.

    Corners are scaled to pixels by the image size read from the image header (after EXIF
    orientation, as the pipeline's pixels); values slightly outside [0, 1] (objects crossing
    the border) are kept, like DOTA's; values outside [-1, 2] (pixels written as-is: 107520 px
    for 105 in a 1024-px image) are an error naming file:line (``on_error='warn'``: dropped,
    ``out_of_image``). There is no difficult flag (all 0). An index >= len(classes) is an
    error naming file:line. A label file without its image is an error at construction naming
    the first five and how many (``on_error='warn'``: dropped, ``images_missing``).
    """

    CLASSES = None

    def __init__(self, ann_file: str, pipeline: Any = None, version: str = "oc", **kwargs: Any):
        rg.angles.check_version(version)
        self.version = version
        classes = kwargs.get("classes")
        if isinstance(classes, str) and classes.endswith((".yaml", ".yml")):
            kwargs["classes"] = read_yolo_names(classes)
        if kwargs.get("classes") is None:
            raise ValueError("YOLOOBBDataset needs classes=: a list of names or the data YAML")
        if not kwargs.get("img_prefix"):
            parts = osp.normpath(ann_file).split(osp.sep)
            if "labels" in parts:
                i = len(parts) - 1 - parts[::-1].index("labels")
                parts[i] = "images"
            kwargs["img_prefix"] = osp.sep.join(parts)
        super().__init__(ann_file, pipeline, **kwargs)

    def load_annotations(self, ann_folder: str) -> list[dict[str, Any]]:
        """One ``data_info`` per label file (sorted): filename, width, height, ann in pixels."""
        if not osp.isdir(ann_folder):
            raise FileNotFoundError(f"YOLOOBBDataset: ann_file {ann_folder!r} is not a folder")
        if not osp.isdir(self.img_prefix):
            raise FileNotFoundError(
                f"YOLOOBBDataset: img_prefix {self.img_prefix!r} is not a folder (the image sizes scale "
                f"the labels of {ann_folder})"
            )
        images = self._image_names()
        paths = sorted(glob.glob(osp.join(glob.escape(ann_folder), "*.txt")))
        self.label_files = len(paths)
        self.empty_hint = " (*.txt)"
        missing = [p for p in paths if osp.splitext(osp.basename(p))[0] not in images]
        if missing:  # the sizes come from the images: they must be there, pipeline or not
            first = ", ".join(osp.basename(p) for p in missing[:5])
            self._bad_annotation(
                f"YOLOOBBDataset: {len(missing)} of {len(paths)} label files in {ann_folder} have no image "
                f"<stem>.* in img_prefix {self.img_prefix!r}: {first}{' ...' if len(missing) > 5 else ''}"
                + ("; on_error='warn' drops them" if self.on_error == "raise" else ": dropped"),
                FileNotFoundError,
            )
            self.images_missing += len(missing)
        infos = []
        for path in paths:
            stem = osp.splitext(osp.basename(path))[0]
            if stem not in images:
                continue
            width, height = image_size(osp.join(self.img_prefix, images[stem]))
            labels = read_yolo_obb(path, errors="skip" if self.on_error == "warn" else "raise")
            self._count_skipped_lines(labels.skipped)
            ann = empty_ann()
            if len(labels):
                bad = labels.class_ids >= len(self.CLASSES)
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    self._bad_annotation(
                        f"{path}:{labels.lines[i]}: class index {labels.class_ids[i]} >= {len(self.CLASSES)} classes"
                    )
                    self.dropped["other_class"] += int(bad.sum())
                inside = np.ones(len(labels), bool)
                where = [str(n) for n in labels.lines[~bad]]
                inside[~bad] = self._inside(path, where, labels.polygons[~bad], 1.0, 1.0, unit="normalised")
                polys = labels.polygons * np.array([width, height] * 4, np.float32)
                boxes = poly2obb(polys, self.version)
                degenerate = ~bad & inside & np.isnan(boxes).any(axis=1)
                self.dropped["degenerate"] += int(degenerate.sum())
                keep = ~bad & inside & ~degenerate
                ann.update(
                    bboxes=boxes[keep],
                    labels=labels.class_ids[keep],
                    polygons=polys[keep],
                    difficult=np.zeros(int(keep.sum()), np.int64),
                )
            infos.append({"filename": images[stem], "width": width, "height": height, "ann": ann})
        return infos
