"""FLOPs and parameters of a detector (MMRotate's ``tools/analysis_tools/get_flops.py``).

The model's ``forward_dummy`` (backbone, neck, heads; for two-stage detectors the RoI head on
a fixed set of proposals) runs once on a zero image under PyTorch's
``torch.utils.flop_counter.FlopCounterMode``, which counts convolutions, matrix products and
attention. rbox-ops' compiled ``deform_conv2d`` and ``modulated_deform_conv2d`` (DCNv2) are
counted here like a convolution of the same shapes (their pure-torch forms are counted through
their matrix products anyway). Not counted:
element-wise ops (activations, normalisation, additions, upsampling), RoI pooling
(``roi_align``, ``roi_align_rotated``), ``rotated_feature_align``, ``active_rotated_filter``,
NMS and box decoding (``forward_dummy`` stops before post-processing).

FLOPs are PyTorch's: one multiply-add is 2 FLOPs. MMCV's ``get_flops`` reports
multiply-adds under the name "Flops": divide ours by 2 to compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["NOT_COUNTED", "FlopsReport", "count_flops"]

NOT_COUNTED = (
    "element-wise ops (activations, normalisation, additions, upsampling)",
    "RoI pooling (roi_align, roi_align_rotated)",
    "rotated_feature_align and active_rotated_filter",
    "NMS and box decoding (post-processing)",
)


@dataclass
class FlopsReport:
    """FLOPs (2 per multiply-add) and parameters, in total and per top-level module."""

    shape: tuple[int, int, int, int]
    total_flops: int
    total_params: int
    modules: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: (flops, params)
    ops: dict[str, int] = field(default_factory=dict)  # op name: flops

    def table(self) -> str:
        """A text table: GFLOPs and millions of parameters per module, then the total."""
        rows = [("module", "GFLOPs", "params (M)")]
        for name, (flops, params) in self.modules.items():
            rows.append((name, f"{flops / 1e9:.4f}", f"{params / 1e6:.4f}"))
        rows.append(("total", f"{self.total_flops / 1e9:.4f}", f"{self.total_params / 1e6:.4f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)


def _conv_like_flops(
    input_shape, offset_shape, weight_shape, *args: Any, out_shape=None, **kwargs: Any
) -> int:
    """deform_conv2d: a convolution's count, 2 * N * C_out * H_out * W_out * (C_in / g) * kh * kw
    (the bilinear sampling of the columns is not counted)."""
    n = input_shape[0]
    c_out, c_g, kh, kw = weight_shape
    ho, wo = offset_shape[2], offset_shape[3]
    return 2 * n * c_out * ho * wo * c_g * kh * kw


def _modulated_conv_like_flops(
    input_shape, offset_shape, mask_shape, weight_shape, *args: Any, out_shape=None, **kwargs: Any
) -> int:
    """modulated_deform_conv2d: deform_conv2d's count (the mask's products and the bias are not
    counted, as a convolution's bias is not)."""
    return _conv_like_flops(input_shape, offset_shape, weight_shape)


def _custom_mapping(device: torch.device) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    try:
        import rbox_ops

        rbox_ops.backend(device)  # loads the compiled kernels when there are
        ops = torch.ops.rbox_ops  # the registry is keyed by packets
        mapping[ops.deform_conv2d] = _conv_like_flops
        mapping[ops.modulated_deform_conv2d] = _modulated_conv_like_flops
    except (ImportError, AttributeError, RuntimeError):
        return mapping
    return mapping


def count_flops(model: nn.Module, shape: Sequence[int]) -> FlopsReport:
    """FLOPs of ``model.forward_dummy`` on a zero image of ``shape`` ((H, W), (C, H, W) or
    (N, C, H, W)) on the model's device, per top-level module (``backbone``, ``neck``,
    ``bbox_head`` ...) and in total; parameters likewise.

    Raises:
        TypeError: The model has no ``forward_dummy``.
        ValueError: A shape of another length or with a non-positive size.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not hasattr(model, "forward_dummy"):
        raise TypeError(f"{type(model).__name__} has no forward_dummy: its FLOPs cannot be counted")
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1, 3, *shape)
    elif len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or min(shape) <= 0:
        raise ValueError(f"--shape {' '.join(map(str, shape))}: give H W (or C H W) of positive sizes")
    device = next(model.parameters()).device
    img = torch.zeros(shape, device=device)
    counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping(device))
    per_module: dict[str, int] = {name: 0 for name, _ in model.named_children()}
    handles = []
    for name, child in model.named_children():
        # every module inside: a ModuleList (refine heads) is never called itself, and a head's
        # forward_dummy is a method call that only its parts see
        parts = list(child.modules())
        depth = [0, 0]  # nesting, the total on entry

        def enter(_m: nn.Module, _a: Any, name: str = name, depth: list[int] = depth) -> None:
            if depth[0] == 0:
                depth[1] = counter.get_total_flops()
            depth[0] += 1

        def leave(_m: nn.Module, _a: Any, _o: Any, name: str = name, depth: list[int] = depth) -> None:
            depth[0] -= 1
            if depth[0] == 0:
                per_module[name] += counter.get_total_flops() - depth[1]

        for part in parts:
            handles += [part.register_forward_pre_hook(enter), part.register_forward_hook(leave)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            model.forward_dummy(img)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    modules = {
        name: (int(per_module[name]), sum(p.numel() for p in child.parameters()))
        for name, child in model.named_children()
    }
    other = int(counter.get_total_flops()) - sum(f for f, _ in modules.values())
    if other:  # ops run outside every child module (in the detector's own methods)
        modules["(outside modules)"] = (other, 0)
    ops = {str(op): int(v) for op, v in counter.get_flop_counts().get("Global", {}).items()}
    return FlopsReport(
        shape=shape,  # type: ignore[arg-type]
        total_flops=int(counter.get_total_flops()),
        total_params=sum(p.numel() for p in model.parameters()),
        modules=modules,
        ops=ops,
    )
