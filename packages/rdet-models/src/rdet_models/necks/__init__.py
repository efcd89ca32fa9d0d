"""Necks."""

from rdet_models.necks.fpn import FPN
from rdet_models.necks.re_fpn import ReFPN

__all__ = ["FPN", "ReFPN"]
