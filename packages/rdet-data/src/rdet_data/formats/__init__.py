"""Readers of annotation file formats (DOTA labelTxt, HRSC2016 / DIOR-R XML, YOLO-OBB), independent of any dataset class."""

from rdet_data.formats.dota import DotaLabelError, DotaLabels, misspelled_class_names, read_dota_labels
from rdet_data.formats.imagesize import image_size
from rdet_data.formats.text import LabelEncodingError, read_text_lines
from rdet_data.formats.xml_labels import AnnotationError, DiorLabels, HrscLabels, read_dior_xml, read_hrsc_xml
from rdet_data.formats.yolo_obb import YoloObbLabels, read_yolo_names, read_yolo_obb

__all__ = [
    "AnnotationError",
    "DiorLabels",
    "DotaLabelError",
    "DotaLabels",
    "HrscLabels",
    "LabelEncodingError",
    "YoloObbLabels",
    "image_size",
    "misspelled_class_names",
    "read_dior_xml",
    "read_dota_labels",
    "read_hrsc_xml",
    "read_text_lines",
    "read_yolo_names",
    "read_yolo_obb",
]
