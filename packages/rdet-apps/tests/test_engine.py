"""The training engine on a toy model: schedules, optimizer groups, hooks, checkpoints,
resume after SIGKILL, DDP with 2 processes."""

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rdet_apps.engine import Hook, Runner, build_optimizer, build_runner, build_schedule, parse_losses
from rdet_apps.engine.hooks import EvalHook, get_priority
from rdet_apps.engine.optim import DefaultOptimizerConstructor, fuse_sgd_step

SCRIPT = Path(__file__).parent / "scripts" / "toy_training.py"


class Toy(nn.Module):
    num_classes = 3

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.bn = nn.BatchNorm1d(4)
        self.lin = nn.Linear(4, 1)

    def loss(self, batch):
        x, y = batch
        return {"loss_reg": ((self.lin(self.bn(x)).squeeze(-1) - y) ** 2).mean(), "acc": torch.tensor(0.5)}


def _loader(n=32, batch=8):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1)), batch_size=batch, shuffle=False)


def test_step_schedule_with_linear_warmup_follows_mmcv():
    s = build_schedule(
        dict(policy="step", warmup="linear", warmup_iters=500, warmup_ratio=1.0 / 3, step=[8, 11])
    )
    base = 0.0025
    assert s.value(base, 0, 0, 12, None) == pytest.approx(base / 3)
    assert s.value(base, 0, 250, 12, None) == pytest.approx(base * (1 - 0.5 * (2 / 3)))
    assert s.value(base, 7, 5000, 12, None) == pytest.approx(base)
    assert s.value(base, 8, 6000, 12, None) == pytest.approx(base * 0.1)
    assert s.value(base, 11, 9000, 12, None) == pytest.approx(base * 0.01)


def test_other_policies():
    cos = build_schedule(dict(policy="CosineAnnealing", min_lr_ratio=0.01, by_epoch=False))
    assert cos.value(1.0, 0, 0, None, 100) == pytest.approx(1.0)
    assert cos.value(1.0, 0, 50, None, 100) == pytest.approx(0.505)
    assert cos.value(1.0, 0, 100, None, 100) == pytest.approx(0.01)
    poly = build_schedule(dict(policy="poly", power=2.0, min_lr=0.0))
    assert poly.value(1.0, 6, 0, 12, None) == pytest.approx(0.25)
    exp_warm = build_schedule(dict(policy="fixed", warmup="exp", warmup_iters=10, warmup_ratio=0.01))
    assert exp_warm.value(1.0, 0, 0, 1, None) == pytest.approx(0.01) and exp_warm.value(
        1.0, 0, 5, 1, None
    ) == pytest.approx(0.1)
    const = build_schedule(
        dict(policy="step", step=2, gamma=0.5, warmup="constant", warmup_iters=3, warmup_ratio=0.2)
    )
    assert const.value(1.0, 0, 2, 8, None) == pytest.approx(0.2) and const.value(
        1.0, 4, 100, 8, None
    ) == pytest.approx(0.25)
    cyc = build_schedule(dict(policy="cyclic", target_ratio=(10, 1e-4), cyclic_times=1, step_ratio_up=0.4))
    assert cyc.value(1.0, 0, 40, None, 100) == pytest.approx(10.0) and cyc.value(1.0, 0, 99, None, 100) < 0.01
    with pytest.raises(ValueError, match="OneCycle policy needs max_lr"):
        build_schedule(dict(policy="OneCycle"))
    with pytest.raises(ValueError, match="unknown lr policy 'OneCircle'"):
        build_schedule(dict(policy="OneCircle"))
    with pytest.raises(ValueError, match="step policy needs step"):
        build_schedule(dict(policy="step"))


