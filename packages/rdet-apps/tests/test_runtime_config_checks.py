"""``evaluation`` and ``checkpoint_config`` are checked before training, as MMCV's hooks check
them (or stricter): a misspelt ``rule`` is an error, not "less is better"; a key neither the
hook nor ``data.val``'s ``evaluate`` takes is an error naming the accepted ones; a value of the
wrong type or range names its key instead of failing as a raw Python error, or only after the
first epoch; and ``checkpoint_config.interval=-1`` still saves the last epoch, as MMCV's."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rdet_apps.engine import build_runner
from rdet_apps.engine.config_checks import (
    EVAL_HOOK_KEYS,
    ConfigKeyError,
    check_evaluation_config,
    check_runtime_config,
)
from rdet_apps.engine.hooks import CheckpointHook, EvalHook


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def loss(self, batch: Any) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss_reg": ((self.lin(x).squeeze(-1) - y) ** 2).mean()}


def _loader() -> DataLoader:
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, x.sum(1)), batch_size=4)


def _cfg(epochs: int = 3, **over: Any) -> dict[str, Any]:
    cfg = dict(
        optimizer=dict(type="SGD", lr=0.0),
        runner=dict(type="EpochBasedRunner", max_epochs=epochs),
        log_config=dict(interval=50, hooks=[]),
    )
    return {**cfg, **over}


def _train(work: Path, cfg: dict[str, Any], scores: list[float] | None = None) -> tuple[list[int], list[str]]:
    """Train the toy; returns the epochs (iterations) evaluated at and the .pth files written."""
    seen: list[int] = []
    values = iter(scores or [0.5] * 100)
    runner = None

    def evaluate(model: nn.Module) -> dict[str, float]:
        seen.append(runner.epoch + 1 if runner.by_epoch else runner.iter + 1)
        return {"mAP": next(values)}

    runner = build_runner(cfg, Toy(), work, evaluate=evaluate)
    runner.run({"train": _loader()})
    return seen, sorted(p.name for p in work.glob("*.pth"))


# -- 1. evaluation.rule, and keys nothing reads --------------------------------------------------


def test_a_misspelt_rule_is_an_error_not_less_is_better(tmp_path):
    """Before: ``greater = (rule or ...) == 'greater'``: 'greator' kept the worst epoch as best."""
    with pytest.raises(ValueError, match=r"evaluation\.rule must be 'greater', 'less' or None, got 'greator' "
                                         r"\(did you mean 'greater'\?\)"):  # fmt: skip
        build_runner(
            _cfg(evaluation=dict(interval=1, save_best="mAP", rule="greator")), Toy(), tmp_path / "w"
        )
    assert not (tmp_path / "w").exists()  # before anything is built
    with pytest.raises(ValueError, match=r"evaluation\.rule"):
        EvalHook(lambda m: {"mAP": 0.0}, save_best="mAP", rule="Greater")
    _, files = _train(tmp_path / "ok", _cfg(evaluation=dict(interval=1, save_best="mAP", rule="greater")),
                      [0.5, 0.9, 0.1])  # fmt: skip
    assert "best_mAP_epoch_2.pth" in files
    _, files = _train(tmp_path / "less", _cfg(evaluation=dict(interval=1, save_best="mAP", rule="less")),
                      [0.5, 0.9, 0.1])  # fmt: skip
    assert "best_mAP_epoch_3.pth" in files


@pytest.mark.parametrize(
    ("evaluation", "message"),
    [
        (
            dict(interval=1, greater_keys=["mAP"]),
            r"evaluation\.greater_keys: a key of MMCV's EvalHook that rdet "
            r"does not implement \(set evaluation\.rule",
        ),
        (dict(interval=1, out_dir="x"), r"evaluation\.out_dir: a key of MMCV's EvalHook"),
        (dict(type="EvalHook", interval=1), r"evaluation\.type: a key of MMCV's EvalHook"),
        (
            dict(intervel=2),
            r"evaluation\.intervel: not a key of evaluation \(did you mean evaluation\.interval\?\)",
        ),
    ],
)
def test_keys_the_hook_would_swallow_are_errors(tmp_path, evaluation, message):
    """Before: ``**eval_kwargs`` took them; greater_keys / out_dir / type then reached the dataset's
    ``evaluate`` (a TypeError after the first epoch)."""
    with pytest.raises(ConfigKeyError, match=message):
        build_runner(_cfg(evaluation=evaluation), Toy(), tmp_path)
    with pytest.raises(ConfigKeyError, match=message):
        EvalHook(lambda m: {"mAP": 0.0}, **evaluation)


def test_the_hook_keys_are_the_ones_the_evaluation_strips():
    """What ``evaluate_results`` does not pass to ``dataset.evaluate`` is what the hook reads."""
    from rdet_apps.apis.test import _HOOK_KEYS

    assert set(_HOOK_KEYS) == set(EVAL_HOOK_KEYS)


def test_dynamic_intervals_change_the_interval_at_their_milestones(tmp_path):
    """MMDetection's ``dynamic_intervals`` (YOLOX's configs): before, accepted and ignored."""
    cfg = _cfg(6, evaluation=dict(interval=3, dynamic_intervals=[(4, 1)]))
    seen, _ = _train(tmp_path / "e", cfg)
    assert seen == [3, 4, 5, 6]
    cfg = _cfg(runner=dict(type="IterBasedRunner", max_iters=8),
               evaluation=dict(interval=4, dynamic_intervals=[(6, 1)]))  # fmt: skip
    seen, _ = _train(tmp_path / "i", cfg)
    assert seen == [4, 6, 7, 8]
    # a first milestone at 0 (MMDetection takes it): that interval from the start
    seen, _ = _train(tmp_path / "z", _cfg(4, evaluation=dict(interval=3, dynamic_intervals=[(0, 2)])))
    assert seen == [2, 4]
    for bad, what in (([(4, 0)], "interval"), ([(4, 1), (2, 1)], "milestone 2"), ([4], "no pair"), (4, "")):
        with pytest.raises(ValueError, match=rf"evaluation\.dynamic_intervals.*{what}"):
            build_runner(_cfg(evaluation=dict(interval=1, dynamic_intervals=bad)), Toy(), tmp_path / "bad")


def test_a_plugin_dataset_whose_evaluate_takes_kwargs_gets_the_usual_keys():
    """evaluate(self, results, **kwargs) (a plugin's, or one not registered yet): metric, iou_thr
    ... pass; before, the typo check matched them against themselves and refused them."""
    check_evaluation_config(
        {"interval": 1, "metric": "mAP", "iou_thr": 0.5, "nproc": 2}, {"type": "NotRegisteredYet"}
    )
    with pytest.raises(ConfigKeyError, match=r"evaluation\.metirc.*did you mean evaluation\.metric"):
        check_evaluation_config({"interval": 1, "metirc": "mAP"}, {"type": "NotRegisteredYet"})


def test_start_follows_mmcv(tmp_path):
    """MMCV: from ``start`` every ``interval`` (start, start + interval ...), and once before
    training when the run begins at or after ``start``. Before: ``(epoch+1) % interval == 0`` from
    ``start`` on (epochs 2 and 4 here), and never before training."""
    seen, _ = _train(tmp_path / "a", _cfg(5, evaluation=dict(interval=2, start=1)))
    assert seen == [1, 3, 5]
    seen, _ = _train(tmp_path / "b", _cfg(2, evaluation=dict(interval=1, start=0)))
    assert seen == [1, 1, 2]  # before training (MMCV names it epoch 1 too), then every epoch
    with pytest.raises(ValueError, match=r"evaluation\.start must be None or an integer >= 0 .*got -1"):
        build_runner(_cfg(evaluation=dict(interval=1, start=-1)), Toy(), tmp_path / "c")


# -- 2. checkpoint_config.interval <= 0 ----------------------------------------------------------


def test_checkpoint_interval_minus_one_still_saves_the_last_as_mmcv(tmp_path):
    """Before: no checkpoint at all, and ``rdet train`` said 'checkpoints and logs in ...'."""
    _, files = _train(tmp_path / "e", _cfg(3, checkpoint_config=dict(interval=-1)))
    assert files == ["epoch_3.pth", "latest.pth"]
    _, files = _train(tmp_path / "i", _cfg(runner=dict(type="IterBasedRunner", max_iters=5),
                                           checkpoint_config=dict(interval=-1)))  # fmt: skip
    assert files == ["iter_5.pth", "latest.pth"]
    _, files = _train(tmp_path / "n", _cfg(3, checkpoint_config=dict(interval=-1, save_last=False)))
    assert files == []  # asked for: nothing
    _, files = _train(tmp_path / "s", _cfg(2, checkpoint_config=dict(interval=1, create_symlink=False)))
    assert files == ["epoch_1.pth", "epoch_2.pth"]  # MMCV's create_symlink: before, ignored


# -- 3. values: types and ranges, named, before training ---------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"evaluation": dict(interval=0)}, r"evaluation\.interval must be a positive integer, got 0"),
        ({"evaluation": dict(interval="2")}, r"evaluation\.interval must be a positive integer, got '2'"),
        ({"evaluation": dict(interval=1, save_best=1)}, r"evaluation\.save_best must be a metric name"),
        ({"evaluation": dict(interval=1, by_epoch="yes")}, r"evaluation\.by_epoch must be True or False"),
        ({"evaluation": 5}, r"evaluation must be a dict, got 5"),
        (
            {"checkpoint_config": dict(interval="1")},
            r"checkpoint_config\.interval must be an integer .*got '1'",
        ),
        ({"checkpoint_config": dict(interval=1.5)}, r"checkpoint_config\.interval must be an integer"),
        (
            {"checkpoint_config": dict(max_keep_ckpts="2")},
            r"checkpoint_config\.max_keep_ckpts must be an integer",
        ),
        ({"checkpoint_config": dict(save_last=1)}, r"checkpoint_config\.save_last must be True or False"),
        (
            {"checkpoint_config": dict(file_client_args=dict(backend="petrel"))},
            r"checkpoint_config\.file_client_args: rdet writes checkpoints to the local disk only",
        ),
    ],
)
def test_bad_values_are_named_before_training(tmp_path, override, message):
    """Before: ZeroDivisionError (interval=0) or TypeError ('<=' between str and int) naming nothing."""
    with pytest.raises(ValueError, match=message):
        build_runner(_cfg(**override), Toy(), tmp_path / "w", evaluate=lambda m: {"mAP": 0.0})
    assert not (tmp_path / "w").exists()


def test_the_hooks_check_their_arguments_too():
    with pytest.raises(ValueError, match=r"evaluation\.interval must be a positive integer, got 0"):
        EvalHook(lambda m: {}, interval=0)
    with pytest.raises(ValueError, match=r"checkpoint_config\.interval must be an integer"):
        CheckpointHook(interval="1")
    with pytest.raises(TypeError, match="intervall"):
        CheckpointHook(intervall=1)  # type: ignore[call-arg]


# -- metric, save_best and the evaluate arguments against data.val -----------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from rdet_apps.commands.demo import CONFIG
    from rdet_apps.demo_data import make_demo_dota
    from rdet_core import Config

    data = make_demo_dota(tmp_path_factory.mktemp("data"), num_images=2, size=128, seed=0)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({"data.val.ann_file": f"{data.labels}/", "data.val.img_prefix": f"{data.images}/"})
    return cfg


@pytest.mark.parametrize(
    ("evaluation", "error", "message"),
    [
        (dict(interval=1, metric="bbox"), ValueError,
         r"^evaluation\.metric 'bbox': DOTADataset\.evaluate \(data\.val\) computes 'mAP'"),
        (dict(interval=1, save_best="mAPx"), ValueError,
         r"^evaluation\.save_best 'mAPx' is not a metric that the evaluation returns \(did you mean 'mAP'\?\); "
         r"DOTADataset\.evaluate \(data\.val\) returns: mAP "),
        (dict(interval=1, save_best="AP50"), ValueError, r"returns: mAP \(or save_best='auto'"),
        (dict(interval=1, classwise=True), ConfigKeyError,
         r"^evaluation\.classwise: not a key of evaluation; the evaluation hook's keys: by_epoch, .*; "
         r"DOTADataset\.evaluate \(data\.val\) takes: iou_thr, logger, metric, nproc, proposal_nums, "
         r"scale_ranges, use_07_metric$"),
        (dict(interval=1, iou_thr="abc"), ValueError, r"^evaluation\.iou_thr must be a number in \(0, 1\]"),
        (dict(interval=1, use_07_metric="False"), ValueError, r"^evaluation\.use_07_metric must be True or False"),
        (dict(interval=1, nproc=0), ValueError, r"^evaluation\.nproc must be a positive integer, got 0"),
        (dict(interval=1, scale_ranges=[(32, 0)]), ValueError, r"^evaluation\.scale_ranges must be None or"),
    ],
)  # fmt: skip
def test_metric_and_save_best_are_checked_against_data_val_before_training(demo, evaluation, error, message):
    """Before: clear messages only when the first evaluation ran (after epoch 1), or none."""
    cfg = copy.deepcopy(demo)
    cfg["evaluation"] = evaluation
    with pytest.raises(error, match=message):
        check_runtime_config(cfg)


def test_the_names_save_best_may_take_are_those_evaluate_returns(demo):
    import numpy as np

    from rdet_data import build_dataset
    from rdet_eval import eval_rbbox_map

    val = {**demo.data.val, "test_mode": True}
    dataset = build_dataset(val)
    empty = [[np.zeros((0, 6), np.float32) for _ in dataset.CLASSES] for _ in range(len(dataset))]
    for iou_thr in (0.5, [0.5, 0.75]):
        names = dataset.evaluate(empty, iou_thr=iou_thr, scorer=eval_rbbox_map, nproc=1)
        for name in names:
            check_evaluation_config({"save_best": name, "iou_thr": iou_thr}, val)
        with pytest.raises(ValueError, match=rf"returns: {', '.join(sorted(names))} \("):
            check_evaluation_config({"save_best": "mAPx", "iou_thr": iou_thr}, val)
    # a list data.val is a ConcatDataset: each part's names, prefixed '<i>_'
    check_evaluation_config({"save_best": "1_mAP"}, [val, val])
    with pytest.raises(ValueError, match=r"returns: 0_mAP, 1_mAP "):
        check_evaluation_config({"save_best": "mAP"}, [val, val])
    # HRSC's evaluate: ten thresholds by default
    hrsc = {"type": "HRSCDataset", "ann_file": "x", "img_prefix": "y", "pipeline": []}
    check_evaluation_config({"save_best": "AP75"}, hrsc)
    with pytest.raises(ValueError, match=r"evaluation: the validation dataset \(data\.val, a RepeatDataset\) "
                                         r"has no evaluate method"):  # fmt: skip
        check_evaluation_config({"interval": 1}, {"type": "RepeatDataset", "times": 2, "dataset": val})


def test_a_dataset_not_known_here_takes_its_own_keys_but_not_near_misses():
    """A plugin's dataset (not registered when the config is checked) may take arguments of its
    own; a near-miss of a known key is still a typo."""
    plugin = {"type": "NotRegisteredAnywhereDataset"}
    check_evaluation_config({"interval": 1, "classwise": True}, plugin)
    with pytest.raises(ConfigKeyError, match=r"evaluation\.metirc: .*did you mean evaluation\.metric\?"):
        check_evaluation_config({"interval": 1, "metirc": "mAP"}, plugin)


def test_rdet_train_stops_on_a_bad_save_best_before_anything_is_written(tmp_path, capsys):
    from rdet_apps.cli import main
    from rdet_apps.commands.demo import CONFIG
    from rdet_apps.demo_data import make_demo_dota

    data = make_demo_dota(tmp_path / "data", num_images=2, size=128, seed=0)
    config = tmp_path / "c_save_best.py"
    files = f"ann_file={f'{data.labels}/'!r}, img_prefix={f'{data.images}/'!r}"
    config.write_text(
        f"_base_ = {str(CONFIG)!r}\n"
        f"data = dict(workers_per_gpu=0, train=dict({files}), val=dict({files}))\n"
        "runner = dict(max_epochs=1)\n"
        "evaluation = dict(interval=1, save_best='mAPx')\n"
    )
    code = main(["train", str(config), "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 1
    assert "evaluation.save_best 'mAPx' is not a metric that the evaluation returns" in err
    assert not (tmp_path / "work").exists()
