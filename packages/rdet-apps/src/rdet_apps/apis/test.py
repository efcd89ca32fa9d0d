"""Running a detector over a test set: MMDetection's ``single_gpu_test`` / ``multi_gpu_test``,
and evaluating the results with rdet-eval through the dataset's ``evaluate``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rdet_apps.progress import track
from rdet_core.structures import detections_to_result

__all__ = ["evaluate_results", "multi_gpu_test", "single_gpu_test"]

# evaluation-config keys that steer the hook, not the metric
_HOOK_KEYS = (
    "interval",
    "by_epoch",
    "save_best",
    "rule",
    "start",
    "gpu_collect",
    "tmpdir",
    "dynamic_intervals",
)


def _num_classes(model: nn.Module, dataset: Any) -> int:
    classes = getattr(dataset, "CLASSES", None) or getattr(model, "CLASSES", None)
    if classes is not None:
        return len(classes)
    return int(model.num_classes)


def single_gpu_test(
    model: nn.Module,
    loader: Iterable[Any],
    show_dir: str | os.PathLike | None = None,
    show_score_thr: float = 0.3,
    progress: bool = True,
) -> list[list[np.ndarray]]:
    """Predict every image of ``loader`` (DetBatch batches; test-time augmentation not yet);
    returns per image MMRotate's result format (a (k, 6) array per class), in dataset order.

    With ``show_dir``, each image is drawn with its detections above ``show_score_thr``.
    """
    dataset = getattr(loader, "dataset", None)
    num_classes = _num_classes(model, dataset)
    model.eval()
    device = next(model.parameters()).device
    results: list[list[np.ndarray]] = []
    items = track(loader, desc="testing") if progress else loader
    with torch.no_grad():
        for batch in items:
            if isinstance(batch, list):
                raise NotImplementedError(
                    "test-time augmentation (several scales or flips) is not supported yet"
                )
            for meta, dets in zip(batch.metas, model.predict(batch.to(device))):
                result = detections_to_result(dets.numpy(), num_classes)
                results.append(result)
                if show_dir is not None and meta.filename:
                    from rdet_apps.visualization import show_result

                    names = list(getattr(dataset, "CLASSES", None) or range(num_classes))
                    out = Path(show_dir) / Path(meta.filename).name
                    show_result(meta.filename, result, [str(n) for n in names], show_score_thr, out)
    return results


def multi_gpu_test(
    model: nn.Module, loader: Iterable[Any], progress: bool = True
) -> list[list[np.ndarray]] | None:
    """``single_gpu_test`` on every rank, results gathered on rank 0 in dataset order (None
    elsewhere). Expects an unshuffled distributed sampler (rank r gets items r, r + world, ...)."""
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    mine = single_gpu_test(model, loader, progress=progress and rank == 0)
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, mine)
    if rank != 0:
        return None
    size = len(loader.dataset)
    ordered = [gathered[i % world][i // world] for i in range(size)]
    return ordered


def evaluate_results(
    dataset: Any, results: list[list[np.ndarray]], eval_cfg: dict[str, Any] | None = None
) -> dict[str, float]:
    """``dataset.evaluate(results, ...)`` with rdet-eval's ``eval_rbbox_map`` as the scorer.

    ``eval_cfg`` is the config's ``evaluation`` dict (or ``--eval-options``); keys that steer
    the evaluation hook (interval, save_best, ...) are ignored here.
    """
    from rdet_eval import eval_rbbox_map

    kwargs = {k: v for k, v in dict(eval_cfg or {}).items() if k not in _HOOK_KEYS}
    return dataset.evaluate(results, scorer=eval_rbbox_map, **kwargs)