def test_paramwise_cfg_groups():
    model = Toy()
    opt = build_optimizer(
        model,
        dict(
            type="SGD",
            lr=0.1,
            weight_decay=1e-4,
            paramwise_cfg=dict(bias_lr_mult=2.0, norm_decay_mult=0.0, custom_keys={"lin": dict(lr_mult=0.5)}),
        ),
    )
    by_shape = {(tuple(g["params"][0].shape), g["lr"], g["weight_decay"]) for g in opt.param_groups}
    assert ((2,), 0.2, 1e-4) in by_shape  # conv bias: bias_lr_mult
    assert ((4,), 0.1, 0.0) in by_shape  # bn weight/bias: no decay, bn bias keeps its lr
    assert ((1, 4), 0.05, 1e-4) in by_shape and ((1,), 0.05, 1e-4) in by_shape  # custom key wins
    with pytest.raises(KeyError, match="neither a torch.optim optimizer.*AdamW"):
        build_optimizer(model, dict(type="Adamm", lr=0.1))
    assert isinstance(build_optimizer(model, dict(type="AdamW", lr=1e-3)), torch.optim.AdamW)


def _sgd_runner(tmp_path, amp=None, **cfg):
    torch.manual_seed(0)
    model = Toy()
    opt = build_optimizer(
        model,
        dict({"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": True, **cfg}),
    )
    return Runner(model, opt, tmp_path, max_epochs=2, amp=amp)


@pytest.mark.filterwarnings("ignore:amp. this CPU has no native fp16")
def test_optimizers_and_constructors_of_your_own(tmp_path):
    """MMRotate's docs (customize_runtime): a registered optimizer by its name, and a registered
    constructor by ``optimizer.constructor``. Before, only torch.optim's names were known."""
    from rdet_apps.registry import OPTIMIZER_BUILDERS, OPTIMIZERS
    from rdet_core import UnknownTypeError

    @OPTIMIZERS.register_module(force=True)
    class HalfStepSGD(torch.optim.SGD):
        def __init__(self, params, lr, a=0.5):
            super().__init__(params, lr=lr * a)

    built = []

    @OPTIMIZER_BUILDERS.register_module(force=True)
    class FrozenBiasConstructor(DefaultOptimizerConstructor):
        def __call__(self, model):
            built.append(self.optimizer_cls)
            return self.optimizer_cls(
                [p for n, p in model.named_parameters() if "bias" not in n], **self.optimizer_cfg
            )

    opt = build_optimizer(Toy(), dict(type="HalfStepSGD", lr=0.1, a=0.2))
    assert isinstance(opt, HalfStepSGD) and opt.param_groups[0]["lr"] == pytest.approx(0.02)
    cfg = dict(
        optimizer=dict(type="HalfStepSGD", lr=0.1, constructor="FrozenBiasConstructor"),
        runner=dict(type="EpochBasedRunner", max_epochs=1),
        log_config=dict(hooks=[]),
    )
    runner = build_runner(cfg, Toy(), tmp_path)
    assert built == [HalfStepSGD] and len(runner.optimizer.param_groups[0]["params"]) == 3  # weights only
    with pytest.raises(
        UnknownTypeError,
        match="'FrozenBiasConstrutor' is not in the 'optimizer_builders'.*FrozenBiasConstructor",
    ):
        build_optimizer(Toy(), dict(type="SGD", lr=0.1, constructor="FrozenBiasConstrutor"))
    with pytest.raises(
        KeyError, match="'HalfStepSDG' is neither a torch.optim optimizer nor registered.*HalfStepSGD"
    ):
        build_optimizer(Toy(), dict(type="HalfStepSDG", lr=0.1))


def test_sgd_on_the_cpu_steps_fused_unless_the_loss_is_scaled(tmp_path):
    """Plain SGD on CPU parameters runs torch's fused step (one pass per parameter) with the
    default step's weights up to rounding (its multiply-adds: 1 ulp now and then); with fp16's
    loss scaler, or a config's own fused / foreach, the step is left as it is."""
    fused, plain = _sgd_runner(tmp_path / "f"), _sgd_runner(tmp_path / "p", foreach=False)
    assert all(g["fused"] is True for g in fused.optimizer.param_groups)
    assert all(not g["fused"] for g in plain.optimizer.param_groups)  # the config's choice
    for runner in (fused, plain):
        runner.run({"train": _loader()})
    for (name, a), b in zip(fused.raw_model.state_dict().items(), plain.raw_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)
    assert fused.losses_history == pytest.approx(plain.losses_history, rel=1e-6)
    scaled = _sgd_runner(tmp_path / "s", amp="fp16")  # torch's default (None: foreach where it picks it)
    assert scaled.scaler is not None and all(g["fused"] is None for g in scaled.optimizer.param_groups)
    damped = _sgd_runner(
        tmp_path / "d", dampening=0.1, nesterov=False
    )  # a zero buffer's first step would differ
    assert all(g["fused"] is None for g in damped.optimizer.param_groups)
    adam = build_optimizer(Toy(), dict(type="AdamW", lr=1e-3))
    assert not Runner(Toy(), adam, tmp_path / "a", max_epochs=1).optimizer.defaults.get("fused")


