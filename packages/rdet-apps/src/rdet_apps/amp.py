"""Automatic mixed precision (AMP): the setting's names and checks, and how a model runs under it.

One setting for every entry point: ``rdet train / test / infer / benchmark --amp {bf16,fp16}``
(``--amp`` alone: ``'auto'``), ``init_detector(..., amp=...)``, ``Runner(amp=...)`` and a config's
top-level key ``amp = 'bf16'`` (MMCV's ``fp16 = dict(loss_scale=...)`` still means "mixed
precision in training": fp16 on CUDA, bf16 elsewhere).

- ``'bf16'``: ``torch.autocast`` with bfloat16 (8 significant bits, float32's range: no loss
  scale needed). The CPU's fast path where it has native bf16 (AVX-512 BF16, AMX); on a CPU
  without them oneDNN emulates it and bf16 is slower than float32.
- ``'fp16'``: float16 (11 significant bits, range up to 65504): on CUDA, and on the CPU where
  this torch's CPU autocast supports it; training then scales the loss (``GradScaler``).
- ``'auto'``: fp16 on CUDA, bf16 elsewhere.

Under AMP the convolutions and matrix products run in the low precision except the heads'
prediction layers (``retina_cls``, ``fc_reg`` ...), which stay float32; the heads' outputs are
float32, and the heads' decoding, target assignment and NMS and the losses run in float32 with
autocast off (MMCV's ``force_fp32``), so detections are float32.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where it is used: the CLI's parsers load without it
    import torch
    from torch import nn

__all__ = [
    "AMP_MODES",
    "AmpError",
    "add_amp_argument",
    "amp_dtype",
    "autocast",
    "check_amp",
    "config_amp",
    "cpu_has_native",
    "enable_inference_amp",
    "float32_head_outputs",
    "head_modules",
    "resolve_amp",
]

#: the values an AMP setting takes (besides None: off)
AMP_MODES = ("bf16", "fp16", "auto")

_DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16"}


class AmpError(ValueError):
    """A bad AMP setting (unknown value, or a precision this device or torch cannot run); the
    message names where the setting came from (``--amp``, the config key ``amp`` ...)."""


def check_amp(value: Any, source: str = "amp") -> str | None:
    """``value`` as an AMP mode: None (off; also ``False``, ``'none'``), ``'bf16'``, ``'fp16'``
    or ``'auto'``.

    Raises:
        AmpError: Anything else; the message names ``source`` (``'amp'``: the config key).
    """
    if value is None or value is False or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, str) and value in AMP_MODES:
        return value
    raise AmpError(
        f"{source}: {value!r} is not a mixed-precision mode; use 'bf16', 'fp16', 'auto' or None (off)"
    )


def _dtype(mode: str) -> torch.dtype:
    import torch

    return getattr(torch, _DTYPE_NAMES[mode])


def _device_type(device: str | torch.device) -> str:
    import torch

    return torch.device(device).type


@functools.cache
def _cpu_autocast_supports(dtype: torch.dtype) -> bool:
    """Whether this torch's CPU autocast runs ``dtype`` (it disables itself, with a warning,
    for a dtype it does not support)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.autocast("cpu", dtype=dtype):
                return torch.is_autocast_enabled("cpu")
        except (RuntimeError, TypeError):
            return False


def cpu_has_native(mode: str) -> bool:
    """Whether this CPU computes ``mode`` (``'bf16'``, ``'fp16'``) natively: bf16 with AVX-512
    BF16 or AMX tiles, fp16 with AMX-FP16 (torch's CPU feature probes). Elsewhere oneDNN emulates
    it: measured on an AVX2 CPU, a bf16 3x3 convolution is 7x (channels-last) to 170x (NCHW)
    slower than float32's."""
    import torch

    probes = {
        "bf16": ("_is_avx512_bf16_supported", "_is_amx_tile_supported"),
        "fp16": ("_is_amx_fp16_supported",),
    }
    for probe in probes[mode]:
        check = getattr(torch.cpu, probe, None)
        if check is not None and check():
            return True
    return False


def resolve_amp(value: Any, device: str | torch.device, source: str = "amp") -> str | None:
    """The mode ``value`` stands for on ``device``: None, ``'bf16'`` or ``'fp16'`` (``'auto'``:
    fp16 on CUDA, bf16 elsewhere).

    Raises:
        AmpError: An unknown value, or a precision ``device`` cannot run under this torch
            (fp16 where CPU autocast lacks it, bf16 on a GPU without it); names ``source``.
    """
    import torch

    mode = check_amp(value, source)
    if mode is None:
        return None
    kind = _device_type(device)
    if mode == "auto":
        mode = "fp16" if kind == "cuda" else "bf16"
    dtype = _dtype(mode)
    if kind == "cpu" and not _cpu_autocast_supports(dtype):
        raise AmpError(
            f"{source}: {mode} on the CPU needs a torch whose CPU autocast supports {dtype} "
            f"(this is torch {torch.__version__}); use 'bf16'"
        )
    if kind == "cpu" and not cpu_has_native(mode):
        warnings.warn(
            f"{source}: this CPU has no native {mode} arithmetic (bf16: AVX-512 BF16 or AMX; fp16: "
            f"AMX-FP16): {mode} autocast is emulated here and runs several times slower than float32",
            stacklevel=2,
        )
    if kind == "cuda" and mode == "bf16" and not torch.cuda.is_bf16_supported():
        raise AmpError(f"{source}: this GPU has no bf16; use 'fp16'")
    if kind not in ("cpu", "cuda") and not torch.amp.is_autocast_available(kind):
        raise AmpError(f"{source}: torch has no autocast for device type {kind!r}")
    return mode


