"""EpochSpanningLoader: the plain loader's batches, epoch by epoch, from workers that load the
next epoch's first batches while the current one ends; resumes and early exits restart the
chain at the right epoch; bad samplers and lying lengths are named."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from rdet_data import DistributedGroupSampler, EpochSpanningLoader, GroupSampler, build_dataloader
from rdet_data.epoch_spanning import spans_epochs


class Indices(Dataset):
    """Item ``i`` is ``i``; ``flag`` splits it into two aspect groups; each fetch leaves a file
    named after the index in ``log`` (if given), written by the worker process."""

    def __init__(self, n: int = 20, log: Path | None = None, fail_at: int | None = None) -> None:
        self.n, self.log, self.fail_at = n, log, fail_at
        self.flag = np.array([i % 3 == 0 for i in range(n)], np.uint8)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if i == self.fail_at:
            raise ValueError(f"item {i} is broken")
        if self.log is not None:
            (self.log / f"{i}-{os.getpid()}-{time.monotonic_ns()}").touch()
        return i


def _epochs(loader: DataLoader | EpochSpanningLoader, epochs: range) -> list[list[list[int]]]:
    """The batches of ``epochs``, each epoch announced with ``set_epoch`` as the runner does."""
    out = []
    for e in epochs:
        loader.sampler.set_epoch(e)
        out.append([b.tolist() for b in loader])
    return out


def _loaders(sampler_factory, workers: int = 2, batch: int = 4):
    data = Indices()
    plain = DataLoader(data, batch_size=batch, sampler=sampler_factory(data), num_workers=0)
    spanning = EpochSpanningLoader(
        DataLoader(data, batch_size=batch, sampler=sampler_factory(data), num_workers=workers)
    )
    return plain, spanning


@pytest.mark.parametrize(
    "factory",
    [
        lambda d: DistributedGroupSampler(d, 4, num_replicas=1, rank=0, seed=3),
        lambda d: GroupSampler(d, 4, seed=5),
    ],
    ids=["DistributedGroupSampler", "seeded GroupSampler"],
)
def test_same_batches_in_the_same_order_as_the_plain_loader(factory):
    plain, spanning = _loaders(factory)
    expected = _epochs(plain, range(4))
    assert len(spanning) == len(plain) == 6 and len({str(e) for e in expected}) == 4  # shuffled per epoch
    assert _epochs(spanning, range(4)) == expected
    # iterating without set_epoch continues with the next epoch, as the runner's epochs do
    spanning2 = _loaders(factory)[1]
    assert [[b.tolist() for b in spanning2] for _ in range(3)] == expected[:3]


def _fetched_ahead(loader, log: Path, expected: int, wait_s: float) -> int:
    """How many items the workers fetched beyond epoch 0's own by the end of epoch 0 plus up to
    ``wait_s`` seconds (polling until ``expected`` came, then 0.2 s more for any beyond)."""
    epoch = sum(len(b) for b in loader)  # epoch 0 consumed whole (20: groups padded); 1 not asked for
    deadline = time.monotonic() + wait_s
    while len(list(log.iterdir())) < epoch + expected and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    return len(list(log.iterdir())) - epoch


def test_the_workers_load_the_next_epoch_before_it_is_asked_for(tmp_path):
    (tmp_path / "spanning").mkdir()
    (tmp_path / "plain").mkdir()
    data = Indices(n=16, log=tmp_path / "spanning")
    sampler = DistributedGroupSampler(data, 4, num_replicas=1, rank=0, seed=0)
    loader = EpochSpanningLoader(
        DataLoader(data, batch_size=4, sampler=sampler, num_workers=2, prefetch_factor=2)
    )
    # 2 workers x 2 batches ahead: epoch 1's first 4 batches (16 items) were asked for as epoch
    # 0's last ones came back
    assert _fetched_ahead(loader, tmp_path / "spanning", expected=16, wait_s=60) == 16
    # a persistent DataLoader's workers wait for the next iter()
    data = Indices(n=16, log=tmp_path / "plain")
    sampler = DistributedGroupSampler(data, 4, num_replicas=1, rank=0, seed=0)
    plain = DataLoader(
        data, batch_size=4, sampler=sampler, num_workers=2, prefetch_factor=2, persistent_workers=True
    )
    assert _fetched_ahead(plain, tmp_path / "plain", expected=0, wait_s=0.5) == 0


def test_set_epoch_out_of_turn_restarts_at_that_epoch():
    plain, spanning = _loaders(lambda d: DistributedGroupSampler(d, 4, num_replicas=1, rank=0, seed=1))
    expected = _epochs(plain, range(6))
    assert _epochs(spanning, range(2)) == expected[:2]
    assert _epochs(spanning, range(4, 6)) == expected[4:6]  # a resumed run: epoch 4 next
    assert _epochs(spanning, range(1, 2)) == expected[1:2]  # and back


def test_an_epoch_left_early_is_not_continued():
    plain, spanning = _loaders(lambda d: GroupSampler(d, 4, seed=2))
    expected = _epochs(plain, range(3))
    spanning.sampler.set_epoch(0)
    it = iter(spanning)
    assert [next(it).tolist() for _ in range(2)] == expected[0][:2]
    it.close()  # a loop that stopped after 2 batches
    assert [b.tolist() for b in spanning] == expected[0]  # epoch 0 again, whole
    assert [b.tolist() for b in spanning] == expected[1]


def test_a_worker_error_reaches_the_loop_and_the_next_epoch_starts_clean():
    data = Indices(fail_at=7)
    sampler = DistributedGroupSampler(data, 4, num_replicas=1, rank=0, seed=0)
    loader = EpochSpanningLoader(DataLoader(data, batch_size=4, sampler=sampler, num_workers=2))
    with pytest.raises(ValueError, match="item 7 is broken"):
        for _ in loader:
            pass
    data.fail_at = None  # (a fresh worker pool sees the fixed dataset)
    seen = [i for b in loader for i in b.tolist()]
    assert len(seen) == 24 and sorted(set(seen)) == list(range(20))  # (groups padded to whole batches)


class Liar(DistributedGroupSampler):
    def __len__(self) -> int:
        return super().__len__() + 4


def test_a_sampler_whose_len_lies_is_named():
    data = Indices()
    loader = EpochSpanningLoader(DataLoader(data, batch_size=4, sampler=Liar(data, 4, 1, 0), num_workers=1))
    with pytest.raises(RuntimeError, match=r"gave 6 batches in epoch 0, its len\(\) says 7"):
        list(loader)


def test_samplers_that_cannot_be_drawn_ahead_are_refused():
    data = Indices()
    assert spans_epochs(None) and spans_epochs(GroupSampler(data, 4, seed=0))
    assert not spans_epochs(GroupSampler(data, 4)) and not spans_epochs(torch.utils.data.RandomSampler(data))
    with pytest.raises(ValueError, match="GroupSampler shuffles from global random state"):
        EpochSpanningLoader(DataLoader(data, batch_size=4, sampler=GroupSampler(data, 4), num_workers=1))
    with pytest.raises(ValueError, match="num_workers > 0"):
        EpochSpanningLoader(DataLoader(data, batch_size=4))
    with pytest.raises(ValueError, match="batch_size=None"):
        EpochSpanningLoader(DataLoader(data, batch_size=None, num_workers=1))


def test_build_dataloader_spans_epochs_only_with_persistent_workers():
    data = Indices()
    kept = build_dataloader(data, 4, 2, dist=False, seed=7, persistent_workers=True)
    assert isinstance(kept, EpochSpanningLoader) and kept.num_workers == 2 and kept.dataset is data
    assert isinstance(kept.loader.sampler, GroupSampler) and kept.loader.sampler.seed == 7
    plain = build_dataloader(data, 4, 2, dist=False, seed=7)
    assert isinstance(plain, DataLoader) and plain.sampler.seed is None  # MMDetection's global-state shuffle
    assert isinstance(build_dataloader(data, 4, 0, dist=False, persistent_workers=True), DataLoader)