def test_fused_sgd_takes_a_parameter_whose_first_gradient_comes_late():
    """torch's fused step treats a step as the first only when no parameter has a momentum
    buffer, and fails on one that gets its first gradient later (a branch used late, DDP's
    unused parameters): the missing buffers start as zeros, which with no dampening gives the
    default step's weights (its first momentum is the gradient)."""
    torch.manual_seed(0)
    nets = [nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 1)]) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    cfg = dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4)
    fused, plain = build_optimizer(nets[0], cfg), build_optimizer(nets[1], {**cfg, "foreach": False})
    assert fuse_sgd_step(fused, loss_scaled=False) and not fuse_sgd_step(plain, loss_scaled=False)
    x = torch.randn(8, 4)
    for step in range(4):
        for net, opt in zip(nets, (fused, plain)):
            opt.zero_grad(set_to_none=True)
            h = net[0](x)
            (net[1](h).square().mean() if step >= 2 else h.square().mean()).backward()  # net[1] from step 2
            opt.step()
    for (name, a), b in zip(nets[0].state_dict().items(), nets[1].state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)


@pytest.mark.filterwarnings("ignore:amp. this CPU has no native fp16")
def test_a_configs_own_fused_sgd_is_kept_and_safe_under_the_loss_scaler(tmp_path):
    """A config's ``fused=True`` is kept, also beside fp16's loss scaler, and its momentum
    buffers start as zeros: torch's fused step would otherwise make them with empty_like on a
    first step that the scaler then skips for overflow, and add that memory to the weights
    later. With dampening that cannot be made safe: an error naming the setting."""
    runner = _sgd_runner(tmp_path / "f", amp="fp16", fused=True, nesterov=False)
    opt = runner.optimizer
    assert runner.scaler is not None and all(g["fused"] is True for g in opt.param_groups)
    params = [p for g in opt.param_groups for p in g["params"]]
    assert all(torch.equal(opt.state[p]["momentum_buffer"], torch.zeros_like(p)) for p in params)
    runner.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)  # the first steps overflow: skipped
    runner.run({"train": _loader()})
    assert all(torch.isfinite(p).all() for p in params)
    with pytest.raises(ValueError, match="fused=True with dampening under fp16's loss scaler"):
        _sgd_runner(tmp_path / "d", amp="fp16", fused=True, nesterov=False, dampening=0.1)


@pytest.mark.filterwarnings("ignore:amp. this CPU has no native fp16")
@pytest.mark.parametrize(("saved_by", "resumed_by", "fused"), [(None, "fp16", False), ("fp16", None, True)])
def test_resume_steps_fused_as_this_run_says_not_the_checkpoint(tmp_path, saved_by, resumed_by, fused):
    """A checkpoint's param groups carry the fused flag of the run that saved it; a run resumed
    under another precision takes its own (a fused step beside fp16's scaler would add
    uninitialised momentum after a skipped step; GradScaler.step asserted on the mismatch)."""
    first = _sgd_runner(tmp_path / "first", amp=saved_by)
    first.run({"train": _loader()})
    saved = first.save_checkpoint(tmp_path / "first.pth")
    second = _sgd_runner(tmp_path / "second", amp=resumed_by)
    second.max_epochs = 4  # (saved outside an epoch end: meta says epoch 3, CheckpointHook's count)
    second.resume(saved)
    assert all(g["fused"] is (True if fused else None) for g in second.optimizer.param_groups)
    second.run({"train": _loader()})
    assert len(second.losses_history) == 4 and all(math.isfinite(v) for v in second.losses_history)


