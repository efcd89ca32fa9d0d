"""Samplers (MMDetection 2.x): aspect-ratio groups (``flag``), and their distributed forms.

A batch drawn through ``GroupSampler`` holds images of one ``dataset.flag`` group (landscape
or portrait), so padding to a common size wastes less.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torch.utils.data import DistributedSampler as _TorchDistributedSampler

__all__ = ["DistributedGroupSampler", "DistributedSampler", "GroupSampler", "get_dist_info"]


def get_dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside ``torch.distributed``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _flag(dataset: Dataset) -> np.ndarray:
    flag = getattr(dataset, "flag", None)
    return np.zeros(len(dataset), np.int64) if flag is None else np.asarray(flag, np.int64)


class GroupSampler(Sampler):
    """Shuffle within each ``flag`` group, pad each group to whole batches, shuffle the batches.

    Without a ``seed`` it draws from numpy's global state (MMDetection's way); with one, each
    epoch's order depends only on ``seed + epoch`` (``set_epoch``), so that it can be drawn
    ahead in any thread (an epoch-spanning loader) and again after a resume.
    """

    def __init__(self, dataset: Dataset, samples_per_gpu: int = 1, seed: int | None = None):
        self.dataset = dataset
        self.samples_per_gpu = samples_per_gpu
        self.seed, self.epoch = seed, 0
        self.flag = _flag(dataset)
        self.group_sizes = np.bincount(self.flag)
        self.num_samples = int(
            sum(math.ceil(s / samples_per_gpu) * samples_per_gpu for s in self.group_sizes)
        )

    def __iter__(self) -> Iterator[int]:
        spg = self.samples_per_gpu
        rng = np.random if self.seed is None else np.random.RandomState((self.seed + self.epoch) % 2**32)
        parts = []
        for i, size in enumerate(self.group_sizes):
            if size == 0:
                continue
            idx = np.where(self.flag == i)[0]
            rng.shuffle(idx)
            extra = math.ceil(size / spg) * spg - len(idx)
            parts.append(np.concatenate([idx, rng.choice(idx, extra)]))
        indices = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        batches = [indices[i * spg : (i + 1) * spg] for i in rng.permutation(len(indices) // spg)]
        out = np.concatenate(batches) if batches else indices
        return iter(out.astype(np.int64).tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next ``iter()`` draws (with a ``seed``; else no effect)."""
        self.epoch = epoch


class DistributedGroupSampler(Sampler):
    """``GroupSampler`` for several processes: every rank gets whole single-group batches.

    Deterministic given ``seed`` and the epoch (call ``set_epoch``); groups are padded by
    repeating their own indices so every rank has the same number of batches.
    """

    def __init__(
        self,
        dataset: Dataset,
        samples_per_gpu: int = 1,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
    ):
        _rank, _world = get_dist_info()
        self.num_replicas = _world if num_replicas is None else num_replicas
        self.rank = _rank if rank is None else rank
        self.dataset = dataset
        self.samples_per_gpu = samples_per_gpu
        self.epoch = 0
        self.seed = seed if seed is not None else 0
        self.flag = _flag(dataset)
        self.group_sizes = np.bincount(self.flag)
        per = samples_per_gpu * self.num_replicas
        self.num_samples = int(sum(math.ceil(s / per) for s in self.group_sizes)) * samples_per_gpu
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.epoch + self.seed)
        spg, per = self.samples_per_gpu, self.samples_per_gpu * self.num_replicas
        indices: list[int] = []
        for i, size in enumerate(self.group_sizes):
            if size == 0:
                continue
            idx = np.where(self.flag == i)[0]
            idx = idx[torch.randperm(int(size), generator=g).numpy()].tolist()
            extra = math.ceil(size / per) * per - len(idx)
            base = list(idx)
            idx += base * (extra // size) + base[: extra % size]
            indices += idx
        order = torch.randperm(len(indices) // spg, generator=g).tolist()
        indices = [indices[j] for b in order for j in range(b * spg, (b + 1) * spg)]
        offset = self.num_samples * self.rank
        return iter(indices[offset : offset + self.num_samples])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class DistributedSampler(_TorchDistributedSampler):
    """torch's ``DistributedSampler`` with MMDetection's seed and padding (outside distributed runs too)."""

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
    ):
        _rank, _world = get_dist_info()
        super().__init__(
            dataset,
            num_replicas=_world if num_replicas is None else num_replicas,
            rank=_rank if rank is None else rank,
            shuffle=shuffle,
        )
        self.seed = seed if seed is not None else 0

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.epoch + self.seed)
            indices = torch.randperm(len(self.dataset), generator=g).tolist()
        else:
            indices = list(range(len(self.dataset)))
        indices = (indices * math.ceil(self.total_size / max(len(indices), 1)))[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.num_replicas])
