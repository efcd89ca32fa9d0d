"""Batches for the model: ``collate`` into ``rdet_core.structures.DetBatch``, ``build_dataloader``,
and data loaders from an MMRotate ``data = dict(...)`` config (old and new style of v0.3.0).
"""

from __future__ import annotations

import copy
import difflib
import os
import random
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from rdet_core.structures import (
    SAMPLE_CONTRACT,
    DetBatch,
    DetSample,
    GroundTruth,
    ImageMeta,
    InvalidSampleError,
)
from rdet_data.builder import build_dataset
from rdet_data.epoch_spanning import EpochSpanningLoader
from rdet_data.samplers import DistributedGroupSampler, DistributedSampler, GroupSampler, get_dist_info

__all__ = [
    "LOADER_KEYS",
    "build_dataloader",
    "build_dataloaders",
    "collate",
    "dataloader_args",
    "default_workers",
    "worker_init_fn",
]


def _dataset_name(dataset: Any) -> str:
    """``DOTADataset``, ``RepeatDataset(DOTADataset)``, ``ConcatDataset(DOTADataset, HRSCDataset)``."""
    name = type(dataset).__name__
    inner = getattr(dataset, "dataset", None)  # RepeatDataset, ClassBalancedDataset, Subset ...
    if inner is not None and hasattr(inner, "__getitem__") and not isinstance(inner, (str, bytes, Mapping)):
        return f"{name}({_dataset_name(inner)})"
    inners = getattr(dataset, "datasets", None)  # ConcatDataset
    if isinstance(inners, Sequence) and not isinstance(inners, (str, bytes)) and inners:
        names = list(dict.fromkeys(_dataset_name(d) for d in inners))
        return f"{name}({', '.join(names)})"
    return name


def _as_sample(item: Any, source: str) -> DetSample:
    """The checked ``DetSample`` of one item (a ``DetSample`` or a ``Collect`` dict)."""
    if isinstance(item, DetSample):
        item.validate(source)
        return item
    if isinstance(item, Mapping):
        return DetSample.from_mapping(item, source)
    what = "None (did a transform return None?)" if item is None else f"a {type(item).__name__}"
    raise InvalidSampleError(f"{source} is {what}: {SAMPLE_CONTRACT}")


def _positive_strides(arr: np.ndarray) -> np.ndarray:
    """``arr``, or a copy where it has negative strides (flips), which torch cannot share."""
    return arr.copy() if any(st < 0 for st in arr.strides) else arr


