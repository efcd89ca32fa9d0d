"""``FeatureRefineModule``: R3Det's feature refinement between its stages (MMRotate 0.3.x)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rbox_ops import rotated_feature_align
from rdet_models.init import normal_init

__all__ = ["FeatureRefineModule"]


class FeatureRefineModule(nn.Module):
    """R3Det's feature refinement module (FRM): per level, ``x + align(conv_5_1(conv_1_5(x)) +
    conv_1_1(x), boxes)``, where ``align`` (``rbox_ops.rotated_feature_align``, one point) adds
    to each position the features sampled (bilinearly) at that position's box from the previous
    stage. As mmcv's op, it reads the box's column 0 as y and column 1 as x (so MMRotate's
    ``(cx, cy, ...)`` rows sample at (x=cy, y=cx)): MMRotate's checkpoints were trained so, and
    it is kept. One set of convs for every level; names are MMRotate's checkpoint keys
    (``conv_5_1``, ``conv_1_5``, ``conv_1_1``).

    Args:
        in_channels: channels of every level (in and out).
        featmap_strides: each level's stride (pixels per cell), in level order.
        conv_cfg / norm_cfg: accepted for MMRotate's configs and unused, as in MMRotate.
    """

    def __init__(
        self,
        in_channels: int,
        featmap_strides: Sequence[int],
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
    ) -> None:
        super().__init__()
        if len(featmap_strides) == 0:
            raise ValueError("FeatureRefineModule needs featmap_strides (one per level)")
        self.in_channels = in_channels
        self.featmap_strides = list(featmap_strides)
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        c = in_channels
        self.conv_5_1 = nn.Conv2d(c, c, kernel_size=(5, 1), stride=1, padding=(2, 0))
        self.conv_1_5 = nn.Conv2d(c, c, kernel_size=(1, 5), stride=1, padding=(0, 2))
        self.conv_1_1 = nn.Conv2d(c, c, kernel_size=1)

    def init_weights(self) -> None:
        """Normal(0, 0.01) weights, zero biases (MMRotate's)."""
        for conv in (self.conv_5_1, self.conv_1_5, self.conv_1_1):
            normal_init(conv, std=0.01)

    def forward(
        self, x: Sequence[torch.Tensor], rois: Sequence[Sequence[torch.Tensor]]
    ) -> list[torch.Tensor]:
        """Refine each level's features at the previous stage's boxes.

        Args:
            x: per level, features (N, C, H_l, W_l).
            rois: per image, per level, one box per position (H_l * W_l, 5) ``(cx, cy, w, h,
                theta)`` in image pixels and radians (``filter_bboxes`` / ``refine_bboxes``).

        Returns:
            per level, refined features (N, C, H_l, W_l).
        """
        if len(x) != len(self.featmap_strides):
            raise ValueError(f"{len(x)} feature levels for {len(self.featmap_strides)} featmap_strides")
        num_imgs = x[0].size(0)
        if len(rois) != num_imgs:
            raise ValueError(f"rois for {len(rois)} images, features of {num_imgs}")
        out = []
        for lvl, (feat, stride) in enumerate(zip(x, self.featmap_strides)):
            n, _, h, w = feat.shape
            boxes = [image_rois[lvl] for image_rois in rois]
            if any(tuple(b.shape) != (h * w, 5) for b in boxes):
                raise ValueError(
                    f"rois of level {lvl}: expected ({h * w}, 5) per image (one box per position of "
                    f"the {h}x{w} map), got {[tuple(b.shape) for b in boxes]}"
                )
            mixed = self.conv_5_1(self.conv_1_5(feat)) + self.conv_1_1(feat)
            aligned = rotated_feature_align(mixed, torch.stack(boxes).reshape(n, h, w, 5), 1 / stride)
            out.append(feat + aligned)
        return out