def test_parse_losses_sums_loss_terms_and_names_a_nan():
    total, logs = parse_losses(
        {
            "loss_cls": torch.tensor(1.0),
            "loss_bbox": [torch.tensor(0.5), torch.tensor(0.25)],
            "acc": torch.tensor(90.0),
        }
    )
    assert float(total) == pytest.approx(1.75) and logs["loss"] == pytest.approx(1.75) and logs["acc"] == 90.0
    with pytest.raises(FloatingPointError, match=r"NaN or infinite at iteration 8: loss_bbox"):
        parse_losses({"loss_cls": torch.tensor(1.0), "loss_bbox": torch.tensor(float("nan"))}, iteration=7)


def test_runner_with_config_hooks_checkpoints_and_logs(tmp_path):
    model = Toy()
    seen = []

    def evaluate(m):
        seen.append(type(m).__name__)
        return {"mAP": 0.1 * len(seen)}

    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01, momentum=0.9),
        optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2)),
        lr_config=dict(policy="step", step=[2]),
        runner=dict(type="EpochBasedRunner", max_epochs=3),
        checkpoint_config=dict(interval=1, max_keep_ckpts=2),
        log_config=dict(interval=2, hooks=[dict(type="TextLoggerHook")]),
        evaluation=dict(interval=1, metric="mAP", save_best="mAP"),
        workflow=[("train", 1)],
    )
    runner = build_runner(cfg, model, tmp_path, evaluate=evaluate, meta={"num_classes": 3})
    runner.run({"train": _loader()})
    names = sorted(p.name for p in tmp_path.glob("*.pth"))
    assert names == ["best_mAP_epoch_3.pth", "epoch_2.pth", "epoch_3.pth", "latest.pth"]
    assert os.readlink(tmp_path / "latest.pth") == "epoch_3.pth"
    assert seen == ["Toy"] * 3  # the evaluator gets the unwrapped model
    # PyTorch's default weights-only unpickler reads rdet's checkpoints: they cannot run code
    ckpt = torch.load(tmp_path / "epoch_3.pth", weights_only=True)
    assert (
        set(ckpt) == {"meta", "state_dict", "optimizer"}
        and ckpt["meta"]["epoch"] == 3
        and "lin.weight" in ckpt["state_dict"]
    )
    records = [json.loads(line) for line in next(tmp_path.glob("*.log.json")).read_text().splitlines()]
    train = [r for r in records if r.get("mode") == "train"]
    val = [r for r in records if r.get("mode") == "val"]
    assert len(train) == 6 and {
        "lr",
        "loss_reg",
        "loss",
        "grad_norm",
        "time",
        "data_time",
        "epoch",
        "iter",
    } <= set(train[0])
    assert train[-1]["lr"] == pytest.approx(0.001)  # after the step at epoch 2
    assert [round(r["mAP"], 3) for r in val] == [0.1, 0.2, 0.3]


def test_num_class_check_and_custom_hooks(tmp_path):
    from rdet_apps.registry import HOOKS

    calls = []

    @HOOKS.register_module(force=True)
    class CountingHook(Hook):
        def __init__(self, tag):
            self.tag = tag

        def after_train_epoch(self, runner):
            calls.append(self.tag)

    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01),
        runner=dict(type="EpochBasedRunner", max_epochs=1),
        custom_hooks=[dict(type="CountingHook", tag="x", priority="HIGHEST")],
        log_config=dict(hooks=[]),
    )
    runner = build_runner(cfg, Toy(), tmp_path, meta={"num_classes": 3})
    assert runner.hooks[0][1].__class__.__name__ == "CountingHook"
    runner.run({"train": _loader()})
    assert calls == ["x"]
    bad = build_runner(cfg, Toy(), tmp_path / "b", meta={"num_classes": 15})
    with pytest.raises(ValueError, match="num_classes is 3 but the dataset has 15 classes"):
        bad.run({"train": _loader()})
    with pytest.raises(ValueError, match="unknown hook priority"):
        get_priority("URGENT")


