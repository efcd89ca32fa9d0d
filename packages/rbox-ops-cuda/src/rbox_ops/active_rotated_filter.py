"""active_rotated_filter: the rotated copies of oriented conv filters (ORN), mmcv's signature.

S2A-Net's ``ORConv2d`` turns its weight (O, I, nOrientation, kH, kW) into nRotation rotated
copies with it: each copy moves the kernel entries (a 90 or 45 degree turn of a 3 x 3 kernel)
and cycles the orientation channels, as ``indices`` say.
"""

from __future__ import annotations

import torch

from . import _backend
from ._checks import check_floating, check_same_device, check_tensor, compute_dtype


def active_rotated_filter(
    input: torch.Tensor, indices: torch.Tensor, *, check_indices: bool = True
) -> torch.Tensor:
    """The nRotation rotated copies of oriented filters, as mmcv.ops.active_rotated_filter.

    Args:
        input: (O, I, nOrientation, kH, kW) filters (ORConv2d's ``weight``).
        indices: (nOrientation, kH, kW, nRotation) integers, 1-based: under rotation k, entry
            l of a filter's nOrientation * kH * kW entries (row-major) moves to entry
            ``indices.view(-1, nRotation)[l, k] - 1``. Each rotation must be a permutation.
        check_indices: check that each rotation is a permutation (on a CUDA tensor this reads
            ``indices`` back to the host; callers that checked them once may pass False).

    Returns:
        (O * nRotation, I * nOrientation, kH, kW), row ``o * nRotation + k`` the k-th rotation
        of filter ``o``. Differentiable w.r.t. ``input``: the gradient of a weight entry is the
        sum of the gradients of its nRotation copies.
    """
    check_tensor("input", input, ndim=5)
    check_floating("input", input)
    check_tensor("indices", indices, ndim=4)
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise TypeError(f"indices must be an integer tensor, got dtype {indices.dtype}")
    n, kh, kw = input.shape[2:]
    if tuple(indices.shape[:3]) != (n, kh, kw) or indices.shape[3] == 0:
        raise ValueError(
            f"indices must have shape (nOrientation, kH, kW, nRotation) = ({n}, {kh}, {kw}, R >= 1) "
            f"for input of shape {tuple(input.shape)}, got {tuple(indices.shape)}"
        )
    check_same_device(input=input, indices=indices)
    if check_indices and not torch.compiler.is_compiling():
        check_indices_values(indices)
    dtype = compute_dtype(input)
    x, idx = input.to(dtype), indices.to(torch.int32).contiguous()
    if _backend.use_compiled(x.device):
        out = torch.ops.rbox_ops.active_rotated_filter(x, idx)
    else:
        out = active_rotated_filter_torch(x, idx)
    return out.to(input.dtype)


def check_indices_values(indices: torch.Tensor) -> None:
    """ValueError unless each rotation (last dimension) of ``indices`` is a permutation of 1..E,
    E = nOrientation * kH * kW."""
    rotations = indices.shape[-1]
    entries = indices.numel() // max(rotations, 1)
    if entries == 0:
        return
    flat = indices.detach().reshape(entries, rotations).to(device="cpu", dtype=torch.int64)
    expected = torch.arange(1, entries + 1).unsqueeze(1)
    bad = (flat.sort(dim=0).values != expected).any(dim=0)
    if bad.any():
        k = int(bad.nonzero()[0, 0])
        col = flat[:, k]
        raise ValueError(
            f"indices must map, for each rotation, the {entries} entries of a filter one-to-one onto "
            f"1..{entries} (1-based); rotation {k} holds values in [{int(col.min())}, {int(col.max())}] "
            f"with {entries - int(col.unique().numel())} repeated"
        )


def active_rotated_filter_torch(input: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Pure-torch active_rotated_filter: one index gather (autograd's backward sums the copies).

    Under rotation k, entry l goes to ``indices[l, k] - 1``: the inverse permutation says which
    entry lands on each place, so the rotated filters are a gather of the weight.
    """
    o, i, n, kh, kw = input.shape
    rotations = indices.shape[-1]
    entries = n * kh * kw
    target = indices.reshape(entries, rotations).long() - 1  # (E, R): where entry l goes
    source = target.argsort(dim=0)  # (E, R): which entry lands on place m
    out = input.reshape(o, i, entries)[:, :, source]  # (O, I, E, R)
    return out.permute(0, 3, 1, 2).reshape(o * rotations, i * n, kh, kw)


def register_kernels() -> None:
    """Fake kernels and autograd of the compiled op (the backward's own gradient included)."""

    @torch.library.register_fake("rbox_ops::active_rotated_filter")
    def _(input: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        o, i, n, kh, kw = input.shape
        return input.new_empty((o * indices.shape[3], i * n, kh, kw))

    @torch.library.register_fake("rbox_ops::active_rotated_filter_backward")
    def _(grad_output: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        n, kh, kw, r = indices.shape
        return grad_output.new_empty((grad_output.shape[0] // r, grad_output.shape[1] // n, n, kh, kw))

    forward_op = torch.ops.rbox_ops.active_rotated_filter
    backward_op = torch.ops.rbox_ops.active_rotated_filter_backward

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[1])

    def backward(ctx, grad):
        (indices,) = ctx.saved_tensors
        return backward_op(grad.contiguous(), indices), None

    def double_backward(ctx, grad):
        # the backward is linear in grad_output and the forward's adjoint: its gradient is the forward
        (indices,) = ctx.saved_tensors
        return forward_op(grad.contiguous(), indices), None

    torch.library.register_autograd("rbox_ops::active_rotated_filter", backward, setup_context=setup_context)
    torch.library.register_autograd(
        "rbox_ops::active_rotated_filter_backward", double_backward, setup_context=setup_context
    )
