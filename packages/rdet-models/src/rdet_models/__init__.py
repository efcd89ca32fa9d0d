"""Rotated object detectors: backbones, necks, heads, coders, assigners, losses, with MMRotate's names."""

__version__ = "0.1.0"
