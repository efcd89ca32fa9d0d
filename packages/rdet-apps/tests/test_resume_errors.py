"""Resuming from a checkpoint of another model: an error naming the file and what does not fit
(counts and the first keys, as ``load_from``'s report), not torch's bare ``RuntimeError``."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from rdet_apps.engine import Runner
from rdet_apps.engine.checkpoint import load_model_state, save_checkpoint, state_dict_fit
from rdet_models import CheckpointMismatchError


class Small(nn.Module):
    def __init__(self, out: int = 1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(4)
        self.lin = nn.Linear(4, out)


class Other(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(*[nn.Linear(4, 4) for _ in range(4)])


def _saved(tmp_path: Path, model: nn.Module, name: str = "other.pth") -> Path:
    return save_checkpoint(tmp_path / name, model, torch.optim.SGD(model.parameters(), lr=0.1), {"epoch": 1})


def test_another_models_checkpoint_names_the_file_and_the_keys(tmp_path: Path) -> None:
    path = _saved(tmp_path, Other())
    model = Small()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as info:
        load_model_state(model, torch.load(path, weights_only=True), path)
    message = str(info.value)
    assert message.startswith(f"cannot resume from {path}: its weights do not fit Small, not one key matches")
    assert (
        "loaded 0 keys; 6 missing (bn.weight, bn.bias, bn.running_mean, bn.running_var, lin.weight ...)"
        in message
    )
    assert "8 unexpected (backbone.0.weight, backbone.0.bias" in message and "--load-from" in message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing loaded


def test_shape_mismatches_are_listed_and_nothing_is_loaded(tmp_path: Path) -> None:
    path = _saved(tmp_path, Small(out=2), "wide.pth")
    model = Small(out=1)
    before = model.bn.weight.detach().clone()
    with pytest.raises(
        CheckpointMismatchError, match=rf"cannot resume from {path}: its weights do not fit Small \("
    ):
        load_model_state(model, torch.load(path, weights_only=True), path)
    fit = state_dict_fit(model, torch.load(path, weights_only=True)["state_dict"])
    assert fit.missing == [] and fit.unexpected == [] and fit.loaded == 5
    assert fit.mismatched == [
        "lin.weight: checkpoint (2, 4) vs model (1, 4)",
        "lin.bias: checkpoint (2,) vs model (1,)",
    ]
    assert torch.equal(model.bn.weight, before)


def test_a_fitting_checkpoint_loads_exactly(tmp_path: Path) -> None:
    source = Small()
    nn.init.normal_(source.lin.weight)
    path = _saved(tmp_path, source)
    model = Small()
    load_model_state(model, torch.load(path, weights_only=True), path)
    assert torch.equal(model.lin.weight, source.lin.weight)
    # DDP's module. prefix, a bare state dict, and no num_batches_tracked (older checkpoints)
    state = OrderedDict(
        (f"module.{k}", v + 1)
        for k, v in source.state_dict().items()
        if not k.endswith("num_batches_tracked")
    )
    load_model_state(model, state, "bare")
    assert torch.equal(model.lin.weight, source.lin.weight + 1)
    with pytest.raises(TypeError, match="nothing.pth: no state dict"):
        load_model_state(model, [1, 2], "nothing.pth")


def test_runner_resume_from_another_models_checkpoint_names_the_file(tmp_path: Path) -> None:
    path = _saved(tmp_path, Other())
    model = Small()
    runner = Runner(model, torch.optim.SGD(model.parameters(), lr=0.1), tmp_path / "work", max_epochs=1)
    with pytest.raises(CheckpointMismatchError, match=rf"cannot resume from {path}: .*8 unexpected"):
        runner.resume(path)
