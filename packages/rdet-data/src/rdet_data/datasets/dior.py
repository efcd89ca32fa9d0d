"""DIOR-R: VOC-like XML with 4-corner ``<robndbox>``, an ImageSets list of ids (MMRotate 0.3 lacks it)."""

from __future__ import annotations

import os.path as osp
from typing import Any

import numpy as np

import rbox_geometry as rg
from rdet_data.datasets.base import RotatedDataset, empty_ann, poly2obb
from rdet_data.datasets.hrsc import read_id_list, resolve_subdir
from rdet_data.formats.xml_labels import read_dior_xml
from rdet_data.registry import DATASETS

__all__ = ["DIORDataset"]


@DATASETS.register_module()
class DIORDataset(RotatedDataset):
    """DIOR-R (20 classes, MMRotate 1.x's order and its case-insensitive names).

    Args:
        ann_file: An ImageSets file of ids (``ImageSets/Main/trainval.txt``).
        ann_subdir: Folder of ``<id>.xml`` (``Annotations/Oriented Bounding Boxes/``), as
            given, under ``img_prefix`` or beside ``ann_file``.
        img_prefix: Folder of the images (``JPEGImages-trainval``); ``<id>.jpg`` or any image
            with that stem.
        version: Angle version of the boxes (corners through ``poly2obb_np``).
        Objects flagged ``difficult`` go to ``bboxes_ignore`` (VOC's and MMRotate 1.x's rule).
        Corners more than an image size outside ``<size>`` are an error naming the XML and the
        object (``on_error='warn'``: dropped, ``out_of_image``); where the image is there, a
        ``<size>`` other than its header's is an error naming the XML and both sizes
        (``on_error='warn'``: the image is left out, ``images_bad_size``). Class names match whatever
        their case, in the label files and in a ``classes`` override.
    """

    case_insensitive_classes = True
    CLASSES = (
        "airplane", "airport", "baseballfield", "basketballcourt", "bridge", "chimney",
        "expressway-service-area", "expressway-toll-station", "dam", "golffield",
        "groundtrackfield", "harbor", "overpass", "ship", "stadium", "storagetank",
        "tenniscourt", "trainstation", "vehicle", "windmill",
    )  # fmt: skip

    def __init__(
        self,
        ann_file: str,
        pipeline: Any = None,
        ann_subdir: str = "Annotations/Oriented Bounding Boxes",
        version: str = "oc",
        **kwargs: Any,
    ):
        rg.angles.check_version(version)
        self.ann_subdir = ann_subdir
        self.version = version
        super().__init__(ann_file, pipeline, **kwargs)

    def load_annotations(self, ann_file: str) -> list[dict[str, Any]]:
        """One ``data_info`` per id: filename, width, height, ann."""
        ann_dir = resolve_subdir(self.ann_subdir, self.img_prefix, ann_file)
        images = self._image_names()
        cls_map = {c.lower(): i for i, c in enumerate(self.CLASSES)}
        infos = []
        ids = read_id_list(ann_file)
        self.label_files = len(ids)
        self.empty_hint = f" (no image id in {ann_file})"
        for img_id in ids:
            xml = read_dior_xml(osp.join(ann_dir, f"{img_id}.xml"))
            filename = images.get(img_id, self._default_image(img_id, "jpg"))
            image = osp.join(self.img_prefix, filename) if img_id in images else None
            if not self._size_matches(str(xml.path), image, xml.width, xml.height):
                continue  # on_error='warn': the image is left out
            self.label_names.update(xml.names)
            ann = empty_ann()
            if len(xml):
                labels = np.array([cls_map.get(n.lower(), -1) for n in xml.names], np.int64)
                unknown = labels < 0
                if unknown.any() and not self.custom_classes:
                    self._bad_annotation(
                        f"{xml.path}: unknown DIOR class {xml.names[int(np.flatnonzero(unknown)[0])]!r}"
                    )
                boxes = poly2obb(xml.polygons, self.version)
                self.dropped["other_class"] += int(unknown.sum())
                keep = ~unknown
                if xml.width > 0 and xml.height > 0:
                    where = [f" object {k + 1}" for k in np.flatnonzero(keep)]
                    keep[keep] = self._inside(str(xml.path), where, xml.polygons[keep], xml.width, xml.height)
                bad = keep & np.isnan(boxes).any(axis=1)
                self.dropped["degenerate"] += int(bad.sum())
                keep &= ~bad
                hard = xml.difficult > 0
                for suffix, sel in (("", keep & ~hard), ("_ignore", keep & hard)):
                    ann["bboxes" + suffix] = boxes[sel]
                    ann["labels" + suffix] = labels[sel]
                    ann["polygons" + suffix] = xml.polygons[sel]
                ann["difficult"] = xml.difficult[keep & ~hard]
            infos.append(
                {
                    "filename": filename,
                    "width": xml.width,
                    "height": xml.height,
                    "ann": ann,
                }
            )
        return infos
