"""Checkpoints in MMRotate's format: ``{'meta': ..., 'state_dict': ..., 'optimizer': ...}``.

Written atomically (a temporary file in the same folder, then a rename), so that a run
killed while saving never leaves a truncated checkpoint behind. rdet adds what resuming
needs to ``meta`` (epoch, iteration, the RNG states, the AMP scaler); MMRotate ignores it.
Resuming loads the weights exactly (:func:`load_model_state`): a checkpoint of another model is
an error naming the file and what does not fit, not torch's bare ``RuntimeError``.
"""

from __future__ import annotations

import os
import random
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rdet_models.checkpoint import (
    CheckpointMismatchError,
    StateDictMatch,
    extract_state_dict,
    read_checkpoint,
)

__all__ = [
    "find_latest_checkpoint",
    "get_rng_state",
    "load_model_state",
    "load_state",
    "save_checkpoint",
    "set_rng_state",
    "state_dict_fit",
    "unwrap",
]


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DataParallel / DistributedDataParallel / rdet's loss wrapper."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return model


def find_latest_checkpoint(path: str | os.PathLike, suffix: str = "pth") -> str | None:
    """The checkpoint to resume from in a work dir (MMDetection's ``find_latest_checkpoint``, what
    ``--auto-resume`` uses): ``latest.<suffix>`` if there is one, else the ``*_<N>.<suffix>`` with
    the largest N (``epoch_12.pth``, ``iter_8000.pth``); files whose name ends in no number are
    passed over. None when the folder does not exist or holds none."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    latest = folder / f"latest.{suffix}"
    if latest.exists():
        return str(latest)
    best, best_path = -1, None
    for candidate in sorted(folder.glob(f"*.{suffix}")):
        count = candidate.name[: -len(suffix) - 1].rsplit("_", 1)[-1]
        if count.isdigit() and int(count) > best:
            best, best_path = int(count), str(candidate)
    return best_path


def get_rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) generator states, as tensors and plain values only:
    a checkpoint holding them loads with ``torch.load(weights_only=True)``."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generator states that ``get_rng_state`` returned (CUDA's when there is one);
    checkpoints of earlier rdet versions (numpy's and python's tuples) restore too."""
    py = state["python"]
    if isinstance(py, dict):
        py = (py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"])
    random.setstate(py)
    npy = state["numpy"]
    if isinstance(npy, dict):
        keys = np.asarray(npy["keys"].tolist(), np.uint32)
        npy = (npy["name"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    np.random.set_state(npy)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights (CPU tensors, no ``module.`` prefix), the optimizer's state and
    ``meta`` to ``path`` atomically. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = OrderedDict((k, v.detach().cpu()) for k, v in unwrap(model).state_dict().items())
    checkpoint: dict[str, Any] = {"meta": {**(meta or {}), "time": time.asctime()}, "state_dict": state_dict}
    if optimizer is not None:
        checkpoint["optimizer"] = optimizer.state_dict()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint file (ours or MMRotate's) without touching any model, weights-only
    (``rdet_models.checkpoint.read_checkpoint``: a checkpoint cannot run code).

    Raises:
        rdet_models.CheckpointNotFoundError: No such file.
        rdet_models.UnsafeCheckpointError: It holds objects a weights-only load refuses.
    """
    return read_checkpoint(path, map_location=map_location)


def state_dict_fit(model: nn.Module, state_dict: dict[str, Any]) -> StateDictMatch:
    """How ``state_dict`` fits ``model`` (unwrapped; a leading ``module.`` of DDP stripped),
    loading nothing: the keys that fit, and the missing, unexpected and shape-mismatched ones
    (``rdet_models.checkpoint.StateDictMatch``; ``num_batches_tracked`` may be missing)."""
    own = unwrap(model).state_dict()
    keys = [k[7:] if k.startswith("module.") else k for k in state_dict]
    shapes = {k: tuple(v.shape) for k, v in zip(keys, state_dict.values()) if hasattr(v, "shape")}
    mismatched = [
        f"{k}: checkpoint {shapes[k]} vs model {tuple(own[k].shape)}"
        for k in keys
        if k in own and k in shapes and shapes[k] != tuple(own[k].shape)
    ]
    bad = {line.split(":", 1)[0] for line in mismatched}
    present = set(keys)
    return StateDictMatch(
        loaded=sum(1 for k in keys if k in own and k not in bad),
        missing=[k for k in own if k not in present and not k.endswith("num_batches_tracked")],
        unexpected=[k for k in keys if k not in own],
        mismatched=mismatched,
    )


def load_model_state(model: nn.Module, checkpoint: Any, source: str | os.PathLike = "checkpoint") -> None:
    """Load a checkpoint's weights into ``model`` exactly, as resuming needs (``checkpoint``: the
    unpickled file, MMCV's ``{'state_dict': ...}`` or a state dict; ``source`` names it).

    Raises:
        rdet_models.CheckpointMismatchError: A key is missing, unexpected or of another shape
            (nothing is loaded); the message names ``source``, the model's class and counts
            and the first keys of each kind (as ``load_from``'s report).
        TypeError: ``checkpoint`` holds no state dict, naming ``source``.
    """
    name = os.fspath(source)
    state = extract_state_dict(checkpoint, name)
    target = unwrap(model)
    fit = state_dict_fit(target, state)
    if not fit.exact:
        none = ", not one key matches" if fit.loaded == 0 else ""
        raise CheckpointMismatchError(
            f"cannot resume from {name}: its weights do not fit {type(target).__name__}{none} (a "
            f"checkpoint of another model or config?): {fit.summary()}. To start from the weights "
            "that fit, use load_from (--load-from) instead"
        )
    target.load_state_dict(
        OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state.items()), strict=False
    )
