"""Necks."""

from rdet_models.necks.fpn import FPN
from rdet_models.necks.pafpn import PAFPN
from rdet_models.necks.re_fpn import ReFPN

__all__ = ["FPN", "PAFPN", "ReFPN"]
