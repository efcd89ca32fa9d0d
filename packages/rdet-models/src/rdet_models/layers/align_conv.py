"""AlignConv: S2A-Net's feature alignment (MMRotate 0.3.x ``models/detectors/utils.py``).

At every position of a feature level, a 3 x 3 (k x k) deformable convolution samples the
features on a k x k grid laid over that position's box (the FAM head's refined box, in image
pixels) instead of the square around the position: the grid spans the box's width and height
divided by the level's stride, turned by its angle. The offsets are computed from the boxes,
never learnt, and carry no gradient (MMRotate's ``torch.no_grad`` and ``detach``).

Module names are MMRotate's (``align_conv.ac.<level>.deform_conv.weight``), so S2A-Net
checkpoints load unchanged. As in MMRotate, ``AlignConvModule`` is a plain ``nn.Module`` without
``init_weights``: a detector's ``init_weights`` does not reach ``AlignConv.init_weights``, and the
deformable convolutions keep ``DeformConv2d``'s own (Kaiming-uniform) initialisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rbox_ops import DeformConv2d
from rdet_models.anchors.utils import grid_size
from rdet_models.init import normal_init

__all__ = ["AlignConv", "AlignConvModule", "align_conv_offset"]


@torch.no_grad()
def align_conv_offset(
    anchors: torch.Tensor, featmap_size: tuple[int, int], stride: float, kernel_size: int = 3
) -> torch.Tensor:
    """The deformable-convolution offsets that move a ``kernel_size`` x ``kernel_size`` conv's
    samples onto each position's box.

    Args:
        anchors: (..., H * W, 5) boxes ``(cx, cy, w, h, theta)`` in image pixels, one per position
            of the level in row-major order (theta in radians, clockwise on screen).
        featmap_size: (H, W) of the level. stride: the level's stride (pixels per feature cell).
        kernel_size: odd; the conv's padding is ``(kernel_size - 1) // 2``.

    Returns:
        (..., 2 * k * k, H, W), mmcv's layout: channel ``2 * p`` is the dy and ``2 * p + 1`` the dx
        of kernel point ``p = i * k + j``. Sample (i, j) of position (y, x) lands on
        ``box centre / stride + R(theta) (dw * (j - pad), dh * (i - pad))`` with ``dw = w / stride / k``.
    """
    if anchors.dim() < 2 or anchors.size(-1) != 5:
        raise ValueError(f"anchors must be (..., H * W, 5) boxes, got {tuple(anchors.shape)}")
    feat_h, feat_w = grid_size(featmap_size)  # traced (ONNX export): graph values, not ints
    if anchors.size(-2) != feat_h * feat_w:
        raise ValueError(
            f"{anchors.size(-2)} boxes for a {feat_h} x {feat_w} feature map: AlignConv needs one box per "
            "position (a FAM head with one anchor per position)"
        )
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
    dtype, device = anchors.dtype, anchors.device
    pad = (kernel_size - 1) // 2
    idx = torch.arange(-pad, pad + 1, dtype=dtype, device=device)
    yy, xx = torch.meshgrid(idx, idx, indexing="ij")
    xx, yy = xx.reshape(-1), yy.reshape(-1)

    # the sampling points of the plain convolution, per position (H * W, k * k)
    xc = torch.arange(0, feat_w, device=device, dtype=dtype)
    yc = torch.arange(0, feat_h, device=device, dtype=dtype)
    yc, xc = torch.meshgrid(yc, xc, indexing="ij")
    x_conv = xc.reshape(-1)[:, None] + xx
    y_conv = yc.reshape(-1)[:, None] + yy

    # the sampling points on the boxes, in feature-map cells (same operation order as MMRotate's)
    x_ctr, y_ctr, w, h, a = torch.unbind(anchors, dim=-1)
    x_ctr, y_ctr, w, h = x_ctr / stride, y_ctr / stride, w / stride, h / stride
    cos, sin = torch.cos(a), torch.sin(a)
    dw, dh = w / kernel_size, h / kernel_size
    x, y = dw[..., None] * xx, dh[..., None] * yy
    xr = cos[..., None] * x - sin[..., None] * y
    yr = sin[..., None] * x + cos[..., None] * y
    x_anchor, y_anchor = xr + x_ctr[..., None], yr + y_ctr[..., None]

    # (..., H * W, k * k, 2) as (dy, dx) -> (..., 2 * k * k, H, W)
    offset = torch.stack([y_anchor - y_conv, x_anchor - x_conv], dim=-1)
    lead = anchors.shape[:-2]
    offset = offset.reshape(*lead, feat_h * feat_w, -1).transpose(-1, -2)
    return offset.reshape(*lead, -1, feat_h, feat_w)


class AlignConv(nn.Module):
    """One level's alignment: ReLU(DeformConv2d(x, offsets of the boxes)), MMRotate's ``AlignConv``.

    Args:
        in_channels, out_channels: of the deformable convolution.
        kernel_size: odd, the padding keeps the size. stride: the level's stride (pixels per
            cell), which scales the boxes; not the convolution's stride (always 1).
        deform_groups: as ``DeformConv2d`` (the offsets are repeated for every group).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: float | None = None,
        deform_groups: int = 1,
    ) -> None:
        super().__init__()
        if stride is None or not stride > 0:
            raise ValueError(f"AlignConv needs its level's stride (> 0), got {stride!r}")
        self.kernel_size = kernel_size
        self.stride = stride
        self.deform_groups = deform_groups
        self.deform_conv = DeformConv2d(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            padding=(kernel_size - 1) // 2,
            deform_groups=deform_groups,
        )
        self.relu = nn.ReLU(inplace=True)

    def init_weights(self) -> None:
        """MMRotate's method (normal, std 0.01); S2ANet's ``init_weights`` does not call it."""
        normal_init(self.deform_conv, std=0.01)

    def get_offset(self, anchors: torch.Tensor, featmap_size: tuple[int, int], stride: float) -> torch.Tensor:
        """One image's offsets (2 * k * k, H, W) from its boxes (H * W, 5) (MMRotate's method)."""
        return align_conv_offset(anchors, featmap_size, stride, self.kernel_size)

    def forward(self, x: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W); anchors (N * H * W, 5), the images' boxes one after the other."""
        n, _, h, w = x.shape
        if anchors.dim() != 2 or anchors.shape != (n * h * w, 5):
            raise ValueError(
                f"AlignConv on a {tuple(x.shape)} level needs ({n * h * w}, 5) boxes (one per position "
                f"of each image), got {tuple(anchors.shape)}"
            )
        offset = align_conv_offset(anchors.reshape(n, h * w, 5), (h, w), self.stride, self.kernel_size)
        if self.deform_groups > 1:
            offset = offset.repeat(1, self.deform_groups, 1, 1)
        # float32 offsets even under autocast: deform_conv2d samples in float32 for half inputs
        return self.relu(self.deform_conv(x, offset.detach()))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class AlignConvModule(nn.Module):
    """An ``AlignConv`` per feature level (``ac``), MMRotate's ``AlignConvModule``.

    Args:
        in_channels: the levels' channels (also the output's).
        featmap_strides: the levels' strides; they must be those of the boxes' anchors.
        align_conv_size: the kernel size.

    Forward: ``x`` per level (N, C, H_l, W_l) and ``rbboxes`` per image, per level (H_l * W_l, 5)
    (``RotatedRetinaHead.refine_bboxes``) -> per level (N, C, H_l, W_l).
    """

    def __init__(self, in_channels: int, featmap_strides: Sequence[float], align_conv_size: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.featmap_strides = list(featmap_strides)
        self.align_conv_size = align_conv_size
        self._init_layers()

    def _init_layers(self) -> None:
        self.ac = nn.ModuleList(
            [
                AlignConv(self.in_channels, self.in_channels, kernel_size=self.align_conv_size, stride=s)
                for s in self.featmap_strides
            ]
        )

    def forward(
        self, x: Sequence[torch.Tensor], rbboxes: Sequence[Sequence[torch.Tensor]]
    ) -> list[torch.Tensor]:
        if len(x) != len(self.ac):
            raise ValueError(f"{len(x)} feature levels for {len(self.ac)} AlignConv levels (featmap_strides)")
        if len(rbboxes) != x[0].size(0):
            raise ValueError(f"boxes of {len(rbboxes)} images for a batch of {x[0].size(0)}")
        if any(len(image) != len(x) for image in rbboxes):
            raise ValueError(f"every image needs boxes for each of the {len(x)} levels")
        mlvl_rbboxes = [torch.cat(level) for level in zip(*rbboxes)]
        return [ac(feat, boxes) for feat, boxes, ac in zip(x, mlvl_rbboxes, self.ac)]
