"""Hooks against the ``RunnerView`` protocol, and the runner's dispatch of ``after_val_epoch``
after an evaluation: one ``val`` record (and text line) per evaluation, holding the metrics."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rdet_apps.engine import Hook, LogBuffer, Runner, RunnerView, build_runner
from rdet_apps.engine.hooks import EvalHook


class Toy(nn.Module):
    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def loss(self, batch: Any) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss_reg": ((self.lin(x).squeeze(-1) - y) ** 2).mean()}


def _loader(n: int = 32, batch: int = 8) -> DataLoader:
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, x.sum(1)), batch_size=batch, shuffle=False)


class ValSpy(Hook):
    """Counts ``after_val_epoch`` calls and what the buffer held (without consuming it)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def after_val_epoch(self, runner: RunnerView) -> None:
        self.calls.append((runner.epoch, runner.iter))


def _records(work_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in next(work_dir.glob("*.log.json")).read_text().splitlines()]


def test_runner_satisfies_the_protocol(tmp_path):
    runner = Runner(Toy(), torch.optim.SGD(Toy().parameters(), lr=0.1), tmp_path, max_epochs=1)
    assert isinstance(runner, RunnerView) and isinstance(runner.log_buffer, LogBuffer)
    for name in RunnerView.__annotations__:
        assert hasattr(runner, name), name


def test_one_val_record_per_evaluation_by_epoch(tmp_path, caplog):
    scores = iter([0.5, 0.3, 0.7])
    evaluated = []

    def evaluate(model: nn.Module) -> dict[str, Any]:
        evaluated.append(type(model).__name__)
        score = next(scores)
        return {"mAP": score, "AP50": score / 2, "note": "not a number"}

    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01),
        runner=dict(type="EpochBasedRunner", max_epochs=3),
        log_config=dict(interval=2, hooks=[dict(type="TextLoggerHook")]),
        evaluation=dict(interval=1, save_best="mAP"),
    )
    logger = logging.getLogger("rdet.test_engine_hooks")
    runner = build_runner(cfg, Toy(), tmp_path, evaluate=evaluate, logger=logger)
    spy = ValSpy()
    runner.register_hook(spy, "LOWEST")
    with caplog.at_level(logging.INFO, logger=logger.name):
        runner.run({"train": _loader()})

    assert evaluated == ["Toy"] * 3
    assert spy.calls == [(0, 4), (1, 8), (2, 12)]  # once per evaluation, at the end of each epoch
    val = [r for r in _records(tmp_path) if r.get("mode") == "val"]
    assert [(r["epoch"], r["iter"]) for r in val] == [(1, 3), (2, 3), (3, 3)]
    assert [r["mAP"] for r in val] == [0.5, 0.3, 0.7] and [r["AP50"] for r in val] == [0.25, 0.15, 0.35]
    for r in val:  # the metrics only: no leftover training values, no non-numbers
        assert set(r) - {"memory"} == {"mode", "epoch", "iter", "lr", "mAP", "AP50"}
    lines = [rec.getMessage() for rec in caplog.records if rec.getMessage().startswith("Epoch(val)")]
    assert lines == [
        "Epoch(val) [1][3]\tmAP: 0.5000, AP50: 0.2500",
        "Epoch(val) [2][3]\tmAP: 0.3000, AP50: 0.1500",
        "Epoch(val) [3][3]\tmAP: 0.7000, AP50: 0.3500",
    ]
    # save_best: the best epoch's weights, without the optimizer, named in meta
    assert [p.name for p in tmp_path.glob("best_*.pth")] == ["best_mAP_epoch_3.pth"]
    assert runner.meta["best_score"] == 0.7 and runner.meta["best_ckpt"].endswith("best_mAP_epoch_3.pth")
    assert "optimizer" not in torch.load(tmp_path / "best_mAP_epoch_3.pth", weights_only=False)


def test_one_val_record_per_evaluation_by_iteration(tmp_path):
    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01),
        runner=dict(type="IterBasedRunner", max_iters=10),
        checkpoint_config=dict(interval=-1),
        log_config=dict(interval=5, hooks=[dict(type="TextLoggerHook")]),
        evaluation=dict(interval=5, save_best="loss_val"),
    )
    losses = iter([2.0, 1.0])
    runner = build_runner(cfg, Toy(), tmp_path, evaluate=lambda m: {"loss_val": next(losses)})
    spy = ValSpy()
    runner.register_hook(spy)
    runner.run({"train": _loader()})
    assert [it for _, it in spy.calls] == [4, 9]
    val = [r for r in _records(tmp_path) if r.get("mode") == "val"]
    assert [r["loss_val"] for r in val] == [2.0, 1.0]
    best = [p.name for p in tmp_path.glob("best_*.pth")]
    assert best == ["best_loss_val_iter_10.pth"]  # a name with 'loss': less is better


class FakeRunner:
    """Just the protocol: no ``call_hook``, so a hook that dispatched itself would fail."""

    def __init__(self, work_dir: Path) -> None:
        self.epoch, self.iter, self.inner_iter, self.start_iter = 0, 0, 0, 0
        self.max_epochs, self.max_iters, self.iters_per_epoch = 1, None, 1
        self.work_dir, self.rank, self.timestamp = work_dir, 0, "t"
        self.model = Toy()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.log_buffer = LogBuffer()
        self.logger = logging.getLogger("rdet.fake")
        self.meta: dict[str, Any] = {}
        self.handed: list[dict[str, Any]] = []
        self.saved: list[Path] = []

    def save_checkpoint(self, path: str | Path, save_optimizer: bool = True) -> Path:
        self.saved.append(Path(path))
        return Path(path)

    def log_val_metrics(self, metrics: dict[str, Any]) -> None:
        self.handed.append(dict(metrics))


def test_eval_hook_hands_metrics_to_the_runner(tmp_path):
    fake = FakeRunner(tmp_path)
    assert isinstance(fake, RunnerView)
    hook = EvalHook(lambda m: {"mAP": 0.4}, save_best="auto")
    hook.after_train_epoch(fake)
    assert fake.handed == [{"mAP": 0.4}] and hook.history == [{"mAP": 0.4}]
    assert fake.saved == [tmp_path / "best_mAP_epoch_1.pth"] and fake.meta["best_score"] == 0.4
    with pytest.raises(KeyError, match="save_best='AP' is not among the metrics"):
        EvalHook(lambda m: {"mAP": 0.4}, save_best="AP").after_train_epoch(fake)


def test_log_buffer_averages_and_skips_non_finite():
    buf = LogBuffer()
    buf.update({"a": 1.0, "b": float("nan")})
    buf.update({"a": 3.0}, count=3)
    assert buf.latest() == {"a": 3.0} and buf.average_and_clear() == {"a": 2.5}
    assert buf.average_and_clear() == {} and buf.latest() == {"a": 3.0}
