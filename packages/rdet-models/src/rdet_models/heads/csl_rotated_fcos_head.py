"""``CSLRFCOSHead``: RotatedFCOSHead with a Circular-Smooth-Label angle classifier (MMRotate 0.3.x)."""

from __future__ import annotations

from typing import Any

import torch

from rdet_models.builder import build_bbox_coder
from rdet_models.heads.rotated_fcos_head import RotatedFCOSHead
from rdet_models.registry import MODELS

__all__ = ["CSLRFCOSHead"]


@MODELS.register_module()
class CSLRFCOSHead(RotatedFCOSHead):
    """``conv_angle`` has ``coding_len`` channels (CSL bins, logits); the angle targets are
    encoded per point and learnt with ``loss_angle``; at test time the bins are decoded.

    Args:
        separate_angle: must be True. scale_angle: must be False.
        angle_coder: a ``CSLCoder`` config.
        **kwargs: ``RotatedFCOSHead``'s.

    Forward: as RotatedFCOSHead, angle_preds [(N, coding_len, H_l, W_l)].
    Difference from MMRotate 0.3.4 (on purpose): its ``loss`` reads ``self.seprate_angle`` (a
    typo) and raises AttributeError; here the losses are RotatedFCOSHead's with
    ``separate_angle=True`` (loss_cls, loss_bbox, loss_angle, loss_centerness).
    """

    def __init__(
        self,
        separate_angle: bool = True,
        scale_angle: bool = False,
        angle_coder: dict = dict(type="CSLCoder", angle_version="le90", omega=1, window="gaussian", radius=6),  # noqa: B006
        **kwargs: Any,
    ) -> None:
        if not separate_angle:
            raise ValueError("CSLRFCOSHead supports only separate_angle=True")
        if scale_angle:
            raise ValueError("CSLRFCOSHead supports only scale_angle=False")
        self.angle_coder = build_bbox_coder(angle_coder)
        self.coding_len = self.angle_coder.coding_len
        super().__init__(separate_angle=separate_angle, scale_angle=scale_angle, **kwargs)

    @property
    def angle_channels(self) -> int:
        """``coding_len`` CSL bins."""
        return self.coding_len

    def _encode_angle(self, angle_targets: torch.Tensor) -> torch.Tensor:
        """(P, 1) radians -> (P, coding_len) CSL labels."""
        return self.angle_coder.encode(angle_targets)

    def _decode_angle(self, angle_pred: torch.Tensor) -> torch.Tensor:
        """(k, coding_len) logits -> (k, 1) radians (MMRotate decodes the raw logits)."""
        return self.angle_coder.decode(angle_pred).unsqueeze(-1)
