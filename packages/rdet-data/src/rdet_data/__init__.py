"""Rotated-box datasets (DOTA, HRSC2016, SSDD, DIOR-R, YOLO-OBB), MMRotate's transforms, the DOTA splitter."""

__version__ = "0.1.0"
