"""Epoch starts: a persistent DataLoader against an EpochSpanningLoader, same workers and batches.

    cd /work/main && .venv/bin/python -m pytest packages/rdet-data/benchmarks/bench_epoch_spanning.py --benchmark-enable -q

A loop that does not use the CPU while it waits for its step (a GPU's: ``time.sleep`` here,
25 ms per batch) takes 5 epochs of 10 batches of 4 items from 2 workers; each item costs its
worker 10 ms (sleep: reading and decoding). In steady state the workers keep ahead (20 ms
per batch); at an epoch start a persistent DataLoader's workers have been idle, and the loop
waits for the first batch (40 ms) and the pipeline to fill. The spanning loader's workers
load the next epoch's first batches while the current one ends. The GPU figure is the main
job's (``bench_train_loop.py --device cuda --config demo``: ``benchmarks/gpu.sh demo``).
"""

from __future__ import annotations

import time

import pytest
from torch.utils.data import DataLoader, Dataset

from rdet_data import DistributedGroupSampler, EpochSpanningLoader

STEP_S, ITEM_S, EPOCHS = 0.025, 0.010, 5


class Slow(Dataset):
    def __len__(self) -> int:
        return 40

    def __getitem__(self, i: int) -> int:
        time.sleep(ITEM_S)
        return i


def _loader(spanning: bool):
    data = Slow()
    sampler = DistributedGroupSampler(data, 4, num_replicas=1, rank=0, seed=0)
    loader = DataLoader(data, batch_size=4, sampler=sampler, num_workers=2, persistent_workers=not spanning)
    return EpochSpanningLoader(loader) if spanning else loader


def _train(loader) -> int:
    n = 0
    for epoch in range(EPOCHS):
        loader.sampler.set_epoch(epoch)
        for _ in loader:
            time.sleep(STEP_S)
            n += 1
    return n


@pytest.mark.parametrize("spanning", [False, True], ids=["persistent DataLoader", "EpochSpanningLoader"])
def test_epochs_of_a_gpu_bound_loop(benchmark, spanning):
    loader = _loader(spanning)
    next(iter(loader))  # the workers started (not what is measured)
    batches = benchmark.pedantic(_train, args=(loader,), rounds=3, iterations=1)
    assert batches == EPOCHS * 10
    benchmark.extra_info["ideal_s"] = EPOCHS * 10 * STEP_S
