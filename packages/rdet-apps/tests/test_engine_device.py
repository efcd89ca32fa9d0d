"""Feeding the device: logged values kept on the device between logging points (the GPU mode,
simulated on the CPU with ``max_pending``), ``DevicePrefetcher``, ``to_device``."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rdet_apps.engine import Hook, Runner
from rdet_apps.engine.device import DevicePrefetcher, to_device
from rdet_models import NonFiniteLossError


class Toy(nn.Module):
    def __init__(self, nan_at: int | None = None):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        self.calls, self.nan_at = 0, nan_at

    def loss(self, batch):
        x, y = batch
        self.calls += 1
        err = (self.lin(x).squeeze(-1) - y) ** 2
        if self.calls == self.nan_at:
            err = err * float("nan")
        return {
            "loss_reg": err.mean(),
            "loss_lvl": [err.mean() * 0.5, err.mean() * 0.25],
            "acc": torch.tensor(0.5),
        }


def _loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1)), batch_size=8, shuffle=False)


def _run(tmp_path, max_pending, hooks=(), nan_at=None, epochs=3):
    torch.manual_seed(0)
    model = Toy(nan_at)
    runner = Runner(model, torch.optim.SGD(model.parameters(), lr=0.05), tmp_path, max_epochs=epochs)
    runner.max_pending = max_pending  # what a CUDA model gets (50)
    for h in hooks:
        runner.register_hook(h)
    runner.run({"train": _loader()})
    return runner


class Logged(Hook):
    def __init__(self):
        self.records = []

    def after_train_iter(self, runner):
        if (runner.inner_iter + 1) % 2 == 0:
            self.records.append(runner.log_buffer.average_and_clear())


def test_deferred_values_log_the_same(tmp_path):
    eager, deferred = Logged(), Logged()
    a = _run(tmp_path / "a", 1, [eager])
    b = _run(tmp_path / "b", 50, [deferred])
    assert a.losses_history == b.losses_history and len(a.losses_history) == 12
    assert len(eager.records) == len(deferred.records) == 6
    for x, y in zip(eager.records, deferred.records):
        assert list(x) == list(y) == ["loss_reg", "loss_lvl", "acc", "loss", "data_time", "time"]
        assert all(x[k] == y[k] for k in ("loss_reg", "loss_lvl", "acc", "loss"))
    assert b._pending == []


def test_values_wait_on_the_device_until_read(tmp_path):
    seen = []

    class Peek(Hook):
        def after_train_iter(self, runner):
            seen.append(len(runner._pending))

    _run(tmp_path, 50, [Peek()], epochs=1)
    assert seen == [1, 2, 3, 4]  # nobody read them during the epoch: no host sync


def test_deferred_nan_names_its_iteration_and_saves_nothing(tmp_path):
    # iteration 6 (the 2nd of epoch 2) is NaN; found when epoch 2 ends, before its checkpoint
    from rdet_apps.engine.hooks import CheckpointHook

    with pytest.raises(
        NonFiniteLossError, match=r"iteration 6: loss_reg, loss_lvl\[level 0\], loss_lvl\[level 1\]"
    ):
        _run(tmp_path, 50, [CheckpointHook(interval=1)], nan_at=6)
    assert sorted(p.name for p in tmp_path.glob("epoch_*.pth")) == ["epoch_1.pth"]


def test_eager_nan_stops_before_the_backward_pass(tmp_path):
    with pytest.raises(NonFiniteLossError, match="iteration 6: loss_reg") as info:
        _run(tmp_path, 1, nan_at=6)
    assert info.value.iteration == 6 and "loss_lvl[level 1]" in info.value.terms


@dataclasses.dataclass
class Item:
    images: torch.Tensor
    names: list[str]
    boxes: list[torch.Tensor] | None = None


def test_to_device_keeps_what_holds_no_tensor():
    item = Item(torch.zeros(2, 3), ["a"], [torch.ones(1, 5)])
    assert to_device(item, "cpu") is item  # nothing to move: the same objects
    moved = to_device({"x": (item, 3)}, "meta")
    assert moved["x"][1] == 3 and moved["x"][0].names is item.names
    assert moved["x"][0].images.device.type == "meta" and moved["x"][0].boxes[0].device.type == "meta"


def test_prefetcher_yields_every_batch_and_raises_the_loaders_error():
    loader = _loader()
    feed = DevicePrefetcher(loader, "cpu")
    assert len(feed) == 4 and feed.sampler is loader.sampler
    batches = list(feed)
    assert len(batches) == 4 and all(torch.equal(a[0], b[0]) for a, b in zip(batches, loader))
    assert len(list(feed)) == 4  # again, as an epoch does

    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise ValueError("bad item 2")
            return torch.zeros(1)

    with pytest.raises(ValueError, match="bad item 2"):
        list(DevicePrefetcher(DataLoader(Broken(), batch_size=1), "cpu"))


@pytest.mark.parametrize("prefetch", [False, True], ids=["loader", "through DevicePrefetcher"])
def test_an_epoch_spanning_loader_trains_as_the_plain_one(tmp_path, monkeypatch, prefetch):
    """The same shuffled batches (DistributedSampler: order from seed + epoch) reach the model
    from an EpochSpanningLoader, its workers running on across epochs, as from a plain
    loader: the same losses, iteration by iteration, over 3 epochs; also when its epochs go
    through DevicePrefetcher's thread, as they do on CUDA, and when a run resumes at epoch 2."""
    from rdet_data import DistributedSampler, EpochSpanningLoader

    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=g)
    data = TensorDataset(x, x.sum(1))

    def train(loader, start_epoch=0):
        torch.manual_seed(0)
        model = Toy()
        runner = Runner(model, torch.optim.SGD(model.parameters(), lr=0.05), tmp_path, max_epochs=3)
        runner.epoch = start_epoch
        if prefetch:
            monkeypatch.setattr(runner, "_feed", lambda loader: DevicePrefetcher(loader, "cpu"))
        runner.run({"train": loader})
        return runner.losses_history

    def sampler():
        return DistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=4)

    plain = train(DataLoader(data, batch_size=8, sampler=sampler()))
    spanning = EpochSpanningLoader(DataLoader(data, batch_size=8, sampler=sampler(), num_workers=2))
    assert len(plain) == 15 and train(spanning) == pytest.approx(plain, rel=1e-6)
    resumed = EpochSpanningLoader(DataLoader(data, batch_size=8, sampler=sampler(), num_workers=2))
    assert train(resumed, start_epoch=2) == pytest.approx(
        train(DataLoader(data, batch_size=8, sampler=sampler()), 2)
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_runner_feeds_pinned_batches_and_logs_as_the_cpu(tmp_path):
    """On a GPU: batches pinned and copied ahead, values kept on the device (no sync per
    iteration), the same losses as the CPU within float tolerance."""

    class Batches(torch.utils.data.Dataset):
        def __len__(self):
            return 32

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            x = torch.randn(4, generator=g)
            return x, x.sum()

    def run(device, max_pending):
        torch.manual_seed(0)
        model = Toy().to(device)
        runner = Runner(model, torch.optim.SGD(model.parameters(), lr=0.05), tmp_path / device, max_epochs=2)
        assert runner.max_pending == (1 if device == "cpu" else 50)
        loader = DataLoader(Batches(), batch_size=8, num_workers=2, persistent_workers=True)
        seen = []

        class Peek(Hook):
            def after_train_iter(self, runner):
                seen.append(len(runner._pending))

        runner.register_hook(Peek())
        runner.run({"train": loader})
        return runner.losses_history, seen

    cpu, _ = run("cpu", 1)
    gpu, pending = run("cuda", 50)
    assert pending == [1, 2, 3, 4, 1, 2, 3, 4]  # flushed only when an epoch ends
    assert gpu == pytest.approx(cpu, rel=1e-4, abs=1e-6)
    batch = next(iter(DevicePrefetcher(DataLoader(Batches(), batch_size=8), "cuda")))
    assert batch[0].is_cuda and batch[1].is_cuda
