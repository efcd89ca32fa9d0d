"""``train_detector``: MMRotate's training entry point on rdet's engine, data and evaluation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rdet_apps.apis.test import evaluate_results, multi_gpu_test, single_gpu_test
from rdet_apps.engine import Runner, build_runner

__all__ = ["train_detector"]


def _evaluator(cfg: Any, distributed: bool) -> Any:
    """``evaluate(model) -> metrics`` on ``data.val``; under DDP every rank predicts its share
    and rank 0's metrics are broadcast, so that every rank takes the same decisions."""
    from rdet_data import build_dataloader, build_dataset, dataloader_args

    val_cfg = dict(cfg.data.val)
    val_cfg.pop("samples_per_gpu", None)
    dataset = build_dataset({**val_cfg, "test_mode": True})
    loader = build_dataloader(dataset, **dataloader_args(cfg.data, "val", dist=distributed))
    eval_cfg = dict(cfg.get("evaluation") or {})

    def evaluate(model: nn.Module) -> dict[str, float]:
        if not distributed:
            return evaluate_results(dataset, single_gpu_test(model, loader, progress=False), eval_cfg)
        import torch.distributed as dist

        results = multi_gpu_test(model, loader, progress=False)
        box = [evaluate_results(dataset, results, eval_cfg) if results is not None else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    return evaluate


def train_detector(
    model: nn.Module,
    dataset: Any | Sequence[Any],
    cfg: Any,
    distributed: bool = False,
    validate: bool = True,
    timestamp: str | None = None,
    meta: dict[str, Any] | None = None,
    amp: str | None = None,
    logger: logging.Logger | None = None,
) -> Runner:
    """Train ``model`` on ``dataset`` (or ``[train, val]`` for a ``('val', 1)`` workflow) as
    the config's runtime keys say, validating on ``data.val`` with ``evaluation`` when
    ``validate``. Checkpoints and logs go to ``cfg.work_dir``. Returns the finished runner.
    """
    from rdet_data import build_dataloader, dataloader_args

    datasets = list(dataset) if isinstance(dataset, (list, tuple)) else [dataset]
    workflow = [tuple(w) for w in (cfg.get("workflow") or [("train", 1)])]
    seed = cfg.get("seed")
    loaders = {
        "train": build_dataloader(
            datasets[0], **dataloader_args(cfg.data, "train", dist=distributed, seed=seed)
        )
    }
    if any(phase == "val" for phase, _ in workflow):
        if len(datasets) < 2:
            raise ValueError("the workflow has a ('val', n) phase: pass [train_dataset, val_dataset]")
        loaders["val"] = build_dataloader(
            datasets[1], **dataloader_args(cfg.data, "train", dist=distributed, seed=seed)
        )
    classes = getattr(datasets[0], "CLASSES", None)
    meta = {
        **(meta or {}),
        "CLASSES": classes,
        "num_classes": len(classes) if classes else None,
        "config": cfg.pretty_text if hasattr(cfg, "pretty_text") else str(cfg),
    }
    evaluate = (
        _evaluator(cfg, distributed)
        if validate and cfg.get("evaluation") is not None and cfg.data.get("val") is not None
        else None
    )
    runner = build_runner(
        cfg,
        model,
        cfg.work_dir,
        evaluate=evaluate,
        distributed=distributed,
        amp=amp,
        meta=meta,
        logger=logger,
    )
    if timestamp:
        runner.timestamp = timestamp
    runner.run(loaders, workflow)
    return runner


def default_device(distributed: bool) -> torch.device:
    """CUDA (this rank's GPU) when available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device() if distributed else 0)
    return torch.device("cpu")