def _tensor(x: Any, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(dtype)
    return torch.as_tensor(_positive_strides(np.asarray(x)), dtype=dtype)


def _image_tensor(x: Any) -> torch.Tensor:
    """A (C, H, W) numpy array or tensor as a tensor, without a copy where torch can share it."""
    if isinstance(x, torch.Tensor):
        return x
    arr = np.asarray(x)
    if (arr.dtype.kind == "u" and arr.dtype.itemsize > 1) or arr.dtype.kind not in "uif":
        arr = arr.astype(np.float32)
    return torch.from_numpy(_positive_strides(arr))


def _torch_gt(gt: GroundTruth) -> GroundTruth:
    """float32 boxes, int64 labels, as torch tensors."""
    return GroundTruth(
        _tensor(gt.boxes, torch.float32).reshape(-1, 5),
        _tensor(gt.labels, torch.int64).reshape(-1),
        _tensor(gt.boxes_ignore, torch.float32).reshape(-1, 5),
        _tensor(gt.labels_ignore, torch.int64).reshape(-1),
    )


def _split_augmentations(batch: Sequence[Any], sources: list[str]) -> list[list[dict[str, Any]]] | None:
    """``MultiScaleFlipAug`` outputs (a list per key) -> one list of items per augmentation;
    None when no item is such an output."""
    tta = [isinstance(it, Mapping) and isinstance(it.get("img_metas"), (list, tuple)) for it in batch]
    if not any(tta):
        return None
    first = tta.index(True)
    n_aug = len(batch[first]["img_metas"])
    for i, item in enumerate(batch):
        if not tta[i]:
            raise InvalidSampleError(
                f"{sources[i]} is one image but item {first} has a list of {n_aug} augmentations "
                "(MultiScaleFlipAug): a batch holds one kind"
            )
        for key, value in item.items():
            if not isinstance(value, (list, tuple)) or len(value) != n_aug:
                got = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else type(value).__name__
                raise InvalidSampleError(
                    f"{sources[i]}: {key!r} must be a list of {n_aug} (one per augmentation, as "
                    f"'img_metas' of item {first}), got {got}"
                )
    if n_aug == 0:
        raise InvalidSampleError(f"{sources[first]}: 'img_metas' is an empty list (no augmentation)")
    return [[{k: item[k][a] for k in item} for item in batch] for a in range(n_aug)]


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


def collate(batch: Sequence[Any], samples_per_gpu: int = 1, dataset: Any = None) -> DetBatch | list[DetBatch]:
    """Check the items of a batch and collate them into a ``DetBatch``.

    Each item is what a dataset's ``__getitem__`` returns: a ``DetSample``, or MMRotate's
    ``Collect`` dict (``img``, ``img_metas``[, ``gt_bboxes``, ``gt_labels``,
    ``gt_bboxes_ignore``]); see ``rdet_core.structures.DetSample`` for the contract. An item
    that breaks it raises ``InvalidSampleError`` (a ``ValueError``) naming the field, the
    item's index in the batch, its file and ``dataset``.

    Images are padded at the bottom and right with 0 to the largest (H, W) of the batch and
    stacked as float32 ``(N, C, H, W)``; each meta's ``extra['batch_input_shape']`` is that
    ``(H, W)`` (MMDetection's detectors set it). Ground truth becomes torch tensors (float32
    boxes, int64 labels), or ``gts = None`` when the items have none (test pipelines).

    Test-time augmentation (``MultiScaleFlipAug`` outputs: lists per key) gives one
    ``DetBatch`` per augmentation, as a list, or the ``DetBatch`` itself for a single one.

    Args:
        batch: The items.
        samples_per_gpu: Accepted for MMCV's signature.
        dataset: The dataset (or its name) for error messages; ``build_dataloader`` sets it.

    Raises:
        InvalidSampleError: An item breaks the contract, or items disagree (ground truth in
            some only, different channel counts).
    """
    if not batch:
        raise ValueError("collate: empty batch")
    name = dataset if isinstance(dataset, str) or dataset is None else _dataset_name(dataset)
    sources = [f"collate: item {i}" + (f" ({name})" if name else "") for i in range(len(batch))]
    augmentations = _split_augmentations(batch, sources)
    if augmentations is not None:
        per_aug = [
            _collate_samples(
                [_as_sample(item, f"{src}, augmentation {a}") for item, src in zip(items, sources)], sources
            )
            for a, items in enumerate(augmentations)
        ]
        return per_aug[0] if len(per_aug) == 1 else per_aug
    return _collate_samples([_as_sample(item, src) for item, src in zip(batch, sources)], sources)


def _collate_samples(samples: list[DetSample], sources: list[str]) -> DetBatch:
    where = [
        src + (f", file {s.meta.filename}" if s.meta.filename else "") for s, src in zip(samples, sources)
    ]
    channels = int(samples[0].image.shape[0])
    for i, s in enumerate(samples):
        if int(s.image.shape[0]) != channels:
            raise InvalidSampleError(
                f"{where[i]} has {int(s.image.shape[0])} channels but item 0 has {channels}: "
                "images of a batch must have the same number of channels"
            )
    with_gt = [s.gt is not None for s in samples]
    if any(with_gt) and not all(with_gt):
        i, j = with_gt.index(False), with_gt.index(True)
        raise InvalidSampleError(
            f"{where[i]} has no ground truth but item {j} has: a batch is all training samples "
            "(gt_bboxes, gt_labels; an image without objects has (0, 5) boxes) or all test samples"
        )
    images = _pad_stack([_image_tensor(s.image) for s in samples])
    h, w = images.shape[-2:]
    metas: list[ImageMeta] = []
    for s in samples:
        meta = copy.copy(s.meta)
        meta.extra = {**meta.extra, "batch_input_shape": (int(h), int(w))}
        metas.append(meta)
    gts = [_torch_gt(s.gt) for s in samples] if all(with_gt) else None  # type: ignore[arg-type]
    return DetBatch(images=images, metas=metas, gts=gts)


def default_workers(processes_per_node: int | None = None, max_workers: int = 8) -> int:
    """Loader workers per process when the config does not say (``workers_per_gpu``): the
    CPUs this process may use, shared among the training processes of the node
    (``processes_per_node``, default torchrun's ``LOCAL_WORLD_SIZE`` or 1), one left to each
    main process; at least 2 (MMDetection's default), at most ``max_workers``. On 2 cores: 2;
    on 16 cores with one GPU: 8."""
    if processes_per_node is None:
        local = os.environ.get("LOCAL_WORLD_SIZE", "")
        processes_per_node = int(local) if local.isdigit() else 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    per_process = cpus // max(int(processes_per_node), 1)
    return max(2, min(int(max_workers), per_process - 1))


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
    workers_per_gpu: int | str | None,
    num_gpus: int = 1,
    dist: bool = True,
    shuffle: bool = True,
    seed: int | None = None,
    runner_type: str = "EpochBasedRunner",
    persistent_workers: bool = False,
    class_aware_sampler: dict | None = None,
    **kwargs: Any,
) -> DataLoader | EpochSpanningLoader:
    """A ``DataLoader`` as MMDetection 2.x builds it, collating into ``DetBatch``.

    ``dist`` (default True, as MMDetection; one process outside ``torch.distributed``):
    per-process batches of ``samples_per_gpu`` through ``DistributedGroupSampler`` (shuffle) or
    ``DistributedSampler``. Not ``dist``: batches of ``num_gpus * samples_per_gpu`` through
    ``GroupSampler`` (shuffle) or in order. ``workers_per_gpu`` None or ``'auto'``:
    ``default_workers()`` (from the CPUs this process may use). Other ``kwargs`` go to
    ``DataLoader``.

    ``persistent_workers`` with workers: an ``EpochSpanningLoader``, whose workers load the
    next epoch's first batches while this epoch ends; its ``GroupSampler`` then draws each
    epoch from ``seed + epoch`` (0 without a seed), not from numpy's global state.
    """
    if runner_type != "EpochBasedRunner" and runner_type != "IterBasedRunner":
        raise ValueError(f"unknown runner_type {runner_type!r}")
    if workers_per_gpu is None or workers_per_gpu == "auto":
        workers_per_gpu = default_workers()
    if class_aware_sampler is not None:
        raise NotImplementedError("class_aware_sampler is not supported; use ClassBalancedDataset")
    rank, world_size = get_dist_info()
    spanning = bool(persistent_workers) and int(workers_per_gpu) > 0
    if dist:
        if shuffle:
            sampler = DistributedGroupSampler(dataset, samples_per_gpu, world_size, rank, seed=seed or 0)
        else:
            sampler = DistributedSampler(dataset, world_size, rank, shuffle=False, seed=seed or 0)
        batch_size, num_workers = samples_per_gpu, workers_per_gpu
    else:
        sampler = (
            GroupSampler(dataset, samples_per_gpu, seed=(seed or 0) if spanning else None)
            if shuffle
            else None
        )
        batch_size, num_workers = num_gpus * samples_per_gpu, num_gpus * workers_per_gpu
    init_fn = (
        partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed) if num_workers > 0 else None
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=partial(collate, samples_per_gpu=samples_per_gpu, dataset=_dataset_name(dataset)),
        pin_memory=kwargs.pop("pin_memory", False),
        persistent_workers=False,  # an EpochSpanningLoader keeps them, across epochs too
        worker_init_fn=init_fn,
        **kwargs,
    )
    return EpochSpanningLoader(loader) if spanning else loader