def test_iteration_based_runner_and_val_workflow(tmp_path):
    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01),
        runner=dict(type="IterBasedRunner", max_iters=10),
        lr_config=dict(policy="poly", power=1.0, by_epoch=False),
        checkpoint_config=dict(interval=5),
        log_config=dict(interval=5, hooks=[dict(type="TextLoggerHook")]),
    )
    runner = build_runner(cfg, Toy(), tmp_path)
    runner.run({"train": _loader()})
    assert runner.iter == 10 and sorted(p.name for p in tmp_path.glob("iter_*.pth")) == [
        "iter_10.pth",
        "iter_5.pth",
    ]
    epoch_runner = Runner(Toy(), torch.optim.SGD(Toy().parameters(), lr=0.1), tmp_path / "v", max_epochs=2)
    logged = []

    class Spy(Hook):
        def after_val_epoch(self, runner):
            logged.append(runner.log_buffer.average_and_clear())

    epoch_runner.register_hook(Spy())
    epoch_runner.run({"train": _loader(), "val": _loader()}, workflow=[("train", 1), ("val", 1)])
    assert len(logged) == 2 and "loss_reg" in logged[0]
    with pytest.raises(KeyError, match="workflow phase 'val' has no data loader"):
        epoch_runner.run({"train": _loader()}, workflow=[("train", 1), ("val", 1)])


def test_a_hook_written_as_mmrotates_docs_show_is_called(tmp_path):
    """MMRotate's docs (customize_runtime) write a custom hook with before_epoch, after_epoch,
    before_iter and after_iter: MMCV calls them at the training's and a val workflow's epochs and
    iterations. Before, rdet called none of them, and said nothing."""
    calls = []

    class MyHook(Hook):
        def before_run(self, runner):
            calls.append("run")

        def before_epoch(self, runner):
            calls.append(f"epoch{runner.epoch}")

        def after_epoch(self, runner):
            calls.append(f"/epoch{runner.epoch}")

        def before_iter(self, runner):
            calls.append(runner.inner_iter)

        def after_iter(self, runner):
            if self.end_of_epoch(runner) or self.every_n_iters(runner, 3):
                calls.append("n")
            calls.append(f"/{runner.inner_iter}")

    runner = Runner(Toy(), torch.optim.SGD(Toy().parameters(), lr=0.1), tmp_path, max_epochs=1)
    runner.register_hook(MyHook())
    runner.run({"train": _loader(), "val": _loader(16)}, workflow=[("train", 1), ("val", 1)])
    # 4 training iterations (the 3rd of the run and the epoch's last flagged), then 2 val batches
    assert calls == [
        "run", "epoch0", 0, "/0", 1, "/1", 2, "n", "/2", 3, "n", "/3", "/epoch0", "epoch1", 0, "/0", 1, "/1", "/epoch1"
    ]  # fmt: skip
    calls.clear()
    runner.log_val_metrics({"mAP": 0.5})  # an evaluation (EvalHook) is not an epoch, as in MMCV
    assert calls == []


def test_an_evaluation_where_the_loggers_log_keeps_the_train_record(tmp_path):
    """Iteration-based, evaluating every 2 iterations where the text logger also logs: EvalHook
    (priority LOW) runs before the loggers (VERY_LOW). Before, the evaluation cleared the
    interval's training values and the train record came out empty."""

    class Evaluates(Hook):
        def after_train_iter(self, runner):
            if self.every_n_iters(runner, 2):
                runner.log_val_metrics({"mAP": 0.5})

    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01),
        runner=dict(type="IterBasedRunner", max_iters=4),
        log_config=dict(interval=2, hooks=[dict(type="TextLoggerHook")]),
    )
    runner = build_runner(cfg, Toy(), tmp_path)
    runner.register_hook(Evaluates(), "LOW")
    runner.run({"train": _loader()})
    (log,) = tmp_path.glob("*.log.json")
    records = [json.loads(line) for line in log.read_text().splitlines() if '"mode"' in line]
    train = [r for r in records if r["mode"] == "train"]
    val = [r for r in records if r["mode"] == "val"]
    assert [r["iter"] for r in train] == [2, 4] and all("loss_reg" in r for r in train), records
    assert len(val) == 2 and all(r["mAP"] == 0.5 and "loss_reg" not in r for r in val), records


