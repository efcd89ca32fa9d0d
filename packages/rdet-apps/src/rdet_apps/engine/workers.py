"""Data-loader workers and processes from the config: MMDetection's ``compat_cfg`` for
``data.workers_per_gpu`` and its ``setup_multi_processes`` (``mp_start_method``,
``opencv_num_threads``, ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``).
"""

from __future__ import annotations

import os
import platform
import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["loader_args", "setup_multi_processes"]


def loader_args(
    data_cfg: Mapping[str, Any], split: str, dist: bool = False, seed: int | None = None
) -> dict[str, Any]:
    """``rdet_data.dataloader_args`` for ``split``, with ``data.workers_per_gpu`` reaching the
    val and test loaders too, as MMDetection's ``compat_cfg`` copies it into all three
    ``*_dataloader`` dicts (rdet-data's ``dataloader_args`` reads it for the training loader
    only). A ``data.val_dataloader`` / ``test_dataloader`` that sets ``workers_per_gpu`` itself
    wins (MMDetection lets ``data.workers_per_gpu`` overwrite it: the more specific setting is
    kept here, as for the training loader).

    Raises:
        ValueError: ``data.workers_per_gpu`` is not an integer >= 0 (or ``'auto'`` / None).
    """
    from rdet_data import dataloader_args
    from rdet_data.loader import default_workers

    args = dataloader_args(data_cfg, split, dist=dist, seed=seed)
    own = data_cfg.get(f"{split}_dataloader") or {}
    if split != "train" and "workers_per_gpu" in data_cfg and "workers_per_gpu" not in own:
        workers = data_cfg["workers_per_gpu"]
        if workers is None or workers == "auto":
            workers = default_workers()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"data.workers_per_gpu ({split}) must be an integer >= 0, got {workers!r}")
        args["workers_per_gpu"] = workers
    return args


def setup_multi_processes(cfg: Mapping[str, Any]) -> None:
    """MMDetection's ``setup_multi_processes`` for a config that sets its keys (MMRotate's
    ``default_runtime.py`` does: ``mp_start_method = 'fork'``, ``opencv_num_threads = 0``):

    - ``mp_start_method``: the start method of torch's multiprocessing (the loader workers), set
      with ``force=True`` and a warning when another one was set before (not on Windows);
    - ``opencv_num_threads``: ``cv2.setNumThreads`` in this process, so that forked workers inherit
      it; workers started by ``spawn`` / ``forkserver`` begin afresh and read
      ``OPENCV_FOR_THREADS_NUM`` (set to the same number, at least 1, unless the environment has
      it: OpenCV runs one thread as it runs none);
    - ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 1 for the processes started from now on, each
      with MMDetection's warning, when the training loader has more than one worker and the
      environment does not set them (this process's own torch threads are already fixed).

    A key the config does not set changes nothing (MMDetection's defaults, ``fork`` and 0
    OpenCV threads, apply to MMRotate's configs through ``default_runtime.py``).
    """
    method = cfg.get("mp_start_method")
    if method is not None and platform.system() != "Windows":
        import torch.multiprocessing as mp

        current = mp.get_start_method(allow_none=True)
        if current is not None and current != method:
            warnings.warn(
                f"Multi-processing start method `{method}` is different from the previous setting "
                f"`{current}`. It will be force set to `{method}`. You can change this behavior by "
                "changing `mp_start_method` in your config.",
                stacklevel=2,
            )
        mp.set_start_method(method, force=True)
    threads = cfg.get("opencv_num_threads")
    if threads is not None:
        import cv2

        cv2.setNumThreads(int(threads))
        os.environ.setdefault("OPENCV_FOR_THREADS_NUM", str(max(int(threads), 1)))
    data = cfg.get("data")
    if not isinstance(data, Mapping):
        return
    from rdet_data.loader import default_workers

    workers = (data.get("train_dataloader") or {}).get("workers_per_gpu", data.get("workers_per_gpu"))
    workers = default_workers() if workers is None or workers == "auto" else workers
    if isinstance(workers, int) and workers > 1:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            if var not in os.environ:
                warnings.warn(
                    f"Setting {var} environment variable for each process to be 1 in default, to avoid "
                    "your system being overloaded, please further tune the variable for optimal "
                    "performance in your application as needed.",
                    stacklevel=2,
                )
                os.environ[var] = "1"
