"""Load MMRotate / MMDetection / torchvision checkpoints from local files (never downloads).

MMRotate's checkpoints are ``{'meta': ..., 'state_dict': ...}``; their keys are our module
paths, so they load unchanged. ``torchvision://NAME``, ``open-mmlab://NAME`` and URLs are
looked up in PyTorch's hub cache (``$TORCH_HOME/hub/checkpoints``, where mmcv would have
downloaded them: ``NAME-<hash>.pth`` or the URL's file name); when absent, the error says
how to pass a local file instead.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["CheckpointNotFoundError", "load_checkpoint", "load_state_dict", "resolve_checkpoint"]

_REMOTE = (
    "torchvision://",
    "open-mmlab://",
    "openmmlab://",
    "mmcls://",
    "modelzoo://",
    "http://",
    "https://",
)


class CheckpointNotFoundError(FileNotFoundError):
    """A checkpoint is remote (or missing) and no local copy was found; rdet never downloads."""


def _hub_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_checkpoint(filename: str | os.PathLike) -> Path:
    """The local file for ``filename``: a path, or a remote name found in the hub cache.

    Raises:
        CheckpointNotFoundError: a remote name with no cached copy, or a missing file.
    """
    name = os.fspath(filename)
    if not name.startswith(_REMOTE):
        path = Path(name).expanduser()
        if not path.is_file():
            raise CheckpointNotFoundError(f"checkpoint file {name!r} does not exist")
        return path
    stem = name.split("://", 1)[1].rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"\.(pth|pt|bin)$", "", stem)
    cache = _hub_dir()
    candidates = (
        sorted(cache.glob(f"{stem}.pth")) + sorted(cache.glob(f"{stem}-*.pth")) if cache.is_dir() else []
    )
    if candidates:
        return candidates[0]
    raise CheckpointNotFoundError(
        f"checkpoint {name!r} is remote and rdet never downloads weights. Download it yourself "
        f"and either put it in {cache} as {stem}-<hash>.pth, or pass the local file: "
        f"init_cfg=dict(type='Pretrained', checkpoint='/path/to/{stem}.pth') "
        f"(cfg_options {{'model.backbone.init_cfg.checkpoint': '/path/to/{stem}.pth'}}), "
        "or train from scratch with {'model.backbone.init_cfg': None}. Building the model does not "
        "need the file; only init_weights() does."
    )


def _extract_state_dict(checkpoint: Any) -> dict[str, torch.Tensor]:
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    elif isinstance(checkpoint, dict) and "model" in checkpoint and isinstance(checkpoint["model"], dict):
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, dict):
        raise TypeError(f"no state dict found in the checkpoint (got {type(checkpoint).__name__})")
    return checkpoint


def load_state_dict(
    module: nn.Module, state_dict: dict[str, torch.Tensor], strict: bool = False
) -> tuple[list[str], list[str]]:
    """Load ``state_dict`` (a leading ``module.`` of DDP is stripped).

    Returns (missing keys, unexpected keys). ``strict`` raises ``RuntimeError`` on either,
    and on shape mismatches; otherwise they are reported with one warning.
    """
    state_dict = OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state_dict.items())
    own = module.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
    ]
    if mismatched:
        msg = "shape mismatch while loading a checkpoint:\n  " + "\n  ".join(mismatched)
        if strict:
            raise RuntimeError(msg)
        warnings.warn(msg, stacklevel=2)
        for line in mismatched:
            state_dict.pop(line.split(":", 1)[0])
    result = module.load_state_dict(state_dict, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        msg = (
            f"checkpoint does not match {type(module).__name__}: "
            f"missing keys {missing[:20]}{' ...' if len(missing) > 20 else ''}; "
            f"unexpected keys {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''}"
        )
        if strict:
            raise RuntimeError(msg)
        warnings.warn(msg, stacklevel=2)
    return missing, unexpected


def load_checkpoint(
    module: nn.Module,
    filename: str | os.PathLike,
    map_location: str | torch.device | None = "cpu",
    strict: bool = False,
    prefix: str | None = None,
) -> dict[str, Any]:
    """Load a checkpoint file into ``module`` (mmcv's ``load_checkpoint``); returns the checkpoint.

    Args:
        filename: a local file, or ``torchvision://`` / ``open-mmlab://`` / URL found in the
            hub cache (see :func:`resolve_checkpoint`).
        prefix: load only keys starting with ``prefix + '.'``, with the prefix removed.
    """
    path = resolve_checkpoint(filename)
    checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    state_dict = _extract_state_dict(checkpoint)
    if prefix:
        p = prefix if prefix.endswith(".") else prefix + "."
        state_dict = {k[len(p) :]: v for k, v in state_dict.items() if k.startswith(p)}
        if not state_dict:
            raise KeyError(f"no key of {path} starts with {p!r}")
    load_state_dict(module, state_dict, strict=strict)
    return checkpoint if isinstance(checkpoint, dict) else {"state_dict": state_dict}
