"""MMRotate 0.3.x (MMCV 1.7 / MMDetection 2.x) runtime keys that rdet read partly or not at
all before: ``optimizer_config``'s hook types and arguments, the ``fp16`` dict, a top-level
``train_cfg`` / ``test_cfg``, ``data.workers_per_gpu`` for val / test, MMCV's and MMDetection's
custom hooks (EMA, CheckInvalidLoss, SyncNorm, MemoryProfiler, SetEpochInfo), MMRotate's
tools' flags, ``opencv_num_threads`` / ``mp_start_method``."""

from __future__ import annotations

import importlib.machinery
import logging
import math
import os
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rdet_apps.cli import main
from rdet_apps.engine import Runner, build_optimizer, build_runner
from rdet_apps.engine.checkpoint import find_latest_checkpoint
from rdet_apps.engine.config_checks import (
    ConfigKeyError,
    check_custom_hooks,
    check_runtime_config,
    model_config,
    optimizer_settings,
)

FP16_CPU = pytest.mark.filterwarnings("ignore:amp. this CPU has no native fp16")


class Lin(nn.Module):
    """A linear regression without BatchNorm (its gradients sum exactly over batches)."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def loss(self, batch):
        x, y = batch
        return {"loss_reg": ((self.lin(x).squeeze(-1) - y) ** 2).mean()}


class WithBN(Lin):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(4)

    def loss(self, batch):
        x, y = batch
        return {"loss_reg": ((self.lin(self.bn(x)).squeeze(-1) - y) ** 2).mean()}


def _loader(n: int = 40, batch: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1) + 1), batch_size=batch, shuffle=False)


BASE = dict(
    optimizer=dict(type="SGD", lr=0.05),
    runner=dict(type="EpochBasedRunner", max_epochs=2),
    log_config=dict(interval=50, hooks=[]),
    checkpoint_config=dict(interval=1),
)


def _run(tmp_path, model=None, loader=None, amp=None, **over):
    torch.manual_seed(0)
    runner = build_runner({**BASE, **over}, model or Lin(), tmp_path, amp=amp)
    runner.run({"train": loader or _loader()}, [("train", 1)])
    return runner


# -- 1. optimizer_config ------------------------------------------------------------------------------


def test_gradient_cumulative_hook_steps_every_n_iterations_with_mmcvs_loss_division(tmp_path):
    """cumulative_iters=3 over 2 epochs of 5 batches (10 iterations): steps after iterations 3, 6,
    9 (windows cross the epoch's end, as MMCV counts runner.iter) and 10, the last one's loss
    divided by the 1 iteration left over (MMCV's remainder). Before, a step every iteration."""
    runner = _run(tmp_path, optimizer_config=dict(type="GradientCumulativeOptimizerHook", cumulative_iters=3))
    torch.manual_seed(0)
    model = Lin()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    batches = list(_loader()) * 2
    for start, factor in ((0, 3), (3, 3), (6, 3), (9, 1)):
        opt.zero_grad()
        for batch in batches[start : start + (3 if factor == 3 else 1)]:
            (model.loss(batch)["loss_reg"] / factor).backward()
        opt.step()
    for a, b in zip(runner.raw_model.parameters(), model.parameters()):
        torch.testing.assert_close(a, b)


def test_gradient_cumulative_hook_warns_of_batchnorm_and_the_remainder(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="rdet"):
        _run(
            tmp_path,
            model=WithBN(),
            optimizer_config=dict(type="GradientCumulativeOptimizerHook", cumulative_iters=4),
        )
    text = caplog.text
    assert "BatchNorm" in text and "the last 2 iterations are not enough for cumulative_iters=4" in text


@FP16_CPU
@pytest.mark.parametrize(
    ("over", "expected"),
    [
        (dict(fp16=dict(loss_scale=512.0)), 512.0),  # static: stays
        (dict(fp16=dict()), 512.0),  # MMCV's Fp16OptimizerHook default: static 512
        (dict(optimizer_config=dict(type="Fp16OptimizerHook", loss_scale=64.0)), 64.0),
        (
            dict(fp16=dict(loss_scale=dict(init_scale=4.0, growth_interval=3))),
            4.0 * 2**3,
        ),  # 10 steps: grew 3 times
    ],
)
def test_fp16_loss_scale_is_mmcvs(tmp_path, over, expected):
    """MMCV: a number is a static scale (GradScaler set back to it at each update), a dict is
    GradScaler's arguments. Before, every fp16 run had a dynamic scaler starting at 65536."""
    runner = _run(tmp_path, amp="fp16", **over)
    assert runner.scaler is not None and runner.scaler.get_scale() == expected


@FP16_CPU
def test_fp16_static_scale_skips_an_overflowing_step_and_keeps_its_scale(tmp_path):
    torch.manual_seed(0)
    model = Lin()
    runner = Runner(model, build_optimizer(model, dict(type="SGD", lr=0.1)), tmp_path, max_epochs=1,
                    amp="fp16", loss_scale=2.0**20)  # fmt: skip
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.full((8, 4), 300.0)  # fp16 gradients x 2**20 overflow
    runner.iters_per_epoch = 1
    runner.train_step((x, x.sum(1)))
    assert runner.scaler.get_scale() == 2.0**20
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@FP16_CPU
def test_resuming_reads_the_loss_scaler_mmcv_saved(tmp_path):
    """MMCV's Fp16OptimizerHook keeps its scaler in meta['fp16']['loss_scaler'] (rdet: amp_scaler)."""
    one_epoch = dict(type="EpochBasedRunner", max_epochs=1)
    _run(tmp_path / "a", amp="fp16", fp16=dict(loss_scale="dynamic"), runner=one_epoch)
    ckpt = torch.load(tmp_path / "a" / "epoch_1.pth", weights_only=True)
    state = ckpt["meta"].pop("amp_scaler")
    ckpt["meta"]["fp16"] = {"loss_scaler": {**state, "scale": 1024.0}}
    torch.save(ckpt, tmp_path / "mmcv.pth")
    cfg = {**BASE, "fp16": dict(loss_scale="dynamic"), "resume_from": str(tmp_path / "mmcv.pth")}
    assert build_runner(cfg, Lin(), tmp_path / "b", amp="fp16").scaler.get_scale() == 1024.0


def test_fp16_on_the_cpu_is_bf16_without_a_scaler(tmp_path):
    runner = build_runner({**BASE, "fp16": dict(loss_scale=512.0)}, Lin(), tmp_path)
    assert runner.amp == "bf16" and runner.scaler is None


def test_detect_anomalous_params_logs_the_parameters_the_loss_misses(tmp_path, caplog):
    class Unused(Lin):
        def __init__(self) -> None:
            super().__init__()
            self.spare = nn.Linear(2, 2)

    with caplog.at_level(logging.ERROR, logger="rdet"):
        _run(tmp_path, model=Unused(), runner=dict(type="EpochBasedRunner", max_epochs=1),
             optimizer_config=dict(detect_anomalous_params=True))  # fmt: skip
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "spare.weight with shape torch.Size([2, 2]) is not in the computational graph" in errors
    assert not any(m.startswith("lin.") for m in errors)


@pytest.mark.parametrize(
    ("over", "error", "message"),
    [
        (dict(optimizer_config=dict(type="GradientCumulativeOptimizerHook", cumulative_iter=4)), ConfigKeyError,
         r"optimizer_config.cumulative_iter: not an argument of GradientCumulativeOptimizerHook \(did you mean "
         r"optimizer_config.cumulative_iters\?\)"),
        (dict(optimizer_config=dict(grad_clip=dict(max_nrom=35))), ConfigKeyError,
         r"optimizer_config.grad_clip.max_nrom: .*did you mean optimizer_config.grad_clip.max_norm"),
        (dict(optimizer_config=dict(grad_clip=dict(max_norm=-1))), ValueError, r"grad_clip.max_norm must be"),
        (dict(optimizer_config=dict(cumulative_iters=4)), ConfigKeyError, r"not an argument of OptimizerHook"),
        (dict(optimizer_config=dict(type="GradientCumulativeOptimizerHook", cumulative_iters=0)), ValueError,
         r"optimizer_config.cumulative_iters must be a positive integer"),
        (dict(optimizer_config=dict(type="Fp16OptimizerHok")), ConfigKeyError, r"did you mean 'Fp16OptimizerHook'"),
        (dict(optimizer_config=dict(type="Fp16OptimizerHook", loss_scale="auto")), ValueError,
         r"optimizer_config.loss_scale must be 'dynamic', a number"),
        (dict(fp16=dict(loss_scael=512.0)), ConfigKeyError, r"fp16.loss_scael: .*did you mean fp16.loss_scale"),
        (dict(fp16=dict(loss_scale=dict(init_scal=8.0))), ConfigKeyError, r"fp16.loss_scale.init_scal"),
        (dict(fp16=dict(loss_scale=dict(backoff_factor=2.0))), ValueError, r"fp16.loss_scale.backoff_factor"),
        (dict(fp16=dict(distributed=True)), ConfigKeyError, r"fp16.distributed: not an argument"),
        (dict(fp16=dict(grad_clip=None), optimizer_config=dict(grad_clip=dict(max_norm=3))), ConfigKeyError,
         r"given twice"),
        (dict(fp16=dict(), optimizer_config=dict(detect_anomalous_params=True)), ConfigKeyError,
         r"Fp16OptimizerHook .* does not take it"),
        (dict(optimizer_config=dict(detect_anomalous_params="yes")), ValueError,
         r"optimizer_config.detect_anomalous_params must be True or False"),
    ],
)  # fmt: skip
def test_optimizer_config_and_fp16_keys_are_checked_up_front(over, error, message):
    """Every key of optimizer_config and fp16, before anything is built (before, only grad_clip
    was read, and a bad grad_clip failed at the first iteration)."""
    with pytest.raises(error, match=message):
        check_runtime_config({**BASE, **over})


def test_fp16_beside_a_cumulative_hook_combines_them():
    s = optimizer_settings({"fp16": {"loss_scale": "dynamic"},
                            "optimizer_config": {"type": "GradientCumulativeOptimizerHook", "cumulative_iters": 2}})  # fmt: skip
    assert (s.type, s.cumulative_iters, s.fp16, s.loss_scale) == (
        "GradientCumulativeFp16OptimizerHook",
        2,
        True,
        "dynamic",
    )


def test_train_command_refuses_a_bad_optimizer_config_before_loading_data(tmp_path, capsys):
    cfg = tmp_path / "c.py"
    cfg.write_text(
        "model = dict(type='RotatedRetinaNet')\n"
        "data = dict(train=dict(type='DOTADataset', ann_file='/nonexistent/', img_prefix='/nonexistent/'))\n"
        "optimizer = dict(type='SGD', lr=0.01)\n"
        "optimizer_config = dict(type='GradientCumulativeOptimizerHook', cumulative_iter=4)\n"
    )
    assert main(["train", str(cfg), "--work-dir", str(tmp_path / "w")]) == 1
    assert "optimizer_config.cumulative_iter: not an argument" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


# -- 3. train_cfg / test_cfg beside model -------------------------------------------------------------


def _demo_with(tmp_path, text: str) -> Path:
    from rdet_apps.commands.demo import CONFIG

    path = tmp_path / "cfg.py"
    path.write_text(f"_base_ = {str(CONFIG)!r}\n{text}")
    return path


TOP_LEVEL = (
    "model = dict(train_cfg=None, test_cfg=None)\n"
    "train_cfg = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,"
    " ignore_iof_thr=-1, iou_calculator=dict(type='RBboxOverlaps2D')), allowed_border=-1, pos_weight=-1,"
    " debug=False)\n"
    "test_cfg = dict(nms_pre=100, min_bbox_size=0, score_thr=0.5, nms=dict(iou_thr=0.1), max_per_img=7)\n"
)


def test_train_command_moves_a_top_level_train_and_test_cfg_into_the_model(tmp_path, monkeypatch):
    """MMDetection's build_detector(cfg.model, train_cfg=cfg.get('train_cfg'), ...). Before, they
    were dropped and training failed at the first batch ('NoneType' has no 'allowed_border')."""
    import rdet_models

    seen = {}

    def capture(cfg, *args, **kwargs):
        seen.update(cfg)
        raise RuntimeError("stop")

    monkeypatch.setattr(rdet_models, "build_detector", capture)
    _no_env_report(monkeypatch)
    with pytest.warns(
        UserWarning, match="train_cfg and test_cfg at the top level of the config are deprecated"
    ):
        assert main(["train", str(_demo_with(tmp_path, TOP_LEVEL)), "--work-dir", str(tmp_path / "w")]) == 1
    assert seen["train_cfg"]["allowed_border"] == -1 and seen["test_cfg"]["max_per_img"] == 7


def test_init_detector_takes_a_top_level_test_cfg_and_refuses_one_in_both_places(tmp_path):
    from rdet_apps.apis import init_detector

    with pytest.warns(UserWarning, match="test_cfg at the top level of the config is deprecated"):
        model = init_detector(str(_demo_with(tmp_path, TOP_LEVEL)), device="cpu")
    assert model.bbox_head.test_cfg["max_per_img"] == 7 and model.bbox_head.train_cfg is None
    both = tmp_path / "both.py"
    both.write_text(f"_base_ = {str(_demo_with(tmp_path, ''))!r}\ntest_cfg = dict(max_per_img=7)\n")
    with pytest.raises(
        ValueError, match="test_cfg is given both at the top level of the config and in model"
    ):
        init_detector(str(both), device="cpu")


def test_model_config_is_mmdetections_build_detector():
    cfg = {"model": {"type": "X", "train_cfg": None}, "train_cfg": {"a": 1}}
    with pytest.warns(UserWarning):
        assert model_config(cfg) == {"type": "X", "train_cfg": {"a": 1}}
    assert model_config(cfg, training=False) == {"type": "X", "train_cfg": None}  # tests drop it, unwarned
    assert model_config({"model": {"type": "X"}}) == {"type": "X"}
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="train_cfg is given both"):
        model_config({"model": {"type": "X", "train_cfg": {"b": 2}}, "train_cfg": {"a": 1}})


# -- 4. data.workers_per_gpu for val / test ----------------------------------------------------------


def test_workers_per_gpu_reaches_the_val_and_test_loaders():
    """MMDetection's compat_cfg copies data.workers_per_gpu into all three loaders; before, val
    and test took default_workers() (2 on 2 cores) whatever the config said."""
    from rdet_apps.apis.train import _loader_args
    from rdet_apps.engine.workers import loader_args
    from rdet_core import Config

    data = {"workers_per_gpu": 0, "train": {}, "val": {}, "test": {}}
    for split in ("train", "val", "test"):
        assert loader_args(data, split)["workers_per_gpu"] == 0
    assert loader_args({**data, "test_dataloader": {"workers_per_gpu": 3}}, "test")["workers_per_gpu"] == 3
    assert (
        _loader_args(Config({"data": data}), "val", distributed=False, on_gpu=False)["workers_per_gpu"] == 0
    )
    with pytest.raises(ValueError, match=r"data.workers_per_gpu \(val\) must be an integer >= 0"):
        loader_args({**data, "workers_per_gpu": -1}, "val")


def _fake_test_set(monkeypatch, seen):
    """rdet test's dataset a stand-in, and its loader captured (then stopped)."""
    import rdet_data

    def capture(dataset, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop")

    def evaluate(results, metric="mAP"):
        return {}

    monkeypatch.setattr(rdet_data, "build_dataloader", capture)
    monkeypatch.setattr(
        rdet_data, "build_dataset", lambda cfg: types.SimpleNamespace(CLASSES=("a",), evaluate=evaluate)
    )


def test_test_command_builds_its_loader_with_workers_per_gpu(monkeypatch, tmp_path):
    seen: dict = {}
    _fake_test_set(monkeypatch, seen)
    cfg = _demo_with(tmp_path, "data = dict(workers_per_gpu=0)\n")
    assert main(["test", str(cfg), "none.pth", "--out", str(tmp_path / "r.pkl"), "--device", "cpu"]) == 1
    assert seen["workers_per_gpu"] == 0


# -- 5. custom hooks -----------------------------------------------------------------------------------


def _ema_reference(momenta, runner_cls=Lin, epochs=2):
    """Weights and their EMA by hand: SGD steps over the toy batches, ema = (1-m) ema + m w."""
    torch.manual_seed(0)
    model = runner_cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ema = {n: p.detach().clone() for n, p in model.named_parameters()}
    it = 0
    for _ in range(epochs):
        for batch in _loader():
            opt.zero_grad()
            model.loss(batch)["loss_reg"].backward()
            opt.step()
            m = momenta(it)
            if m is not None:
                for n, p in model.named_parameters():
                    ema[n].mul_(1 - m).add_(p.detach(), alpha=m)
            it += 1
    return {n: p.detach() for n, p in model.named_parameters()}, ema


def test_ema_hook_is_mmcvs_and_its_checkpoints_hold_the_averages(tmp_path):
    """MMCV's EMAHook: ema_<name> buffers, momentum min(m**interval, (1+it)/(warm_up+it)) at
    it % interval == 0; after each epoch the model holds the averages (the checkpoint too) and
    ema_* the trained weights. Without a priority in the config the hook runs at 49, before the
    CheckpointHook; at MMCV's default NORMAL the checkpoint was saved before the swap."""
    runner = _run(tmp_path, custom_hooks=[dict(type="EMAHook", momentum=0.3, interval=2, warm_up=4)])
    weights, ema = _ema_reference(lambda it: min(0.3**2, (1 + it) / (4 + it)) if it % 2 == 0 else None)
    model = runner.raw_model
    torch.testing.assert_close(model.lin.weight, ema["lin.weight"])  # swapped after the last epoch
    torch.testing.assert_close(model.ema_lin_weight, weights["lin.weight"])
    saved = torch.load(tmp_path / "epoch_2.pth", weights_only=True)["state_dict"]
    assert set(saved) == {"lin.weight", "lin.bias", "ema_lin_weight", "ema_lin_bias"}
    torch.testing.assert_close(saved["lin.weight"], ema["lin.weight"])
    normal = dict(type="EMAHook", momentum=0.3, interval=2, warm_up=4, priority="NORMAL")
    _run(tmp_path / "normal", custom_hooks=[normal])  # MMCV's order, when asked for
    saved = torch.load(tmp_path / "normal" / "epoch_2.pth", weights_only=True)["state_dict"]
    torch.testing.assert_close(saved["lin.weight"], weights["lin.weight"])


def test_resuming_with_an_ema_hook_continues_the_averages(tmp_path):
    hooks = [dict(type="EMAHook", momentum=0.3, warm_up=1, priority=49)]
    whole = _run(tmp_path / "a", custom_hooks=hooks)
    _run(tmp_path / "b", custom_hooks=hooks, runner=dict(type="EpochBasedRunner", max_epochs=1))
    resumed = _run(tmp_path / "c", custom_hooks=hooks, resume_from=str(tmp_path / "b" / "epoch_1.pth"))
    for key, value in whole.raw_model.state_dict().items():
        torch.testing.assert_close(resumed.raw_model.state_dict()[key], value)
    # a checkpoint of a run without EMA: the averages start at its weights; and the other way round
    _run(tmp_path / "d", runner=dict(type="EpochBasedRunner", max_epochs=1))
    _run(tmp_path / "e", custom_hooks=hooks, resume_from=str(tmp_path / "d" / "epoch_1.pth"))
    plain = _run(tmp_path / "f", resume_from=str(tmp_path / "b" / "epoch_1.pth"))
    assert plain.epoch == 2 and not hasattr(plain.raw_model, "ema_lin_weight")


def test_ema_hook_resume_from_argument_resumes(tmp_path):
    _run(
        tmp_path / "b",
        custom_hooks=[dict(type="EMAHook")],
        runner=dict(type="EpochBasedRunner", max_epochs=1),
    )
    runner = build_runner({**BASE, "custom_hooks": [dict(type="EMAHook", resume_from=str(tmp_path / "b" / "epoch_1.pth"))]},
                          Lin(), tmp_path / "c")  # fmt: skip
    assert runner.epoch == 1


def test_mmdetection_momentum_ema_hooks(tmp_path):
    """ExpMomentumEMAHook: (1-m) exp(-(1+it)/total_iter) + m at (it+1) % interval == 0, over the whole
    state (BatchNorm statistics too: ema_bn_running_mean), unless skip_buffers."""
    runner = _run(tmp_path / "a", custom_hooks=[dict(type="ExpMomentumEMAHook", momentum=0.1, total_iter=5)])
    _, ema = _ema_reference(lambda it: (1 - 0.1) * math.exp(-(1 + it) / 5) + 0.1)
    torch.testing.assert_close(runner.raw_model.lin.weight, ema["lin.weight"])
    linear = _run(
        tmp_path / "b", custom_hooks=[dict(type="LinearMomentumEMAHook", momentum=0.2, interval=2, warm_up=3)]
    )
    _, ema = _ema_reference(lambda it: min(0.2**2, (1 + it) / (3 + it)) if (it + 1) % 2 == 0 else None)
    torch.testing.assert_close(linear.raw_model.lin.weight, ema["lin.weight"])
    bn = _run(tmp_path / "c", model=WithBN(), custom_hooks=[dict(type="ExpMomentumEMAHook")])
    assert hasattr(bn.raw_model, "ema_bn_running_mean")
    skip = _run(
        tmp_path / "d", model=WithBN(), custom_hooks=[dict(type="ExpMomentumEMAHook", skip_buffers=True)]
    )
    assert not hasattr(skip.raw_model, "ema_bn_running_mean") and hasattr(skip.raw_model, "ema_bn_weight")


def test_an_ema_checkpoint_loads_in_rdet_test_with_the_saved_weights(tmp_path):
    """rdet test / init_detector: the ema_* buffers of MMCV's EMA hooks are left aside and the
    weights under the model's own names (the averages, after an epoch) loaded; before, a strict
    load refused the checkpoint (unexpected keys)."""
    from rdet_apps.apis import init_detector
    from rdet_apps.engine.hooks.ema import ema_buffer_name

    cfg = _demo_with(tmp_path, "")
    model = init_detector(str(cfg), device="cpu")
    state = {k: v + 1 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    state.update({ema_buffer_name(k): torch.zeros_like(v) for k, v in model.state_dict().items()})
    torch.save({"state_dict": state, "meta": {}}, tmp_path / "ema.pth")
    loaded = init_detector(str(cfg), str(tmp_path / "ema.pth"), device="cpu")
    torch.testing.assert_close(
        loaded.state_dict()["bbox_head.retina_cls.bias"], state["bbox_head.retina_cls.bias"]
    )


def test_check_invalid_loss_hook_stops_a_deferred_run_at_its_interval(tmp_path):
    """MMDetection's CheckInvalidLossHook: with the losses kept on the device (a GPU run, here
    max_pending=50), a NaN is reported at the hook's next interval, not at the epoch's end."""
    from rdet_models import NonFiniteLossError

    class NaNAt3(Lin):
        calls = 0

        def loss(self, batch):
            NaNAt3.calls += 1
            out = super().loss(batch)
            return {"loss_reg": out["loss_reg"] * (float("nan") if NaNAt3.calls == 3 else 1.0)}

    torch.manual_seed(0)
    model = NaNAt3()
    runner = build_runner(
        {**BASE, "custom_hooks": [dict(type="CheckInvalidLossHook", interval=2)]}, model, tmp_path
    )
    runner.max_pending = 50
    with pytest.raises(NonFiniteLossError, match="iteration 3"):
        runner.run({"train": _loader(200)}, [("train", 1)])
    assert runner.iter == 3  # stopped at the check after iteration 4 (0-based 3), not at 25


def test_sync_norm_and_set_epoch_info_hooks(tmp_path, caplog):
    class Epochs(Lin):
        def __init__(self) -> None:
            super().__init__()
            self.epochs = []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

    with caplog.at_level(logging.INFO, logger="rdet"):
        runner = _run(tmp_path / "a", model=Epochs(),
                      custom_hooks=[dict(type="SetEpochInfoHook"), dict(type="SyncNormHook", num_last_epochs=1)])  # fmt: skip
    assert runner.raw_model.epochs == [0, 1]
    assert "SyncNormHook: one process, no normalisation states to synchronise" in caplog.text
    with pytest.raises(AttributeError, match=r"SetEpochInfoHook: the model \(Lin\) has no set_epoch"):
        _run(tmp_path / "b", custom_hooks=[dict(type="SetEpochInfoHook")])


def test_memory_profiler_hook_needs_psutil_and_logs_mmdetections_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "psutil", None)  # not installed
    with pytest.raises(ImportError, match=r"MemoryProfilerHook needs psutil.*rdet-apps\[profile\]"):
        check_custom_hooks([dict(type="MemoryProfilerHook")])
    fake = types.ModuleType("psutil")
    fake.__spec__ = importlib.machinery.ModuleSpec("psutil", None)
    mem = types.SimpleNamespace(available=2**31, used=2**30, percent=33.3, total=2**32)
    fake.virtual_memory = lambda: mem
    fake.swap_memory = lambda: types.SimpleNamespace(total=2**30, used=0, percent=0.0)
    fake.Process = lambda: types.SimpleNamespace(memory_info=lambda: types.SimpleNamespace(rss=300 * 2**20))
    monkeypatch.setitem(sys.modules, "psutil", fake)
    check_custom_hooks([dict(type="MemoryProfilerHook", interval=2)])
    with caplog.at_level(logging.INFO, logger="rdet"):
        _run(tmp_path, custom_hooks=[dict(type="MemoryProfilerHook", interval=2)],
             runner=dict(type="EpochBasedRunner", max_epochs=1))  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Memory information")]
    assert (
        len(lines) == 2
        and "available_memory: 2048 MB" in lines[0]
        and "current_process_memory: 300 MB" in lines[0]
    )


@pytest.mark.parametrize(
    ("hooks", "error", "message"),
    [
        ([dict(type="EMAHook", momentom=0.1)], ConfigKeyError, r"custom_hooks\[0\] \(EMAHook\).momentom: .*momentum"),
        ([dict(type="EMAHook", momentum=1.5)], ValueError, r"EMAHook momentum must be a number in \(0"),
        ([dict(type="ExpMomentumEMAHook", total_iter=0)], ValueError, r"total_iter must be a number > 0"),
        ([dict(type="CheckInvalidLossHook", interval=0)], ValueError, r"interval must be a positive integer"),
        ([dict(type="SyncNormHook", num_last_epoch=15)], ConfigKeyError, r"did you mean .*num_last_epochs"),
        ([dict(type="EMAHoook")], Exception, r"EMAHoook"),
        ([dict(type="EMAHook", priority="ABOVE")], ValueError, r"unknown hook priority"),
        ([dict(type="SetEpochInfoHook", interval=1)], ConfigKeyError, r"not an argument of SetEpochInfoHook"),
    ],
)  # fmt: skip
def test_custom_hooks_are_checked_up_front(hooks, error, message):
    with pytest.raises(error, match=message):
        check_runtime_config({**BASE, "custom_hooks": hooks})


# -- 6. MMRotate's tools' flags ------------------------------------------------------------------------


def test_find_latest_checkpoint(tmp_path):
    assert find_latest_checkpoint(tmp_path / "none") is None and find_latest_checkpoint(tmp_path) is None
    for name in ("epoch_2.pth", "epoch_10.pth", "model.pth", "best_mAP_epoch_3.pth"):
        (tmp_path / name).write_bytes(b"")
    assert find_latest_checkpoint(tmp_path) == str(tmp_path / "epoch_10.pth")
    (tmp_path / "latest.pth").write_bytes(b"")
    assert find_latest_checkpoint(tmp_path) == str(tmp_path / "latest.pth")


def test_auto_resume_resumes_from_the_work_dirs_latest_checkpoint(tmp_path):
    _run(tmp_path, runner=dict(type="EpochBasedRunner", max_epochs=1))
    runner = build_runner({**BASE, "auto_resume": True}, Lin(), tmp_path)
    assert runner.epoch == 1
    fresh = build_runner({**BASE, "auto_resume": True}, Lin(), tmp_path / "empty")
    assert fresh.epoch == 0


def _no_env_report(monkeypatch):
    """rdet train logs `rdet env`'s report first (seconds: not what these tests are about)."""
    import rdet_apps.commands.env

    monkeypatch.setattr(rdet_apps.commands.env, "collect", lambda: {})


def _stop_at_build(monkeypatch, seen):
    import rdet_apps.engine
    import rdet_models

    _no_env_report(monkeypatch)
    real_seed = rdet_apps.engine.set_random_seed

    def seed(value, deterministic=False, rank_offset=True):
        seen["rank_offset"] = rank_offset
        return real_seed(value, deterministic, rank_offset)

    def stop(cfg, *args, **kwargs):
        seen["cfg"] = cfg
        raise RuntimeError("stop")

    monkeypatch.setattr(rdet_apps.engine, "set_random_seed", seed)
    monkeypatch.setattr(rdet_models, "build_detector", stop)


def test_train_takes_mmrotates_flags(tmp_path, monkeypatch, capsys):
    """--auto-resume, --diff-seed, --gpu-id / --gpu-ids / --gpus, --local_rank / --local-rank and
    the deprecated --options; before, argparse refused each."""
    seen: dict = {}
    _stop_at_build(monkeypatch, seen)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    cfg = str(_demo_with(tmp_path, ""))
    work = ["--work-dir", str(tmp_path / "w")]
    with pytest.warns(UserWarning, match="--options is deprecated in favor of --cfg-options"):
        assert main(["train", cfg, *work, "--auto-resume", "--local_rank", "0", "--options", "seed=5"]) == 1
    assert seen["rank_offset"] is False and os.environ["LOCAL_RANK"] == "0"
    assert main(["train", cfg, *work, "--diff-seed", "--local-rank=0"]) == 1
    assert seen["rank_offset"] is True
    capsys.readouterr()
    with pytest.raises(SystemExit):  # argparse: one of them
        main(["train", cfg, *work, "--gpu-ids", "0", "1", "--gpus", "2"])
    if not torch.cuda.is_available():  # no GPU here: --gpu-id names itself
        assert main(["train", cfg, *work, "--gpu-id", "1"]) == 1
        assert "--gpu-id cuda:1: CUDA is not available" in capsys.readouterr().err
    assert main(["train", cfg, *work, "--options", "a=1", "--cfg-options", "b=2"]) == 1
    assert "--options and --cfg-options cannot be both given" in capsys.readouterr().err


def test_auto_resume_flag_sets_the_config_key(tmp_path, monkeypatch):
    import rdet_apps.apis.train as train_api

    seen: dict = {}

    def capture(model, datasets, cfg, *args, **kwargs):
        seen["auto_resume"] = cfg.get("auto_resume")
        raise RuntimeError("stop")

    monkeypatch.setattr(train_api, "train_detector", capture)
    _no_env_report(monkeypatch)
    monkeypatch.setattr("rdet_data.build_dataset", lambda cfg: [])
    cfg = str(_demo_with(tmp_path, ""))
    assert main(["train", cfg, "--work-dir", str(tmp_path / "w"), "--auto-resume"]) == 1
    assert seen["auto_resume"] is True


def test_test_takes_mmrotates_flags(tmp_path, capsys, monkeypatch):
    from rdet_apps.cli import build_parser

    args = build_parser(["test"]).parse_args(
        ["test", "c.py", "k.pth", "--eval", "mAP", "--tmpdir", "t", "--gpu-collect", "--gpu-id", "0",
         "--local_rank", "1", "--options", "iou_thr=0.5", "--work-dir", "w", "--fuse-conv-bn", "--show-score-thr", "0.2"]
    )  # fmt: skip
    assert (args.tmpdir, args.gpu_collect, args.gpu_id, args.local_rank, args.work_dir) == (
        "t",
        True,
        0,
        1,
        "w",
    )
    assert args.options == {"iou_thr": 0.5}
    cfg = str(_demo_with(tmp_path, ""))
    assert main(["test", cfg, "k.pth", "--eval", "mAP", "--tmpdir", str(tmp_path)]) == 1
    assert (
        "--tmpdir / --gpu-collect gather the results of several processes: give --launcher"
        in capsys.readouterr().err
    )
    _fake_test_set(monkeypatch, {})
    with pytest.warns(UserWarning, match="--options is deprecated in favor of --eval-options"):
        assert main(["test", cfg, "k.pth", "--eval", "mAP", "--options", "iou_thr=2"]) == 1
    assert "--eval-options iou_thr: not an option" in capsys.readouterr().err  # the alias reached its checks


def test_multi_gpu_test_gathers_through_tmpdir(tmp_path, monkeypatch):
    import torch.distributed as dist

    from rdet_apps.apis import test as test_api

    monkeypatch.setattr(test_api, "single_gpu_test", lambda model, loader, *a, **k: ["r0", "r1"])
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        loader = types.SimpleNamespace(dataset=[0, 1])
        assert test_api.multi_gpu_test(None, loader, progress=False, tmpdir=tmp_path / "parts") == [
            "r0",
            "r1",
        ]
        assert test_api.multi_gpu_test(None, loader, progress=False) == ["r0", "r1"]
        assert not any((tmp_path / "parts").iterdir())
    finally:
        dist.destroy_process_group()


# -- 7. opencv_num_threads, mp_start_method ----------------------------------------------------------


def test_setup_multi_processes_applies_the_configs_settings(monkeypatch):
    import cv2
    import torch.multiprocessing as mp

    from rdet_apps.engine.workers import setup_multi_processes

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
        monkeypatch.delenv(var, raising=False)
    method, threads = mp.get_start_method(allow_none=True), cv2.getNumThreads()
    other = "spawn" if method != "spawn" else "fork"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            setup_multi_processes(
                {"mp_start_method": other, "opencv_num_threads": 0, "data": {"workers_per_gpu": 2}}
            )
        assert mp.get_start_method() == other and cv2.getNumThreads() == 1  # 0: sequential (OpenCV says 1)
        assert os.environ["OPENCV_FOR_THREADS_NUM"] == "1"  # what spawned workers' OpenCV reads
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["MKL_NUM_THREADS"] == "1"
        assert sum("environment variable for each process to be 1" in str(w.message) for w in caught) == 2
    finally:
        mp.set_start_method(method, force=True)
        cv2.setNumThreads(threads)
    monkeypatch.delenv("OMP_NUM_THREADS")
    setup_multi_processes({"data": {"workers_per_gpu": 1}})  # one worker: the environment is left alone
    assert "OMP_NUM_THREADS" not in os.environ


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("opencv_num_threads", -1, "opencv_num_threads must be an integer >= 0"),
        ("mp_start_method", "forx", "mp_start_method must be one of"),
        ("auto_resume", "yes", "auto_resume must be True or False"),
    ],
)
def test_multiprocessing_keys_are_checked(key, value, message):
    with pytest.raises(ValueError, match=message):
        check_runtime_config({**BASE, key: value})