def amp_dtype(mode: str | None) -> torch.dtype | None:
    """torch's dtype of a resolved mode (``'bf16'`` -> ``torch.bfloat16``), None for None."""
    return None if mode is None else _dtype(mode)


def config_amp(cfg: Mapping[str, Any]) -> str | None:
    """The config's top-level ``amp`` key, checked (None when absent).

    Raises:
        AmpError: A value that is not an AMP mode, named as the config key ``amp``.
    """
    return check_amp(cfg.get("amp") if hasattr(cfg, "get") else None, "config key amp")


def autocast(mode: str | None, device: str | torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for a resolved mode on ``device``; a disabled one for None."""
    import torch

    kind = _device_type(device)
    if mode is None:
        return torch.autocast(kind, enabled=False)
    return torch.autocast(kind, dtype=_dtype(mode))


def head_modules(model: nn.Module) -> Iterator[nn.Module]:
    """The heads of ``model`` (:func:`rdet_models.precision.head_modules`)."""
    from rdet_models.precision import head_modules as _heads

    return _heads(model)


def _cast_hook(module: nn.Module, args: Any, output: Any) -> Any:
    from rdet_models.precision import to_float32

    return to_float32(output)


def float32_head_outputs(model: nn.Module) -> list[torch.utils.hooks.RemovableHandle]:
    """Predictions in float32 under AMP (MMCV's ``force_fp32``, and more):

    - every head's prediction layers (``retina_cls``, ``rpn_reg``, ``fc_cls`` ...) run in float32,
      and so do its methods that decode, assign and score predictions (``loss_by_feat``,
      ``predict_by_feat``, ``get_targets`` ...: :func:`rdet_models.precision.float32_predictions`;
      bf16's 8 significant bits rounded class logits near the prior's -4.6 in steps of 1/32);
    - what every head returns from ``forward`` (nested tuples / lists / dicts of tensors: per-level
      class scores, box deltas ...) is cast to float32 when it is half precision, so decoding,
      scores, NMS and losses run in float32.

    A head is a module with ``loss_by_feat``, ``get_bboxes``, ``predict_by_feat`` or
    ``get_targets``. Idempotent. Returns the cast hooks' handles; ``enable_inference_amp(model,
    None)`` undoes both."""
    from rdet_models.precision import float32_predictions

    float32_predictions(model)
    handles = []
    for head in head_modules(model):
        if getattr(head, "_rdet_float32_outputs", None) is None:
            head._rdet_float32_outputs = head.register_forward_hook(_cast_hook)
        handles.append(head._rdet_float32_outputs)
    return handles


class _AutocastPredict:
    """``model.predict`` under autocast: what ``enable_inference_amp`` puts on the instance."""

    def __init__(self, predict: Callable[..., Any], mode: str, device: torch.device) -> None:
        self.__wrapped__ = predict
        self.mode, self.device = mode, device
        functools.update_wrapper(self, predict)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with autocast(self.mode, self.device):
            return self.__wrapped__(*args, **kwargs)


def enable_inference_amp(model: nn.Module, mode: str | None) -> nn.Module:
    """Make ``model.predict`` (which every inference path calls: ``inference_detector``,
    huge-image patches, ``rdet test``, ``rdet benchmark``, serving) run under autocast for a
    resolved ``mode``, with the heads' outputs in float32 (:func:`float32_head_outputs`), so
    detections, NMS and decoding are float32. Sets ``model.amp`` to the mode. In place; returns
    ``model``. None turns AMP off again."""
    current = model.__dict__.get("predict")
    if isinstance(current, _AutocastPredict):
        del model.__dict__["predict"]
    model.amp = mode
    import torch

    if mode is None:
        for head in head_modules(model):
            handle = head.__dict__.pop("_rdet_float32_outputs", None)
            if handle is not None:
                handle.remove()
        from rdet_models.precision import restore_predictions

        restore_predictions(model)
        return model
    float32_head_outputs(model)
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    model.__dict__["predict"] = _AutocastPredict(type(model).predict.__get__(model), mode, device)
    return model


def add_amp_argument(parser: argparse.ArgumentParser, training: bool = False) -> None:
    """``--amp [{bf16,fp16,auto}]`` (alone: ``auto``) on a command's parser; default None: the
    config's ``amp`` key (training: else MMCV's ``fp16`` key)."""
    where = "training" if training else "inference"
    parser.add_argument(
        "--amp",
        nargs="?",
        const="auto",
        choices=AMP_MODES,
        default=None,
        help=f"mixed-precision {where}: bf16, fp16, or auto (the flag alone: fp16 on CUDA, bf16 on "
        "the CPU); default: the config's `amp` key"
        + (" (else MMCV's `fp16` key)" if training else "")
        + ". bf16 pays on CPUs with AVX-512 BF16 or AMX and on GPUs; elsewhere it is slower",
    )
