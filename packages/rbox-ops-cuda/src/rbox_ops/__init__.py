"""Rotated-box ops (IoU, NMS, RoIAlignRotated) as compiled CPU/CUDA kernels with pure-torch fallbacks."""

__version__ = "0.1.0"
