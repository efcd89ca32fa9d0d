"""Distributed training set-up: ``torchrun`` (``--launcher pytorch``) and Slurm, and seeds."""

from __future__ import annotations

import os
import random
import subprocess

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["get_dist_info", "init_dist", "set_random_seed"]


def get_dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_dist(launcher: str, backend: str | None = None, port: int | None = None) -> tuple[int, int]:
    """Join the process group of a ``torchrun`` or Slurm launch; returns ``(rank, world_size)``.

    ``backend`` defaults to nccl where CUDA is available, else gloo. Under Slurm, the master
    address is the first node of ``SLURM_NODELIST`` and the port ``port`` or ``MASTER_PORT``
    or 29500.

    Raises:
        ValueError: An unknown launcher.
        RuntimeError: The environment lacks what the launcher sets (names the variable).
    """
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if launcher == "pytorch":
        for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            if var not in os.environ:
                raise RuntimeError(f"--launcher pytorch needs {var} in the environment: start with torchrun")
    elif launcher == "slurm":
        for var in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST"):
            if var not in os.environ:
                raise RuntimeError(f"--launcher slurm needs {var} in the environment: start with srun")
        nodes = os.environ["SLURM_NODELIST"]
        addr = subprocess.getoutput(f"scontrol show hostname {nodes} | head -n1") or nodes.split(",")[0]
        os.environ.setdefault("MASTER_ADDR", addr)
        os.environ.setdefault("MASTER_PORT", str(port or 29500))
        os.environ["RANK"] = os.environ["SLURM_PROCID"]
        os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
        os.environ.setdefault(
            "LOCAL_RANK", str(int(os.environ["SLURM_PROCID"]) % max(torch.cuda.device_count(), 1))
        )
    else:
        raise ValueError(f"launcher must be 'pytorch' or 'slurm', got {launcher!r}")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)
    return get_dist_info()


def set_random_seed(seed: int, deterministic: bool = False, rank_offset: bool = True) -> int:
    """Seed python, numpy and torch; each rank gets ``seed + rank`` unless ``rank_offset`` is
    False. ``deterministic`` also asks cuDNN and torch for deterministic algorithms.
    Returns the seed used on this rank."""
    rank, _ = get_dist_info()
    used = seed + rank if rank_offset else seed
    random.seed(used)
    np.random.seed(used % 2**32)
    torch.manual_seed(used)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    return used
