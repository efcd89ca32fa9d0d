"""MMRotate's ``tools/model_converters/publish_model.py``: a checkpoint to hand out."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

__all__ = ["RESUME_ONLY_META", "publish_checkpoint"]

# meta entries that only resuming reads (rdet's runner writes them)
RESUME_ONLY_META = ("rng_state", "amp_scaler")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish_checkpoint(in_file: str | os.PathLike, out_file: str | os.PathLike) -> tuple[Path, list[str]]:
    """Strip ``in_file`` of its optimizer state (and of the resume-only meta: RNG states, AMP
    scaler), save it and rename it ``<out_file without .pth>-<first 8 hex of sha256>.pth``.
    Returns the final path and what was removed.

    Raises:
        FileNotFoundError: No ``in_file``, or the folder of ``out_file`` does not exist.
        ValueError: ``in_file`` is not a checkpoint with a ``state_dict`` (or a bare state dict).
    """
    import torch

    from rdet_models.checkpoint import read_checkpoint

    in_file, out_file = Path(in_file), Path(out_file)
    if not in_file.is_file():
        raise FileNotFoundError(f"no such checkpoint: {in_file}")
    if not out_file.parent.is_dir():
        raise FileNotFoundError(f"{out_file}: the folder {out_file.parent} does not exist")
    checkpoint: Any = read_checkpoint(in_file)
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{in_file}: not a checkpoint (a {type(checkpoint).__name__}, not a dict)")
    _check_weights(in_file, checkpoint)
    removed = []
    if "optimizer" in checkpoint:
        checkpoint = {k: v for k, v in checkpoint.items() if k != "optimizer"}
        removed.append("optimizer")
    meta = checkpoint.get("meta")
    if isinstance(meta, dict):
        gone = [k for k in RESUME_ONLY_META if k in meta]
        if gone:
            checkpoint["meta"] = {k: v for k, v in meta.items() if k not in gone}
            removed += [f"meta.{k}" for k in gone]
    tmp = out_file.with_name(f".{out_file.name}.tmp-{os.getpid()}")
    try:
        torch.save(checkpoint, tmp)
        stem = out_file.name[:-4] if out_file.name.endswith(".pth") else out_file.name
        final = out_file.with_name(f"{stem}-{_sha256(tmp)[:8]}.pth")
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final, removed


def _check_weights(path: Path, checkpoint: dict) -> None:
    """Raise ValueError unless ``checkpoint`` holds weights: a ``state_dict`` of tensors, or is
    itself a non-empty dict of tensors (a bare state dict)."""
    import torch

    weights = checkpoint.get("state_dict", checkpoint)
    if not isinstance(weights, dict) or not weights:
        what = "an empty dict" if isinstance(weights, dict) else f"a {type(weights).__name__}"
        raise ValueError(f"{path}: not a checkpoint: its state_dict is {what}")
    not_tensors = [str(k) for k, v in weights.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        where = (
            "its state_dict" if "state_dict" in checkpoint else "no 'state_dict', and as a bare state dict it"
        )
        raise ValueError(
            f"{path}: not a checkpoint: {where} has entries that are not tensors ({', '.join(not_tensors[:5])})"
        )