#: The keys of ``data.{train,val,test}_dataloader`` (``build_dataloader``'s arguments).
LOADER_KEYS = ("samples_per_gpu", "workers_per_gpu", "persistent_workers", "shuffle", "seed", "dist", "num_gpus",
                "pin_memory", "prefetch_factor", "drop_last", "runner_type")  # fmt: skip


def dataloader_args(
    data_cfg: Mapping[str, Any],
    split: str = "train",
    dist: bool = False,
    seed: int | None = None,
    num_gpus: int = 1,
) -> dict[str, Any]:
    """``build_dataloader`` arguments for ``split`` from an MMRotate ``data`` config, either style.

    Old style: ``data.samples_per_gpu`` (or its older name ``imgs_per_gpu``, as MMRotate's
    train_detector takes it) / ``persistent_workers`` (train only), ``workers_per_gpu`` (every
    split, as MMDetection's ``compat_cfg`` copies it into all three loaders) and
    ``samples_per_gpu`` inside ``data.val`` / ``data.test``. New style (v0.3.0):
    ``data.train_dataloader`` / ``val_dataloader`` / ``test_dataloader``, which win.
    Defaults: train 2 images per GPU, shuffled; val / test 1 image, in order; workers
    ``default_workers()`` (2 on 2 cores, 8 on 16), also where the config says ``None`` or
    ``'auto'``.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    if split == "train":
        args: dict[str, Any] = {
            "samples_per_gpu": 2,
            "workers_per_gpu": default_workers(),
            "shuffle": True,
            "persistent_workers": False,
        }
        for key in ("samples_per_gpu", "workers_per_gpu", "persistent_workers"):
            if key in data_cfg:
                args[key] = data_cfg[key]
        if "imgs_per_gpu" in data_cfg:  # MMDetection 1.x's name, which MMRotate's docs still show
            # as MMRotate's train_detector: it wins over samples_per_gpu (which every base config
            # sets, so a config that says imgs_per_gpu means it), said where they differ
            if "samples_per_gpu" in data_cfg and data_cfg["samples_per_gpu"] != data_cfg["imgs_per_gpu"]:
                warnings.warn(
                    f"data.imgs_per_gpu={data_cfg['imgs_per_gpu']!r} is used, not data.samples_per_gpu="
                    f"{data_cfg['samples_per_gpu']!r} (imgs_per_gpu is its old name, as in MMRotate)",
                    stacklevel=2,
                )
            args["samples_per_gpu"] = data_cfg["imgs_per_gpu"]
    else:
        args = {
            "samples_per_gpu": 1,
            "workers_per_gpu": default_workers(),
            "shuffle": False,
            "persistent_workers": False,
        }
        if "workers_per_gpu" in data_cfg:  # MMDetection's compat_cfg copies it to all three loaders
            args["workers_per_gpu"] = data_cfg["workers_per_gpu"]
        split_cfg = data_cfg.get(split)
        inner = [split_cfg] if isinstance(split_cfg, Mapping) else list(split_cfg or [])
        per_split = [c["samples_per_gpu"] for c in inner if isinstance(c, Mapping) and "samples_per_gpu" in c]
        if per_split:
            args["samples_per_gpu"] = max(per_split)
    args.update({"dist": dist, "seed": seed, "num_gpus": num_gpus})
    args.update(dict(data_cfg.get(f"{split}_dataloader") or {}))
    if args.get("workers_per_gpu") is None or args.get("workers_per_gpu") == "auto":
        args["workers_per_gpu"] = default_workers()
    for key in sorted(set(args) - set(LOADER_KEYS)):  # only a *_dataloader dict brings these
        close = difflib.get_close_matches(str(key), LOADER_KEYS, n=1, cutoff=0.6)
        hint = f" (did you mean data.{split}_dataloader.{close[0]}?)" if close else ""
        raise KeyError(
            f"data.{split}_dataloader.{key}: not a data loader setting{hint}; "
            f"its keys: {', '.join(sorted(LOADER_KEYS))}"
        )
    for key, least in (("samples_per_gpu", 1), ("workers_per_gpu", 0)):
        value = args[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"data.{key} ({split}) must be an integer >= {least}, got {value!r}")
    for key in ("persistent_workers", "shuffle", "pin_memory", "drop_last", "dist"):
        if key in args and not isinstance(args[key], bool):  # ('False' is truthy)
            raise ValueError(f"data.{key} ({split}) must be True or False, got {args[key]!r}")
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
) -> dict[str, DataLoader | EpochSpanningLoader]:
    """Build ``data.<split>`` datasets and their loaders from an MMRotate ``data`` config.

    val and test datasets are built with ``test_mode=True`` (as MMRotate's train and test
    tools do). Returns ``{split: loader}`` (``build_dataloader``'s); ``loader.dataset`` is the dataset.
    """
    loaders = {}
    for split in splits:
        dataset = build_dataset(_dataset_cfg(data_cfg[split], test_mode=split != "train"))
        loaders[split] = build_dataloader(dataset, **dataloader_args(data_cfg, split, dist, seed, num_gpus))
    return loaders