def test_mmcv_hook_helpers():
    class R:
        epoch, iter, inner_iter, iters_per_epoch, max_epochs, max_iters = 3, 19, 4, 5, 4, None

    h = Hook()
    assert h.every_n_epochs(R, 2) and not h.every_n_epochs(R, 3) and not h.every_n_epochs(R, 0)
    assert h.every_n_iters(R, 10) and h.every_n_inner_iters(R, 5) and h.end_of_epoch(R)
    assert h.is_last_epoch(R) and h.is_last_iter(R)
    R.max_epochs, R.max_iters = None, 20
    assert not h.is_last_epoch(R) and h.is_last_iter(R)


def test_bf16_autocast_on_cpu(tmp_path):
    runner = Runner(Toy(), torch.optim.SGD(Toy().parameters(), lr=0.01), tmp_path, max_epochs=1, amp="bf16")
    runner.run({"train": _loader()})
    assert all(math.isfinite(v) for v in runner.losses_history) and runner.scaler is None


def _losses(path):
    return {int(line.split()[0]): float(line.split()[1]) for line in Path(path).read_text().splitlines()}


def test_resume_after_sigkill_follows_the_same_curve(tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run([sys.executable, str(SCRIPT), str(full)], check=True, env=env, timeout=300)
    killed = tmp_path / "killed"
    # 8 iterations per epoch: iteration 20 is in the middle of epoch 3
    done = subprocess.run([sys.executable, str(SCRIPT), str(killed), "--kill-at", "20"], env=env, timeout=300)
    assert done.returncode == -9
    assert sorted(p.name for p in killed.glob("epoch_*.pth")) == ["epoch_1.pth", "epoch_2.pth"]
    subprocess.run(
        [sys.executable, str(SCRIPT), str(killed), "--resume", str(killed / "latest.pth")],
        check=True,
        env=env,
        timeout=300,
    )
    reference, resumed = _losses(full / "losses-0.txt"), _losses(killed / "losses-0.txt")
    assert sorted(resumed) == list(
        range(32)
    )  # iterations 16-20 ran twice: only the work since epoch 2 was lost
    for it in range(16, 32):
        assert resumed[it] == pytest.approx(reference[it], rel=1e-6, abs=1e-9)


def test_two_process_ddp_matches_one_process(tmp_path):
    # CPU processes (gloo): the GPUs, if any, are hidden (2 processes on a 1-GPU machine would
    # be refused: one GPU per process)
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    single = tmp_path / "single"
    subprocess.run(
        [sys.executable, str(SCRIPT), str(single), "--batch", "8", "--shuffle", "0"],
        check=True,
        env=env,
        timeout=300,
    )
    ddp = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",  # a free port: a fixed one may be held by another job
        str(SCRIPT),
        str(ddp),
        "--launcher",
        "pytorch",
        "--batch",
        "4",
    ]
    subprocess.run(cmd, check=True, env=env, timeout=300, capture_output=True)
    one = _losses(single / "losses-0.txt")
    r0, r1 = _losses(ddp / "losses-0.txt"), _losses(ddp / "losses-1.txt")
    assert len(one) == len(r0) == len(r1) == 32
    # DistributedSampler interleaves: rank 0 gets samples 0, 2, 4, ... of each 8; same gradient as the full batch
    for it in one:
        assert (r0[it] + r1[it]) / 2 == pytest.approx(one[it], rel=1e-5)
    a = torch.load(single / "latest.pth", weights_only=False)["state_dict"]
    b = torch.load(ddp / "latest.pth", weights_only=False)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("launcher", ["pytorch", "slurm"])
