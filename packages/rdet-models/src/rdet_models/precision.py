"""What keeps float32 under mixed precision: the losses, and the heads' prediction layers and
the methods that decode, assign and score their predictions (MMCV's ``force_fp32``).

Under ``torch.autocast`` a convolution returns bf16 (8 significant bits) or fp16 (11). For the
layers whose outputs are the predictions that is too coarse: a class logit near the focal-loss
prior's -4.6 comes out of a bf16 convolution in steps of 1/32, so the thousands of negatives of
an image share a few values, and the loss and its gradient see that rounding on every anchor.
These layers are a few per cent of a detector's multiply-adds (Rotated RetinaNet R50 4.2%,
S2A-Net 1.0%, Oriented R-CNN 0.2%), so they run in float32 (their inputs cast up), and so does
everything downstream of them: the heads' decoding, target assignment and NMS
(:data:`FLOAT32_HEAD_METHODS`) and the losses (:func:`float32_forward`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

__all__ = [
    "FLOAT32_HEAD_METHODS",
    "HEAD_METHODS",
    "PREDICTION_LAYER_SUFFIXES",
    "Float32Method",
    "autocast_enabled",
    "float32_forward",
    "float32_predictions",
    "head_modules",
    "prediction_layers",
    "restore_predictions",
    "to_float32",
]

#: methods that make a module a head: its outputs are predictions that losses and decoding read
HEAD_METHODS = ("loss_by_feat", "get_bboxes", "predict_by_feat", "get_targets")

#: the endings of a prediction layer's attribute name: MMRotate's ``retina_cls``, ``rpn_reg``,
#: ``conv_centerness``, ``conv_angle``, ``retina_angle_cls``, ``odm_cls``, ``fc_cls``,
#: ``reppoints_pts_init_out``, Gliding Vertex's ``fc_fix`` / ``fc_ratio`` (state-dict names that
#: checkpoints fix, so the rule holds for every head of the zoo; ``test_config_sweep`` checks it)
PREDICTION_LAYER_SUFFIXES = ("_cls", "_reg", "_centerness", "_angle", "_out", "_fix", "_ratio")


def head_modules(model: nn.Module) -> Iterator[nn.Module]:
    """The heads of ``model``: its modules with one of :data:`HEAD_METHODS` (dense heads, the
    RPN, RoI box heads)."""
    for module in model.modules():
        if any(callable(getattr(type(module), name, None)) for name in HEAD_METHODS):
            yield module


def prediction_layers(head: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """A head's prediction layers as ``(name, module)``: its ``nn.Conv2d`` and ``nn.Linear``
    modules whose attribute name ends in one of :data:`PREDICTION_LAYER_SUFFIXES`."""
    for name, module in head.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and name.rsplit(".", 1)[-1].endswith(
            PREDICTION_LAYER_SUFFIXES
        ):
            yield name, module


def to_float32(value: Any) -> Any:
    """``value`` with every half-precision (fp16 / bf16) tensor in it cast to float32: a tensor,
    or nested lists, tuples (named tuples keep their type) and dicts of them."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in (torch.float16, torch.bfloat16) else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(to_float32(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: to_float32(v) for k, v in value.items()}
    return value


def autocast_enabled(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` ('cpu', 'cuda' ...) in this thread."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
        if isinstance(value, (list, tuple)):
            found = _first_tensor(tuple(value), {})
            if found is not None:
                return found
    return None


def float32_forward(forward: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a loss module's ``forward`` to run in float32 under autocast (MMCV's
    ``force_fp32`` on the losses): autocast off, half-precision tensor arguments cast to
    float32. Without autocast the call is unchanged. Every rdet loss is decorated: a loss's
    matrix products (the Gaussian losses' 2x2 covariances, their determinants) would otherwise
    run in bf16, which ``torch.linalg`` refuses on the CPU."""

    @functools.wraps(forward)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        first = _first_tensor(args, kwargs)
        if first is None or not autocast_enabled(first.device.type):
            return forward(self, *args, **kwargs)
        with torch.autocast(first.device.type, enabled=False):
            return forward(self, *to_float32(args), **to_float32(kwargs))

    return wrapper


class Float32Method:
    """A module's own method ``name`` (``forward``, ``loss_by_feat`` ...) that, under autocast,
    runs with autocast off on float32 copies of its half-precision tensor arguments; without
    autocast it is the plain call. What :func:`float32_predictions` sets on an instance (it keeps
    the module, not a bound method, so the model still deep-copies and pickles)."""

    def __init__(self, module: nn.Module, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        method = getattr(type(self.module), self.name)
        first = _first_tensor(args, kwargs)
        if first is None or not autocast_enabled(first.device.type):
            return method(self.module, *args, **kwargs)
        with torch.autocast(first.device.type, enabled=False):
            return method(self.module, *to_float32(args), **to_float32(kwargs))


#: a head's methods that take its predictions (not features) and decode, assign or score them:
#: MMCV's ``force_fp32`` methods. Under autocast a matrix product there (the FCOS coder's
#: rotation, the point-set heads' Gaussians) would run in bf16 on float32 inputs.
FLOAT32_HEAD_METHODS = (
    "loss_by_feat",
    "loss",
    "get_targets",
    "get_bboxes",
    "predict_by_feat",
    "proposals_by_feat",
    "refine_bboxes",
    "filter_bboxes",
    "regress_by_class",
)


def float32_predictions(model: nn.Module) -> list[str]:
    """Keep every head's predictions in float32 under autocast (in place; parameters, state dict
    and results without autocast unchanged; idempotent): its prediction layers
    (:func:`prediction_layers`) run in float32, and so do its methods that decode, assign and
    score predictions (:data:`FLOAT32_HEAD_METHODS`, those it has). Returns the prediction
    layers' qualified names."""
    names = {id(m): n for n, m in model.named_modules()}
    done = []
    for head in head_modules(model):
        for _, layer in prediction_layers(head):
            if not isinstance(layer.__dict__.get("forward"), Float32Method):
                layer.forward = Float32Method(layer, "forward")
            done.append(names[id(layer)])
        for method in FLOAT32_HEAD_METHODS:
            if callable(getattr(type(head), method, None)) and not isinstance(
                head.__dict__.get(method), Float32Method
            ):
                setattr(head, method, Float32Method(head, method))
    return list(dict.fromkeys(done))


def restore_predictions(model: nn.Module) -> None:
    """Undo :func:`float32_predictions`: the layers and methods follow autocast again."""
    for module in model.modules():
        for name, value in list(module.__dict__.items()):
            if isinstance(value, Float32Method):
                delattr(module, name)
