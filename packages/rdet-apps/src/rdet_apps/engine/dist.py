"""Distributed training set-up: ``torchrun`` (``--launcher pytorch``) and Slurm, and seeds."""

from __future__ import annotations

import os
import random
import subprocess
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "check_gpus_per_node",
    "dist_params",
    "get_dist_info",
    "init_dist",
    "leave_process_group",
    "set_random_seed",
]


def get_dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _local_processes() -> int | None:
    """Processes of this job on this node, as the launcher says (torchrun's
    ``LOCAL_WORLD_SIZE``, Slurm's ``SLURM_NTASKS_PER_NODE``, e.g. ``4`` or ``4(x2)``)."""
    for var in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        value = os.environ.get(var, "")
        digits = value.split("(")[0].split(",")[0].strip()
        if digits.isdigit():
            return int(digits)
    return None


def check_gpus_per_node(local_rank: int, local_processes: int | None = None) -> None:
    """Fail at start when this node runs more processes than it has GPUs (each process takes
    the GPU of its local rank; CUDA would say "invalid device ordinal" later, or two
    processes would share one GPU).

    Raises:
        RuntimeError: ``N processes but M GPUs`` on this node, and how to fix it.
    """
    if not torch.cuda.is_available():
        return
    gpus = torch.cuda.device_count()
    n = max(local_processes or 0, local_rank + 1)
    if n > gpus:
        raise RuntimeError(
            f"{n} processes per node but {gpus} GPU{'s' if gpus != 1 else ''} on this node: each process "
            f"needs a GPU of its own. Start at most {gpus} (torchrun --nproc_per_node {gpus}, or fewer "
            "Slurm tasks per node), or train on the CPU with gloo by hiding the GPUs: "
            "CUDA_VISIBLE_DEVICES= torchrun ..."
        )


def dist_params(cfg: Any) -> dict[str, Any]:
    """The config's ``dist_params`` (MMRotate's ``dict(backend='nccl')``, plus a ``port`` for
    Slurm jobs that share a node) as :func:`init_dist`'s keyword arguments.

    ``backend='nccl'`` (every MMRotate config's default) where CUDA is unavailable becomes None,
    so that :func:`init_dist` picks gloo, as it does without the key.

    Raises:
        ValueError: A key other than ``backend`` and ``port``, an unknown backend, or a port
            outside 1..65535 (each named as ``dist_params.<key>``).
    """
    params = dict(cfg.get("dist_params") or {})
    unknown = sorted(set(params) - {"backend", "port"})
    if unknown:
        raise ValueError(f"dist_params: unknown key(s) {unknown}; rdet reads 'backend' and 'port'")
    backend, port = params.get("backend"), params.get("port")
    if backend is not None and backend not in ("nccl", "gloo", "mpi", "ucc"):
        raise ValueError(f"dist_params.backend must be 'nccl', 'gloo', 'mpi' or 'ucc', got {backend!r}")
    if backend == "nccl" and not torch.cuda.is_available():
        backend = None
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise ValueError(f"dist_params.port must be an integer in 1..65535, got {port!r}")
    return {"backend": backend, "port": port}


def init_dist(launcher: str, backend: str | None = None, port: int | None = None) -> tuple[int, int]:
    """Join the process group of a ``torchrun`` or Slurm launch; returns ``(rank, world_size)``.

    ``backend`` defaults to nccl where CUDA is available, else gloo. Under Slurm, the master
    address is the first node of ``SLURM_NODELIST`` and the port ``port`` (the config's
    ``dist_params.port``; as in MMCV it wins over ``MASTER_PORT``), else ``MASTER_PORT``, else
    29500; torchrun sets its own. Where CUDA is available, each process takes the GPU of its local rank, so a
    node may not run more processes than it has GPUs (``check_gpus_per_node``); to run
    several CPU processes on a machine with GPUs, hide them (``CUDA_VISIBLE_DEVICES=``).

    Raises:
        ValueError: An unknown launcher.
        RuntimeError: The environment lacks what the launcher sets (names the variable), or
            the node runs more processes than it has GPUs (names both numbers).
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
        if port is not None:
            os.environ["MASTER_PORT"] = str(port)
        os.environ.setdefault("MASTER_PORT", "29500")
        os.environ["RANK"] = os.environ["SLURM_PROCID"]
        os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
        local = os.environ.get("SLURM_LOCALID")
        os.environ.setdefault(
            "LOCAL_RANK",
            local
            if local is not None
            else str(int(os.environ["SLURM_PROCID"]) % max(torch.cuda.device_count(), 1)),
        )
    else:
        raise ValueError(f"launcher must be 'pytorch' or 'slurm', got {launcher!r}")
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        check_gpus_per_node(local_rank, _local_processes())
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return get_dist_info()


def leave_process_group() -> None:
    """Destroy the process group once this rank's collective work is done (no-op when not
    distributed). Each command calls it on success; left to the C++ static destructors at
    exit, gloo's threads were now and then still joinable and the process aborted after its
    work was done ("terminate called without an active exception", SIGABRT: 1 of 25
    two-process `rdet test` runs). Not called on an error: a rank that fails while the others
    wait in a collective would then hang in the destroy (NCCL)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


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