def test_more_processes_per_node_than_gpus_fails_at_start(monkeypatch, launcher):
    """2 processes on a 1-GPU node: a clear error naming both numbers, before the process group
    or the GPU is touched (CUDA would say "invalid device ordinal" later)."""
    import torch.distributed

    from rdet_apps.engine import dist as rdist

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)

    def touched(*args, **kwargs):
        raise AssertionError("must fail before this")

    monkeypatch.setattr(torch.cuda, "set_device", touched)
    monkeypatch.setattr(torch.distributed, "init_process_group", touched)
    for var in ("LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE", "SLURM_LOCALID"):
        monkeypatch.delenv(var, raising=False)
    if launcher == "pytorch":
        env = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29599",
               "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}  # fmt: skip
    else:
        env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NODELIST": "node1", "SLURM_LOCALID": "0",
               "SLURM_NTASKS_PER_NODE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29599"}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(
        RuntimeError, match=r"2 processes per node but 1 GPU\b.*--nproc_per_node 1.*CUDA_VISIBLE_DEVICES="
    ):
        rdist.init_dist(launcher)
    # rank 0 passes alone, fails when it knows the node runs 2; 2 GPUs are enough for 2
    rdist.check_gpus_per_node(0, None)
    with pytest.raises(RuntimeError, match="2 processes per node but 1 GPU"):
        rdist.check_gpus_per_node(0, 2)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    rdist.check_gpus_per_node(1, 2)


def test_dist_params_port_reaches_a_slurm_job(monkeypatch):
    """MMRotate's docs: two Slurm jobs on one node set different ``dist_params.port``s. Before,
    rdet read no dist_params and both jobs met on 29500."""
    import torch.distributed

    from rdet_apps.engine import dist as rdist

    seen = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: seen.update(backend=backend))
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_NODELIST": "node1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": "29500"}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    params = rdist.dist_params({"dist_params": {"backend": "nccl", "port": 29517}})
    assert params == {"backend": None, "port": 29517}  # nccl without CUDA: gloo, as without the key
    rdist.init_dist("slurm", **params)
    assert os.environ["MASTER_PORT"] == "29517" and seen == {"backend": "gloo"}
    assert rdist.dist_params({}) == {"backend": None, "port": None}
    for bad, message in (
        ({"prot": 1}, r"dist_params: unknown key\(s\) \['prot'\]"),
        ({"port": "29501"}, r"dist_params.port must be an integer in 1..65535, got '29501'"),
        ({"backend": "ncl"}, r"dist_params.backend must be .* got 'ncl'"),
    ):
        with pytest.raises(ValueError, match=message):
            rdist.dist_params({"dist_params": bad})


def test_a_command_leaves_the_process_group_when_it_is_done(monkeypatch):
    """`rdet train` / `rdet test` destroy the process group on success: left to exit, gloo's
    threads now and then aborted the finished process (SIGABRT in 1 of 25 two-process runs)."""
    import torch.distributed

    from rdet_apps.engine import dist as rdist

    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    try:
        assert rdist.init_dist("pytorch", backend="gloo") == (0, 1)
        assert torch.distributed.is_initialized()
    finally:
        rdist.leave_process_group()
    assert not torch.distributed.is_initialized() and rdist.get_dist_info() == (0, 1)
    rdist.leave_process_group()  # not distributed: nothing to do


def test_eval_hook_save_best_rule(tmp_path):
    scores = iter([0.5, 0.3, 0.7])
    hook = EvalHook(lambda m: {"mAP": next(scores)}, save_best="auto")
    runner = Runner(Toy(), torch.optim.SGD(Toy().parameters(), lr=0.01), tmp_path, max_epochs=3)
    runner.register_hook(hook)
    runner.run({"train": _loader()})
    assert hook.best_score == 0.7 and [p.name for p in tmp_path.glob("best_*.pth")] == [
        "best_mAP_epoch_3.pth"
    ]


