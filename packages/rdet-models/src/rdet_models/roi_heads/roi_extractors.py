"""RoI feature extractors: MMDetection's ``SingleRoIExtractor`` (``RoIAlign``, horizontal rois) and
MMRotate's ``RotatedSingleRoIExtractor`` (``RoIAlignRotated``, rotated rois).

Each RoI is pooled from one FPN level, chosen by its scale as in the FPN paper:
``level = floor(log2(scale / finest_scale + 1e-6))`` clamped to the levels, where scale is
``sqrt(w * h)`` (so < 112 px -> level 0, < 224 -> 1, < 448 -> 2, else 3 with the default 56).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rdet_models.init import BaseModule
from rdet_models.registry import MODELS

__all__ = ["BaseRoIExtractor", "RotatedSingleRoIExtractor", "SingleRoIExtractor"]


def _pair(x: float | Sequence[float]) -> tuple[float, float]:
    return (x[0], x[1]) if isinstance(x, (list, tuple)) else (x, x)


class BaseRoIExtractor(BaseModule):
    """One RoI layer per feature level (``roi_layer``: an ``rbox_ops`` module config, e.g. ``RoIAlign``).

    Args:
        roi_layer: ``dict(type='RoIAlign', output_size=7, sampling_ratio=0)`` or
            ``dict(type='RoIAlignRotated', out_size=7, sample_num=2, clockwise=True)``.
        out_channels: channels of the features.
        featmap_strides: strides of the levels used (the first ``len(featmap_strides)`` inputs).
        finest_scale: the RoI scale mapped to level 0 is below ``2 * finest_scale``.
    """

    #: columns of a roi after the image index, and its scale
    roi_dim = 4

    def __init__(
        self,
        roi_layer: dict,
        out_channels: int,
        featmap_strides: Sequence[int],
        finest_scale: int = 56,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        self.roi_layers = self.build_roi_layers(roi_layer, featmap_strides)
        self.out_channels = out_channels
        self.featmap_strides = list(featmap_strides)
        self.finest_scale = finest_scale
        self.fp16_enabled = False

    @property
    def num_inputs(self) -> int:
        """Number of input feature levels."""
        return len(self.featmap_strides)

    @staticmethod
    def build_roi_layers(layer_cfg: dict, featmap_strides: Sequence[int]) -> nn.ModuleList:
        import rbox_ops

        cfg = dict(layer_cfg)
        layer_type = cfg.pop("type")
        layer_cls = getattr(rbox_ops, layer_type, None) if isinstance(layer_type, str) else layer_type
        if layer_cls is None or not isinstance(layer_cls, type):
            raise KeyError(f"roi_layer type {layer_type!r} is not an rbox_ops op (RoIAlign, RoIAlignRotated)")
        return nn.ModuleList([layer_cls(spatial_scale=1 / s, **cfg) for s in featmap_strides])

    def roi_scale(self, rois: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def map_roi_levels(self, rois: torch.Tensor, num_levels: int) -> torch.Tensor:
        """(k,) level index of each roi (see the module docstring)."""
        scale = self.roi_scale(rois)
        target_lvls = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
        return target_lvls.clamp(min=0, max=num_levels - 1).long()

    def roi_rescale(self, rois: torch.Tensor, scale_factor: float | Sequence[float]) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, feats: Sequence[torch.Tensor], rois: torch.Tensor, roi_scale_factor: float | None = None
    ) -> torch.Tensor:
        """Levels (N, C, H_l, W_l), rois (k, 1 + roi_dim) -> (k, C, out_h, out_w) features."""
        if rois.dim() != 2 or rois.size(1) != self.roi_dim + 1:
            raise ValueError(
                f"{type(self).__name__} needs rois (k, {self.roi_dim + 1}), got {tuple(rois.shape)}"
            )
        out_h, out_w = self.roi_layers[0].output_size
        num_levels = len(feats)
        # pooled in float32 whatever the features' precision (MMRotate's force_fp32), then cast back
        dtype = feats[0].dtype
        rois = rois.float()
        roi_feats = feats[0].new_zeros(rois.size(0), self.out_channels, out_h, out_w, dtype=torch.float32)
        if num_levels == 1:
            if len(rois) == 0:
                return roi_feats.to(dtype)
            return self.roi_layers[0](feats[0].float(), rois).to(dtype)
        target_lvls = self.map_roi_levels(rois, num_levels)
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        for i in range(num_levels):
            inds = (target_lvls == i).nonzero(as_tuple=False).squeeze(1)
            if inds.numel() > 0:
                roi_feats[inds] = self.roi_layers[i](feats[i].float(), rois[inds])
            elif torch.is_grad_enabled():
                # keep every level in the graph (MMDetection's fix for DDP's unused parameters)
                roi_feats = roi_feats + feats[i].sum().float() * 0.0
        return roi_feats.to(dtype)


@MODELS.register_module()
class SingleRoIExtractor(BaseRoIExtractor):
    """Horizontal rois ``(img, x1, y1, x2, y2)``; scale ``sqrt((x2 - x1) * (y2 - y1))`` (MMDetection)."""

    roi_dim = 4

    def roi_scale(self, rois: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))

    def roi_rescale(self, rois: torch.Tensor, scale_factor: float | Sequence[float]) -> torch.Tensor:
        """Scale w and h about the centre by ``scale_factor``."""
        cx, cy = (rois[:, 1] + rois[:, 3]) * 0.5, (rois[:, 2] + rois[:, 4]) * 0.5
        w, h = (rois[:, 3] - rois[:, 1]) * scale_factor, (rois[:, 4] - rois[:, 2]) * scale_factor
        return torch.stack((rois[:, 0], cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5), dim=-1)


@MODELS.register_module()
class RotatedSingleRoIExtractor(BaseRoIExtractor):
    """Rotated rois ``(img, cx, cy, w, h, theta)``; scale ``sqrt(w * h)`` (MMRotate)."""

    roi_dim = 5

    def roi_scale(self, rois: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(rois[:, 3] * rois[:, 4])

    def roi_rescale(self, rois: torch.Tensor, scale_factor: float | Sequence[float]) -> torch.Tensor:
        """Scale w by the second and h by the first of ``(h_scale, w_scale)`` (a float: both)."""
        h_scale, w_scale = _pair(scale_factor)
        new_rois = rois.clone()
        new_rois[:, 3] = w_scale * new_rois[:, 3]
        new_rois[:, 4] = h_scale * new_rois[:, 4]
        return new_rois
