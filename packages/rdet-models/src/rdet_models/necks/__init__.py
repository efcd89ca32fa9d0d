"""Necks."""

from rdet_models.necks.fpn import FPN

__all__ = ["FPN"]