def test_rng_states_round_trip_as_tensors_and_old_tuples_still_restore():
    """Checkpoints hold the generator states as tensors and plain values (weights-only
    loadable); the tuples that earlier rdet versions pickled restore too."""
    import random

    import numpy as np

    from rdet_apps.engine.checkpoint import get_rng_state, set_rng_state

    state = get_rng_state()
    draws = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws
    old = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    draws = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(old)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        (
            {"runner": {"type": "EpochBasedRunner", "max_epoch": 3}},
            KeyError,
            "runner.max_epoch.*did you mean runner.max_epochs",
        ),
        (
            {"lr_config": {"policy": "step", "stepp": [2]}},
            KeyError,
            "lr_config.stepp.*did you mean lr_config.step",
        ),
        (
            {"checkpoint_config": {"intervall": 1}},
            KeyError,
            "checkpoint_config.intervall.*did you mean checkpoint_config.interval",
        ),
        (
            {"log_config": {"interval": 2, "hook": []}},
            KeyError,
            "log_config.hook.*did you mean log_config.hooks",
        ),
        (
            {"evaluation": {"interval": 1, "metirc": "mAP"}},
            KeyError,
            "evaluation.metirc.*did you mean evaluation.metric",
        ),
        ({"evaluaton": {"interval": 1}}, KeyError, "evaluaton.*did you mean evaluation"),
        (
            {"runner": {"type": "EpochBasedRunner", "max_epochs": -1}},
            ValueError,
            "runner.max_epochs must be a positive integer, got -1",
        ),
    ],
)
def test_typos_and_bad_values_in_the_runtime_config_are_named(tmp_path, override, error, message):
    """MMCV raises TypeError for most hook keys, and ignores checkpoint_config's and top-level typos."""
    cfg = dict(
        optimizer=dict(type="SGD", lr=0.01),
        runner=dict(type="EpochBasedRunner", max_epochs=1),
        lr_config=dict(policy="step", step=[2]),
        log_config=dict(interval=2, hooks=[dict(type="TextLoggerHook")]),
    )
    cfg.update(override)
    with pytest.raises(error, match=message):
        build_runner(cfg, Toy(), tmp_path)


@pytest.mark.parametrize("value", [0, -2, "abc", 1.5])
def test_samples_per_gpu_must_be_a_positive_integer(value):
    from rdet_data import dataloader_args

    with pytest.raises(
        ValueError, match=rf"data.samples_per_gpu \(train\) must be an integer >= 1, got {value!r}"
    ):
        dataloader_args({"samples_per_gpu": value}, "train")


def test_load_from_reports_the_fit_in_the_log_and_refuses_a_checkpoint_sharing_nothing(tmp_path, caplog):
    """MMCV's load_from warns on stderr and trains from random weights when nothing fits."""
    import logging

    from rdet_models import CheckpointMismatchError

    src = Toy()
    state = {**src.state_dict(), "head.extra": torch.zeros(1)}
    torch.save({"state_dict": state}, tmp_path / "partial.pth")
    cfg = dict(optimizer=dict(type="SGD", lr=0.01), runner=dict(type="EpochBasedRunner", max_epochs=1))
    with caplog.at_level(logging.INFO, logger="rdet"):
        runner = build_runner({**cfg, "load_from": str(tmp_path / "partial.pth")}, Toy(), tmp_path / "a")
    assert any("load_from" in r.message and "1 unexpected (head.extra)" in r.message for r in caplog.records)
    assert all(
        torch.equal(a, b) for a, b in zip(runner.raw_model.state_dict().values(), src.state_dict().values())
    )
    torch.save({"state_dict": {"classifier.w": torch.zeros(1)}}, tmp_path / "alien.pth")
    with pytest.raises(CheckpointMismatchError, match="not one key matches"):
        build_runner({**cfg, "load_from": str(tmp_path / "alien.pth")}, Toy(), tmp_path / "b")


def test_the_training_log_holds_the_dataset_summary(tmp_path):
    """Objects per class and what was dropped go to the work-dir log at start-up (issue 15, item 2)."""
    from rdet_apps.apis.train import train_detector
    from rdet_apps.commands.demo import CONFIG
    from rdet_apps.demo_data import make_demo_dota
    from rdet_apps.logs import get_logger
    from rdet_core import Config
    from rdet_data import build_dataset
    from rdet_models import build_detector

    data = make_demo_dota(tmp_path / "data", num_images=2, size=128, seed=0)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        {
            "work_dir": str(tmp_path / "work"),
            "data.train.ann_file": f"{data.labels}/",
            "data.train.img_prefix": f"{data.images}/",
            "runner.max_epochs": 1,
            "data.workers_per_gpu": 0,
            "evaluation": None,
        }
    )
    (tmp_path / "work").mkdir()
    logger = get_logger(tmp_path / "work" / "train.log")
    train_detector(
        build_detector(cfg.model), build_dataset(cfg.data.train), cfg, validate=False, logger=logger
    )
    log = (tmp_path / "work" / "train.log").read_text()
    assert "training set:" in log and "storage-tank" in log
