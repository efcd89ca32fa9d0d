"""Readers of annotation file formats (DOTA labelTxt, ...), independent of any dataset class."""

from rdet_data.formats.dota import DotaLabelError, DotaLabels, read_dota_labels

__all__ = ["DotaLabelError", "DotaLabels", "read_dota_labels"]
