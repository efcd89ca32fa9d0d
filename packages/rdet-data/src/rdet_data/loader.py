"""Batches for the model: ``collate`` into ``rdet_core.structures.DetBatch``, ``build_dataloader``,
and data loaders from an MMRotate ``data = dict(...)`` config (old and new style of v0.3.0).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from rdet_core.structures import DetBatch, DetSample, GroundTruth, ImageMeta
from rdet_data.builder import build_dataset
from rdet_data.samplers import DistributedGroupSampler, DistributedSampler, GroupSampler, get_dist_info

__all__ = [
    "build_dataloader",
    "build_dataloaders",
    "collate",
    "dataloader_args",
    "worker_init_fn",
]


def _as_sample(item: Any) -> DetSample:
    if isinstance(item, DetSample):
        return item
    gt = None
    if "gt_bboxes" in item:
        boxes = torch.as_tensor(item["gt_bboxes"], dtype=torch.float32).reshape(-1, 5)
        labels = torch.as_tensor(item.get("gt_labels", torch.zeros(len(boxes))), dtype=torch.int64).reshape(
            -1
        )
        ignore = item.get("gt_bboxes_ignore")
        if ignore is not None:
            ignore = torch.as_tensor(ignore, dtype=torch.float32).reshape(-1, 5)
            lab_ign = item.get("gt_labels_ignore")
            # MMRotate never loads labels of ignored boxes: -1 marks "unknown class"
            lab_ign = (
                torch.full((len(ignore),), -1, dtype=torch.int64)
                if lab_ign is None
                else torch.as_tensor(lab_ign).long()
            )
            gt = GroundTruth(boxes, labels, ignore, lab_ign)
        else:
            gt = GroundTruth(boxes, labels)
    img = item["img"]
    img = (
        img
        if isinstance(img, torch.Tensor)
        else torch.from_numpy(np.ascontiguousarray(np.asarray(img).transpose(2, 0, 1)))
    )
    return DetSample(image=img, meta=item["img_metas"], gt=gt)


def _pad_stack(images: list[torch.Tensor]) -> torch.Tensor:
    """(N, C, H, W) float32, each image at the top left, zeros elsewhere.

    In a loader worker the result is allocated in shared memory directly (as torch's
    ``default_collate`` does), saving a copy of the batch on its way to the main process.
    """
    c = images[0].shape[0]
    h = max(int(x.shape[1]) for x in images)
    w = max(int(x.shape[2]) for x in images)
    shape = (len(images), c, h, w)
    if torch.utils.data.get_worker_info() is not None:
        numel = len(images) * c * h * w
        storage = torch.UntypedStorage._new_shared(numel * 4)
        out = torch.empty(0, dtype=torch.float32).set_(storage, 0, shape)
    else:
        out = torch.empty(shape, dtype=torch.float32)
    for i, img in enumerate(images):
        ih, iw = img.shape[1], img.shape[2]
        out[i, :, :ih, :iw] = img
        if ih < h:
            out[i, :, ih:].zero_()
        if iw < w:
            out[i, :, :ih, iw:].zero_()
    return out


def collate(batch: Sequence[Any], samples_per_gpu: int = 1) -> DetBatch | list[DetBatch]:
    """Collate the pipeline's outputs (``Collect`` dicts or ``DetSample``) into a ``DetBatch``.

    Images are padded at the bottom and right with 0 to the largest (H, W) of the batch and
    stacked as float32 ``(N, C, H, W)``; each meta's ``extra['batch_input_shape']`` is that
    ``(H, W)`` (MMDetection's detectors set it). Ground truth becomes torch tensors, or
    ``gts = None`` when the samples have none (test pipelines).

    Test-time augmentation (``MultiScaleFlipAug`` outputs: lists per key) gives one
    ``DetBatch`` per augmentation, as a list, or the ``DetBatch`` itself for a single one.
    ``samples_per_gpu`` is accepted for MMCV's signature.
    """
    if not batch:
        raise ValueError("collate: empty batch")
    first = batch[0]
    if isinstance(first, Mapping) and isinstance(first.get("img_metas"), list):
        n_aug = len(first["img_metas"])
        per_aug = [collate([{k: item[k][a] for k in item} for item in batch]) for a in range(n_aug)]
        return per_aug[0] if n_aug == 1 else per_aug
    samples = [_as_sample(item) for item in batch]
    images = _pad_stack([s.image for s in samples])
    h, w = images.shape[-2:]
    metas: list[ImageMeta] = []
    for s in samples:
        meta = copy.copy(s.meta)
        meta.extra = {**meta.extra, "batch_input_shape": (int(h), int(w))}
        metas.append(meta)
    gts = None if any(s.gt is None for s in samples) else [s.gt for s in samples]
    return DetBatch(images=images, metas=metas, gts=gts)


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int | None) -> None:
    """Seed numpy, random and torch in each worker: ``num_workers * rank + worker_id + seed``.

    Without a seed, numpy is seeded from torch's per-worker seed, so forked workers never
    repeat each other's random flips and rotations. Each worker uses one torch thread.
    """
    worker_seed = torch.initial_seed() % 2**32 if seed is None else num_workers * rank + worker_id + seed
    np.random.seed(worker_seed)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)
    # the workers are the parallelism: one torch thread each, or they fight over the cores
    # (OpenCV's thread count must not be changed in a forked child: it can hang)
    torch.set_num_threads(1)


def build_dataloader(
    dataset: Dataset,
    samples_per_gpu: int,
    workers_per_gpu: int,
    num_gpus: int = 1,
    dist: bool = True,
    shuffle: bool = True,
    seed: int | None = None,
    runner_type: str = "EpochBasedRunner",
    persistent_workers: bool = False,
    class_aware_sampler: dict | None = None,
    **kwargs: Any,
) -> DataLoader:
    """A ``DataLoader`` as MMDetection 2.x builds it, collating into ``DetBatch``.

    ``dist`` (default True, as MMDetection; one process outside ``torch.distributed``):
    per-process batches of ``samples_per_gpu`` through ``DistributedGroupSampler`` (shuffle) or
    ``DistributedSampler``. Not ``dist``: batches of ``num_gpus * samples_per_gpu`` through
    ``GroupSampler`` (shuffle) or in order. Other ``kwargs`` go to ``DataLoader``.
    """
    if runner_type != "EpochBasedRunner" and runner_type != "IterBasedRunner":
        raise ValueError(f"unknown runner_type {runner_type!r}")
    if class_aware_sampler is not None:
        raise NotImplementedError("class_aware_sampler is not supported; use ClassBalancedDataset")
    rank, world_size = get_dist_info()
    if dist:
        if shuffle:
            sampler = DistributedGroupSampler(dataset, samples_per_gpu, world_size, rank, seed=seed or 0)
        else:
            sampler = DistributedSampler(dataset, world_size, rank, shuffle=False, seed=seed or 0)
        batch_size, num_workers = samples_per_gpu, workers_per_gpu
    else:
        sampler = GroupSampler(dataset, samples_per_gpu) if shuffle else None
        batch_size, num_workers = num_gpus * samples_per_gpu, num_gpus * workers_per_gpu
    init_fn = (
        partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed) if num_workers > 0 else None
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=partial(collate, samples_per_gpu=samples_per_gpu),
        pin_memory=kwargs.pop("pin_memory", False),
        persistent_workers=persistent_workers and num_workers > 0,
        worker_init_fn=init_fn,
        **kwargs,
    )


_LOADER_KEYS = ("samples_per_gpu", "workers_per_gpu", "persistent_workers", "shuffle", "seed", "dist", "num_gpus",
                "pin_memory", "prefetch_factor", "drop_last", "runner_type")  # fmt: skip


def dataloader_args(
    data_cfg: Mapping[str, Any],
    split: str = "train",
    dist: bool = False,
    seed: int | None = None,
    num_gpus: int = 1,
) -> dict[str, Any]:
    """``build_dataloader`` arguments for ``split`` from an MMRotate ``data`` config, either style.

    Old style: ``data.samples_per_gpu`` / ``workers_per_gpu`` / ``persistent_workers`` (train
    only) and ``samples_per_gpu`` inside ``data.val`` / ``data.test``. New style (v0.3.0):
    ``data.train_dataloader`` / ``val_dataloader`` / ``test_dataloader``, which win.
    Defaults: train 2 x 2 shuffled; val / test 1 image, 2 workers, in order.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    if split == "train":
        args: dict[str, Any] = {
            "samples_per_gpu": 2,
            "workers_per_gpu": 2,
            "shuffle": True,
            "persistent_workers": False,
        }
        for key in ("samples_per_gpu", "workers_per_gpu", "persistent_workers"):
            if key in data_cfg:
                args[key] = data_cfg[key]
    else:
        args = {"samples_per_gpu": 1, "workers_per_gpu": 2, "shuffle": False, "persistent_workers": False}
        split_cfg = data_cfg.get(split)
        inner = [split_cfg] if isinstance(split_cfg, Mapping) else list(split_cfg or [])
        per_split = [c["samples_per_gpu"] for c in inner if isinstance(c, Mapping) and "samples_per_gpu" in c]
        if per_split:
            args["samples_per_gpu"] = max(per_split)
    args.update({"dist": dist, "seed": seed, "num_gpus": num_gpus})
    args.update(dict(data_cfg.get(f"{split}_dataloader") or {}))
    unknown = set(args) - set(_LOADER_KEYS)
    if unknown:
        raise KeyError(f"data.{split}_dataloader: unknown keys {sorted(unknown)}")
    return args


def _dataset_cfg(cfg: Any, test_mode: bool) -> Any:
    if isinstance(cfg, (list, tuple)):
        return [_dataset_cfg(c, test_mode) for c in cfg]
    out = {k: v for k, v in dict(cfg).items() if k != "samples_per_gpu"}
    if test_mode and "dataset" not in out and "datasets" not in out:
        out["test_mode"] = True
    return out


def build_dataloaders(
    data_cfg: Mapping[str, Any],
    splits: Sequence[str] = ("train",),
    dist: bool = False,
    seed: int | None = None,
    num_gpus: int = 1,
) -> dict[str, DataLoader]:
    """Build ``data.<split>`` datasets and their loaders from an MMRotate ``data`` config.

    val and test datasets are built with ``test_mode=True`` (as MMRotate's train and test
    tools do). Returns ``{split: DataLoader}``; ``loader.dataset`` is the dataset.
    """
    loaders = {}
    for split in splits:
        dataset = build_dataset(_dataset_cfg(data_cfg[split], test_mode=split != "train"))
        loaders[split] = build_dataloader(dataset, **dataloader_args(data_cfg, split, dist, seed, num_gpus))
    return loaders
