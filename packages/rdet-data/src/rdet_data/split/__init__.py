"""The DOTA splitter: huge images -> overlapping patches + labels (``split_dota``, CLI ``main``)."""

from rdet_data.split.cli import main
from rdet_data.split.splitter import PRESETS, SplitSettings, split_dota
from rdet_data.split.windows import WindowObjects, sliding_windows, window_objects

__all__ = [
    "PRESETS",
    "SplitSettings",
    "WindowObjects",
    "main",
    "sliding_windows",
    "split_dota",
    "window_objects",
]
