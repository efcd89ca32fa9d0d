"""``train_detector``: MMRotate's training entry point on rdet's engine, data and evaluation.

On a GPU it also sets what feeds the device: the data loaders keep their worker processes
between epochs (``persistent_workers``, unless the config's ``data`` says otherwise; starting
workers every epoch costs more than a short epoch on a GPU) and keep them loading across an
epoch's end (rdet-data's ``EpochSpanningLoader``), the runner copies batches ahead
from pinned memory, and cuDNN picks its fastest convolutions for the input size
(``cudnn_benchmark``, MMDetection's config key; on by default on CUDA, off with
``--deterministic`` or ``cudnn_benchmark = False``). On the CPU nothing of this changes: the
same workers as before and the same loss curve for a seed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rdet_apps.apis.test import evaluate_results, multi_gpu_test, single_gpu_test
from rdet_apps.engine import Runner, build_runner

__all__ = ["check_val_classes", "train_detector"]


def check_val_classes(train_classes: Any, val_classes: Any, val: str = "data.val") -> None:
    """The validation set's classes are the training set's, in the same order: the model's label
    k is scored as the validation set's class k (MMRotate scores it anyway: ``data.train.classes
    = ('small-vehicle', 'large-vehicle')`` with ``data.val.classes`` reversed trains and picks
    ``save_best`` on a swapped mAP). ``NumClassCheckHook`` compares the counts only; ``rdet
    test`` checks a checkpoint against the test set the same way (``check_classes``).

    Raises:
        ValueError: Both are known and differ, naming both lists.
    """
    if train_classes is None or val_classes is None:
        return
    if tuple(train_classes) != tuple(val_classes):
        how = "in another order" if sorted(train_classes) == sorted(val_classes) else "other classes"
        raise ValueError(
            f"{val} has the classes {list(val_classes)}, data.train {list(train_classes)} ({how}): the "
            f"model's label k would be scored as {val}'s class k; give both the same classes in the "
            "same order (data.train.classes, data.val.classes)"
        )


def _says_persistent(data_cfg: Any, split: str) -> bool:
    """Whether the config's ``data`` sets ``persistent_workers`` for ``split`` itself."""
    inner = data_cfg.get(f"{split}_dataloader") or {}
    return "persistent_workers" in inner or (split == "train" and "persistent_workers" in data_cfg)


def _shared_seed(seed: int | None) -> int | None:
    """Rank 0's seed on every rank (MMDetection's ``sync_random_seed``): a distributed sampler
    shuffles with ``seed + epoch`` on each rank, and ranks that shuffled differently (``rdet train
    --diff-seed`` seeds each rank with ``seed + rank``) would share and miss samples."""
    import torch.distributed as dist

    if seed is None or not (dist.is_available() and dist.is_initialized()):
        return seed
    box = [seed]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _loader_args(
    cfg: Any, split: str, distributed: bool, on_gpu: bool, seed: int | None = None
) -> dict[str, Any]:
    """``loader_args`` for ``split`` (``data.workers_per_gpu`` reaches every split, as
    MMDetection's ``compat_cfg``); on a GPU, workers persist unless the config says."""
    from rdet_apps.engine.workers import loader_args

    args = loader_args(cfg.data, split, dist=distributed, seed=_shared_seed(seed) if distributed else seed)
    if on_gpu and not _says_persistent(cfg.data, split):
        args["persistent_workers"] = True
    return args


def _model_on_gpu(model: nn.Module) -> bool:
    p = next(model.parameters(), None)
    return p is not None and p.is_cuda


def _cudnn_benchmark(cfg: Any, on_gpu: bool) -> bool:
    """Let cuDNN time its algorithms on the first batches of each input size and keep the
    fastest (fixed-size inputs, as DOTA's 1024 patches: faster steps), unless the config says
    ``cudnn_benchmark = False`` or the run is deterministic."""
    wanted = cfg.get("cudnn_benchmark")
    enable = on_gpu and not torch.backends.cudnn.deterministic and (wanted is None or bool(wanted))
    if on_gpu:
        torch.backends.cudnn.benchmark = enable
    return enable


def _evaluator(cfg: Any, distributed: bool, on_gpu: bool = False, train_classes: Any = None) -> Any:
    """``evaluate(model) -> metrics`` on ``data.val``; under DDP every rank predicts its share
    and rank 0's metrics are broadcast, so that every rank takes the same decisions. The
    validation set's classes must be ``train_classes`` (:func:`check_val_classes`)."""
    from rdet_data import build_dataloader, build_dataset

    val_cfg = dict(cfg.data.val)
    val_cfg.pop("samples_per_gpu", None)
    dataset = build_dataset({**val_cfg, "test_mode": True})
    check_val_classes(train_classes, getattr(dataset, "CLASSES", None))
    loader = build_dataloader(dataset, **_loader_args(cfg, "val", distributed, on_gpu))
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
    from rdet_data import build_dataloader

    datasets = list(dataset) if isinstance(dataset, (list, tuple)) else [dataset]
    workflow = [tuple(w) for w in (cfg.get("workflow") or [("train", 1)])]
    seed = cfg.get("seed")
    on_gpu = _model_on_gpu(model)
    _cudnn_benchmark(cfg, on_gpu)
    train_args = _loader_args(cfg, "train", distributed, on_gpu, seed)
    loaders = {"train": build_dataloader(datasets[0], **train_args)}
    if any(phase == "val" for phase, _ in workflow):
        if len(datasets) < 2:
            raise ValueError("the workflow has a ('val', n) phase: pass [train_dataset, val_dataset]")
        check_val_classes(
            getattr(datasets[0], "CLASSES", None), getattr(datasets[1], "CLASSES", None), "the ('val', n) set"
        )
        loaders["val"] = build_dataloader(datasets[1], **train_args)
    classes = getattr(datasets[0], "CLASSES", None)
    meta = {
        **(meta or {}),
        "CLASSES": classes,
        "num_classes": len(classes) if classes else None,
        "config": cfg.pretty_text if hasattr(cfg, "pretty_text") else str(cfg),
    }
    evaluate = (
        _evaluator(cfg, distributed, on_gpu, classes)
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
    if hasattr(datasets[0], "summary"):  # objects per class, what was dropped and why, unseen classes
        runner.logger.info("training set:\n%s", datasets[0].summary())
    runner.run(loaders, workflow)
    return runner


def default_device(distributed: bool) -> torch.device:
    """CUDA (this rank's GPU) when available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device() if distributed else 0)
    return torch.device("cpu")
