"""MMCV's ``WandbLoggerHook`` and ``MlflowLoggerHook`` in ``log_config.hooks``, on stand-in
``wandb`` / ``mlflow`` modules (nothing leaves the machine): what they call, with which steps
and values, and the error naming the extra when the package is missing."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rdet_apps.engine import build_runner
from rdet_apps.engine.hooks import MlflowLoggerHook, TensorboardLoggerHook, WandbLoggerHook
from rdet_apps.registry import HOOKS


class Toy(nn.Module):
    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def loss(self, batch):  # type: ignore[no-untyped-def]
        x, y = batch
        return {"loss_reg": ((self.lin(x).squeeze(-1) - y) ** 2).mean()}


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1)), batch_size=8)  # 4 iterations an epoch


def _fake_wandb(calls: list) -> types.ModuleType:
    wandb = types.ModuleType("wandb")

    class Artifact:
        def __init__(self, name: str, type: str) -> None:
            self.name, self.type, self.files = name, type, []
            calls.append(("Artifact", name, type))

        def add_file(self, path: str) -> None:
            self.files.append(path)

    wandb.Artifact = Artifact  # type: ignore[attr-defined]
    wandb.init = lambda **kw: calls.append(("init", kw))  # type: ignore[attr-defined]
    wandb.log = lambda data, **kw: calls.append(("log", dict(data), kw))  # type: ignore[attr-defined]
    wandb.define_metric = lambda m, **kw: calls.append(("define_metric", m, kw))  # type: ignore[attr-defined]
    wandb.log_artifact = lambda a: calls.append(("log_artifact", a))  # type: ignore[attr-defined]
    wandb.finish = lambda: calls.append(("finish",))  # type: ignore[attr-defined]
    return wandb


def _fake_mlflow(calls: list, mlflow3: bool = True) -> tuple[types.ModuleType, types.ModuleType]:
    mlflow = types.ModuleType("mlflow")
    pytorch = types.ModuleType("mlflow.pytorch")
    for name in ("set_experiment", "set_tags", "log_params"):
        setattr(mlflow, name, lambda arg, _n=name: calls.append((_n, arg)))
    mlflow.log_metrics = lambda metrics, step=None: calls.append(("log_metrics", dict(metrics), step))  # type: ignore[attr-defined]
    mlflow.end_run = lambda: calls.append(("end_run",))  # type: ignore[attr-defined]
    if mlflow3:

        def log_model(pytorch_model, artifact_path=None, *, name=None, pip_requirements=None):  # type: ignore[no-untyped-def]
            calls.append(("log_model", pytorch_model, {"name": name, "artifact_path": artifact_path}))
    else:

        def log_model(pytorch_model, artifact_path, pip_requirements=None):  # type: ignore[no-untyped-def]
            calls.append(("log_model", pytorch_model, {"artifact_path": artifact_path}))

    pytorch.log_model = log_model  # type: ignore[attr-defined]
    mlflow.pytorch = pytorch  # type: ignore[attr-defined]
    return mlflow, pytorch


def _cfg(hooks: list[dict], **extra) -> dict:  # type: ignore[no-untyped-def]
    return dict(
        optimizer=dict(type="SGD", lr=0.01, momentum=0.9),
        runner=dict(type="EpochBasedRunner", max_epochs=2),
        checkpoint_config=dict(interval=1),
        log_config=dict(interval=2, hooks=hooks),
        evaluation=dict(interval=1, metric="mAP"),
        **extra,
    )


def _text_records(work: Path) -> list[dict]:
    lines = next(work.glob("*.log.json")).read_text().splitlines()
    return [json.loads(line) for line in lines[1:]]


@pytest.mark.parametrize("wandb_first", [False, True])
def test_wandb_logs_the_text_logs_values_at_mmcvs_steps_then_uploads_and_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wandb_first: bool
) -> None:
    calls: list = []
    monkeypatch.setitem(sys.modules, "wandb", _fake_wandb(calls))
    wandb_cfg = dict(type="WandbLoggerHook", init_kwargs=dict(project="rdet", name="toy"), out_suffix=".pth")
    hooks = (
        [wandb_cfg, dict(type="TextLoggerHook")] if wandb_first else [dict(type="TextLoggerHook"), wandb_cfg]
    )
    maps = iter([0.25, 0.5])
    runner = build_runner(_cfg(hooks), Toy(), tmp_path, evaluate=lambda m: {"mAP": next(maps)})
    assert calls == []  # nothing before the run
    runner.run({"train": _loader()})

    assert calls[0] == ("init", {"project": "rdet", "name": "toy"})
    logs = [c for c in calls if c[0] == "log"]
    # MMCV's steps: iter + 1; the evaluation after an epoch at the epoch's iterations + 1
    assert [c[2] for c in logs] == [{"step": s, "commit": True} for s in (2, 4, 5, 6, 8, 9)]
    train = [c[1] for c in logs if "train/loss" in c[1]]
    val = [c[1] for c in logs if "val/mAP" in c[1]]
    assert len(train) == 4 and [v["val/mAP"] for v in val] == [0.25, 0.5]
    for tags in train + val:
        assert tags["learning_rate"] == pytest.approx(0.01) and tags["momentum"] == 0.9
        assert not any(k.endswith(("/time", "/data_time")) for k in tags)
    # the same interval means as the text log's, whichever hook runs first
    text = [r for r in _text_records(tmp_path) if r["mode"] == "train"]
    assert [t["train/loss"] for t in train] == pytest.approx([r["loss"] for r in text], abs=1e-6)
    assert [r["mAP"] for r in _text_records(tmp_path) if r["mode"] == "val"] == [0.25, 0.5]

    (artifact,) = [c[1] for c in calls if c[0] == "log_artifact"]
    assert (artifact.name, artifact.type) == ("artifacts", "model")
    assert sorted(Path(f).name for f in artifact.files) == ["epoch_1.pth", "epoch_2.pth", "latest.pth"]
    assert calls[-1] == ("finish",)


def test_wandb_without_step_define_metric_and_default_suffixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list = []
    monkeypatch.setitem(sys.modules, "wandb", _fake_wandb(calls))
    hook = dict(type="WandbLoggerHook", with_step=False, commit=False, define_metric_cfg={"val/mAP": "max"})
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "toy.py").write_text("x = 1\n")  # found all folders down
    runner = build_runner(_cfg([hook]), Toy(), tmp_path, evaluate=lambda m: {"mAP": 0.5})
    runner.run({"train": _loader()})
    assert calls[0] == ("init", {}) and calls[1] == ("define_metric", "val/mAP", {"summary": "max"})
    logs = [c for c in calls if c[0] == "log"]
    assert [c[1]["global_step"] for c in logs] == [2, 4, 5, 6, 8, 9]
    assert all(c[2] == {"commit": False} for c in logs)
    # MMCV's default out_suffix: logs and configs, not checkpoints
    (artifact,) = [c[1] for c in calls if c[0] == "log_artifact"]
    assert artifact.files == [str(tmp_path / "configs" / "toy.py")]
    assert calls[-1] == ("finish",)
    # no file to upload: no artifact, still finished
    calls.clear()
    empty = WandbLoggerHook(out_suffix=(".nothing",))
    empty.after_run(SimpleNamespace(rank=0, work_dir=tmp_path))
    assert calls == [("finish",)]


@pytest.mark.parametrize("mlflow3", [True, False])
def test_mlflow_experiment_tags_metrics_model_and_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow3: bool
) -> None:
    calls: list = []
    mlflow, pytorch = _fake_mlflow(calls, mlflow3)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.setitem(sys.modules, "mlflow.pytorch", pytorch)
    hook = dict(type="MlflowLoggerHook", exp_name="rotated", tags={"team": "a"}, params={"lr": 0.01})
    model = Toy()
    runner = build_runner(_cfg([hook]), model, tmp_path, evaluate=lambda m: {"mAP": 0.5})
    runner.run({"train": _loader()})
    assert calls[:3] == [
        ("set_experiment", "rotated"),
        ("set_tags", {"team": "a"}),
        ("log_params", {"lr": 0.01}),
    ]
    metrics = [c for c in calls if c[0] == "log_metrics"]
    assert [c[2] for c in metrics] == [2, 4, 5, 6, 8, 9]
    assert {"train/loss", "train/loss_reg", "learning_rate", "momentum"} <= set(metrics[0][1])
    assert metrics[2][1]["val/mAP"] == 0.5
    (logged,) = [c for c in calls if c[0] == "log_model"]
    assert logged[1] is model  # the detector itself, not a wrapper
    assert logged[2] == (
        {"name": "models", "artifact_path": None} if mlflow3 else {"artifact_path": "models"}
    )
    assert calls[-1] == ("end_run",)


def test_mlflow_without_model_and_other_ranks_stay_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list = []
    mlflow, pytorch = _fake_mlflow(calls)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.setitem(sys.modules, "mlflow.pytorch", pytorch)
    hook = MlflowLoggerHook(exp_name="x", log_model=False)
    hook.before_run(SimpleNamespace(rank=1))
    hook.after_run(SimpleNamespace(rank=1))
    assert calls == []
    hook.after_run(SimpleNamespace(rank=0, model=Toy()))
    assert calls == [("end_run",)]


@pytest.mark.parametrize(
    ("name", "module", "extra"),
    [
        ("WandbLoggerHook", "wandb", "wandb"),
        ("MlflowLoggerHook", "mlflow", "mlflow"),
        ("MlflowLoggerHook", "mlflow.pytorch", "mlflow"),
    ],
)
def test_a_missing_tracker_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, name: str, module: str, extra: str
) -> None:
    if module == "mlflow.pytorch":  # mlflow there, its pytorch flavour not
        mlflow, _ = _fake_mlflow([])
        monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ImportError, match=rf"{name} needs {extra}.*pip install 'rdet-apps\[{extra}\]'"):
        HOOKS.build(dict(type=name))


def test_a_missing_tensorboard_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"rdet-apps\[tensorboard\]"):
        TensorboardLoggerHook().before_run(SimpleNamespace(work_dir=tmp_path, rank=0))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(init_kwargs="rdet"), TypeError, "init_kwargs must be a dict"),
        (dict(interval=0), ValueError, "interval must be a whole number >= 1, got 0"),
        (dict(commit="yes"), TypeError, "commit must be True or False"),
        (dict(out_suffix=[".pth", 3]), TypeError, "out_suffix must be"),
        (
            dict(define_metric_cfg={"val/mAP": "maximum"}),
            ValueError,
            r"define_metric_cfg\['val/mAP'\] = 'maximum'",
        ),
    ],
)
def test_wandb_arguments_are_checked(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict, error: type, message: str
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", _fake_wandb([]))
    with pytest.raises(error, match=message):
        WandbLoggerHook(**kwargs)


def test_mlflow_arguments_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow, pytorch = _fake_mlflow([])
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.setitem(sys.modules, "mlflow.pytorch", pytorch)
    with pytest.raises(TypeError, match="MlflowLoggerHook: tags must be a dict"):
        MlflowLoggerHook(tags=["a"])
    with pytest.raises(TypeError, match="MlflowLoggerHook: exp_name must be a string"):
        MlflowLoggerHook(exp_name=3)


def test_loggers_at_one_point_share_values_and_the_next_point_reads_its_own() -> None:
    """Two val epochs in a row (workflow [('train', 1), ('val', 2)]) stand at the same epoch and
    iteration: the second must read its own values, not the first's (keyed by position, it did,
    and its values leaked into the next train record)."""
    from rdet_apps.engine import LogBuffer
    from rdet_apps.engine.hooks.logger import interval_values

    runner = SimpleNamespace(log_buffer=LogBuffer(), epoch=1, iter=8, inner_iter=2)
    runner.log_buffer.update({"loss": 3.5})
    assert interval_values(runner, "val") == {"loss": 3.5}
    assert interval_values(runner, "val") == {"loss": 3.5}  # a second logger at that point
    runner.log_buffer.update({"loss": 5.5})  # the next val epoch, same epoch and iteration
    assert interval_values(runner, "val") == {"loss": 5.5}
    assert interval_values(runner, "train") == {}  # nothing left over for the train record
