"""Rotated-box mAP (MMRotate's and the official DOTA metric), submissions, patch merging; no torch."""

__version__ = "0.1.0"
