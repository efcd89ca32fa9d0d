"""Does the training loop feed the device? The model-only step rate against the whole loop's.

    python packages/rdet-apps/benchmarks/bench_train_loop.py --device cuda --config demo --iters 200 --json out.json
    python packages/rdet-apps/benchmarks/bench_train_loop.py --device cuda --config retinanet-dota --iters 40

(a) ``model_only``: the same model, one batch of the real data loaded on the device once,
    ``Runner.train_step`` (forward, backward, gradient clipping, optimizer step) repeated,
    synchronised, after a warm-up.
(b) ``full_loop``: ``train_detector`` as ``rdet train`` / ``rdet demo`` run it (data loader
    and its workers, augmentation, host-device copies, hooks, logging; for ``demo`` also its
    evaluations and checkpoints every 5 epochs), timed from iteration ``--warmup`` to
    ``--iters`` with a synchronisation at both ends; ``window_s_by_part``: the window's
    seconds in ``train_step`` and in each hook point of each hook (host time: the logger
    waits there for the GPU when it reads the losses), the rest being the wait for data. For ``retinanet-dota`` the evaluation
    and the checkpoint (once per DOTA epoch: thousands of iterations) are pushed out of the
    window and timed once each afterwards (``evaluate_s``, ``checkpoint_s``).
(c) ``demo_command`` (``--config demo``): ``rdet demo`` in a fresh process; its training
    time as it prints it, and the whole command's.

``demo``: the main job (rotated_retinanet_r18_demo_le90: quarter-width ResNet-18, batch 8,
256 px, on the embedded synthetic set). ``retinanet-dota``: MMRotate's
rotated_retinanet_obb_r50_fpn_1x_dota_le90 (ResNet-50, 1024 px, batch 2, no pretrained
download) on a synthetic DOTA-format set of ``--images`` 1024 px images (3 of DOTA's classes,
up to 40 objects each) written to a temporary folder; its config is read from
``$RDET_SHARED/configs/mmrotate-0.3.4`` (benchmarks/gpu.sh carries that folder to a GPU machine).

Prints one JSON object per finished part (the results so far) and writes the last to --json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SHARED = Path(os.environ.get("RDET_SHARED", ROOT.parent / "shared"))
DOTA_NAME = "rotated_retinanet_obb_r50_fpn_1x_dota_le90.py"
DOTA_CONFIG = SHARED / "configs/mmrotate-0.3.4/rotated_retinanet" / DOTA_NAME


class StopBench(Exception):
    """Raised by the timing hook at the last measured iteration."""


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _emit(results: dict[str, Any], out: str | None) -> None:
    text = json.dumps(results, indent=None, default=str)
    print(text, flush=True)
    if out:
        Path(out).write_text(json.dumps(results, indent=2, default=str) + "\n")


def _config(name: str, work: Path, images: int) -> tuple[Any, int]:
    """The config with its data in ``work``, and the training images per epoch."""
    from rdet_apps.commands.demo import CONFIG
    from rdet_apps.demo_data import make_demo_dota
    from rdet_core import Config

    data = work / "data"
    if name == "demo":  # exactly what `rdet demo` trains on
        cfg = Config.fromfile(CONFIG)
        train = make_demo_dota(data / "train", num_images=64, size=256, seed=0)
        val = make_demo_dota(data / "val", num_images=16, size=256, seed=1)
        options: dict[str, Any] = {}
    else:
        if not DOTA_CONFIG.is_file():
            raise FileNotFoundError(f"{DOTA_CONFIG}: MMRotate's configs are needed (set RDET_SHARED)")
        cfg = Config.fromfile(DOTA_CONFIG)
        train = make_demo_dota(data / "train", num_images=images, size=1024, max_objects=40, seed=0)
        val = make_demo_dota(data / "val", num_images=4, size=1024, max_objects=40, seed=1)
        options = {
            "model.backbone.init_cfg": None,
            # once per DOTA epoch (thousands of iterations): out of the window, timed apart
            "evaluation.interval": 10**6,
            "checkpoint_config.interval": 10**6,
        }
    for split, folder in (("train", train), ("val", val), ("test", val)):
        options[f"data.{split}.ann_file"] = str(folder.labels) + "/"
        options[f"data.{split}.img_prefix"] = str(folder.images) + "/"
    options["work_dir"] = str(work / "run")
    cfg.merge_from_dict(options)
    return cfg, train.num_images


def _model(cfg: Any, device: Any) -> Any:
    import rdet_models
    from rdet_apps.engine import set_random_seed

    set_random_seed(int(cfg.get("seed") or 0))
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    return model.to(device)


def model_only(cfg: Any, device: Any, iters: int, warmup: int) -> dict[str, Any]:
    """(a): ``Runner.train_step`` on one batch already on the device."""
    import torch

    from rdet_apps.apis.train import _cudnn_benchmark, _loader_args
    from rdet_apps.engine import Runner, build_optimizer
    from rdet_apps.engine.device import to_device
    from rdet_data import build_dataloader, build_dataset

    on_gpu = device.type == "cuda"
    benchmark = _cudnn_benchmark(cfg, on_gpu)
    model = _model(cfg, device)
    loader = build_dataloader(
        build_dataset(cfg.data.train), **{**_loader_args(cfg, "train", False, on_gpu), "workers_per_gpu": 0}
    )
    batch = to_device(next(iter(loader)), device)
    grad_clip = (cfg.get("optimizer_config") or {}).get("grad_clip")
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(
            model,
            build_optimizer(model, dict(cfg.optimizer)),
            tmp,
            max_iters=iters + warmup,
            grad_clip=dict(grad_clip) if grad_clip else None,
        )
        runner.model.train()
        for _ in range(warmup):
            runner.train_step(batch)
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            runner.train_step(batch)
        _sync(device)
        seconds = time.perf_counter() - start
    del runner, model, batch
    if on_gpu:
        torch.cuda.empty_cache()
    return {
        "iters": iters,
        "warmup": warmup,
        "seconds": round(seconds, 4),
        "it_per_s": round(iters / seconds, 3),
        "ms_per_iter": round(seconds / iters * 1000, 2),
        "cudnn_benchmark": benchmark,
    }


def full_loop(cfg: Any, device: Any, iters: int, warmup: int, per_epoch: int, demo: bool) -> dict[str, Any]:
    """(b): ``train_detector`` with a hook that times iterations ``warmup`` .. ``iters``."""
    import torch

    from rdet_apps.apis.train import train_detector
    from rdet_apps.engine import Hook, Runner, unwrap
    from rdet_apps.engine.hooks import EvalHook
    from rdet_apps.logs import get_logger
    from rdet_apps.registry import HOOKS
    from rdet_data import build_dataset

    timing: dict[str, Any] = {"stamps": {}, "on": False}
    spent: dict[str, float] = {}

    class LoopTimer(Hook):
        def before_run(self, runner: Any) -> None:
            timing["runner"] = runner

        def after_train_iter(self, runner: Any) -> None:
            done = runner.iter + 1
            if done in (warmup, iters):
                _sync(device)
                timing["stamps"][done] = time.perf_counter()
                timing["on"] = done == warmup
            if done >= iters:
                raise StopBench

    # where the window's host time goes: each hook point of each hook, and train_step (host
    # time: a hook that reads a loss waits there for the GPU to catch up); the rest is the wait
    # for data and the runner's own bookkeeping
    def timed_call_hook(self: Any, name: str) -> None:
        for _, hook in self.hooks:
            t = time.perf_counter()
            getattr(hook, name)(self)
            if timing["on"]:
                key = f"{type(hook).__name__}.{name}"
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - t

    plain_train_step = Runner.train_step

    def timed_train_step(self: Any, batch: Any) -> Any:
        t = time.perf_counter()
        record = plain_train_step(self, batch)
        if timing["on"]:
            spent["train_step"] = spent.get("train_step", 0.0) + time.perf_counter() - t
        return record

    HOOKS.register_module(module=LoopTimer, force=True)
    batch = cfg.data.get("samples_per_gpu", 2)
    epochs = math.ceil(iters / max(per_epoch // batch, 1)) + 1
    cfg.merge_from_dict({"runner": {"type": "EpochBasedRunner", "max_epochs": epochs}})
    cfg.custom_hooks = [*(cfg.get("custom_hooks") or []), {"type": "LoopTimer", "priority": "LOWEST"}]
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    logger = get_logger(work / "train.log")
    model = _model(cfg, device)
    start = time.perf_counter()
    plain_call_hook = Runner.call_hook
    Runner.call_hook, Runner.train_step = timed_call_hook, timed_train_step  # type: ignore[method-assign]
    try:
        with contextlib.suppress(StopBench):
            train_detector(model, build_dataset(cfg.data.train), cfg, validate=True, logger=logger)
    finally:
        Runner.call_hook, Runner.train_step = plain_call_hook, plain_train_step  # type: ignore[method-assign]
    stamps, runner = timing["stamps"], timing["runner"]
    seconds = stamps[iters] - stamps[warmup]
    top = sorted(spent.items(), key=lambda kv: -kv[1])
    breakdown = {k: round(v, 3) for k, v in top if v >= 0.005 * seconds}
    breakdown["rest (data wait, bookkeeping)"] = round(seconds - sum(spent.values()), 3)
    out: dict[str, Any] = {
        "iters": iters,
        "warmup": warmup,
        "startup_s": round(stamps[warmup] - start, 3),
        "seconds": round(seconds, 4),
        "it_per_s": round((iters - warmup) / seconds, 3),
        "ms_per_iter": round(seconds / (iters - warmup) * 1000, 2),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark) if device.type == "cuda" else False,
        "window_s_by_part": breakdown,
    }
    records = [json.loads(line) for f in work.glob("*.log.json") for line in f.read_text().splitlines()]
    train = [r for r in records if r.get("mode") == "train"]
    if train:
        out["log_data_time_s"] = round(sum(r["data_time"] for r in train) / len(train), 4)
        out["log_time_s"] = round(sum(r["time"] for r in train) / len(train), 4)
    if not demo:  # the once-per-epoch work, timed once
        _sync(device)
        t = time.perf_counter()
        runner.save_checkpoint(work / "bench_ckpt.pth")
        _sync(device)
        out["checkpoint_s"] = round(time.perf_counter() - t, 3)
        evals = [h for _, h in runner.hooks if isinstance(h, EvalHook)]
        if evals:
            t = time.perf_counter()
            evals[0].evaluate(unwrap(runner.model))
            _sync(device)
            out["evaluate_s"] = round(time.perf_counter() - t, 3)
            out["val_images"] = len(build_dataset({**dict(cfg.data.val), "test_mode": True}))
    return out


def demo_command(device: Any, work: Path, epochs: int | None = None) -> dict[str, Any]:
    """(c): ``rdet demo`` in a fresh process (``--epochs``: the config's 25 by default)."""
    env = dict(os.environ)
    if device.type == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rdet_apps", "demo", "--work-dir", str(work / "demo_cmd")]
        + ([] if epochs is None else ["--epochs", str(epochs)]),
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    out: dict[str, Any] = {"returncode": done.returncode, "command_s": round(wall, 2)}
    m = re.search(r"trained (\d+) epochs \((\d+) iterations\) on (\w+) in ([\d.]+) s", done.stdout)
    if m:
        out.update(iterations=int(m.group(2)), device=m.group(3), train_s=float(m.group(4)))
    m = re.search(r"mAP@0.5 on \d+ validation images: ([\d.]+)", done.stdout)
    if m:
        out["mAP"] = float(m.group(1))
    m = re.search(r"loss ([\d.]+) -> ([\d.]+)", done.stdout)
    if m:
        out["loss_first5_last5"] = [float(m.group(1)), float(m.group(2))]
    if done.returncode:
        out["stderr_tail"] = done.stderr[-1500:]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--config", choices=("demo", "retinanet-dota"), default="demo")
    parser.add_argument(
        "--iters", type=int, default=None, help="timed iterations (default: demo 200, dota 40)"
    )
    parser.add_argument("--warmup", type=int, default=None, help="iterations before the clock starts")
    parser.add_argument("--images", type=int, default=40, help="retinanet-dota: synthetic 1024 px images")
    parser.add_argument("--workers", default=None, help="override data.workers_per_gpu (a number or auto)")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=("model", "loop", "demo"), help="parts to skip"
    )
    parser.add_argument("--demo-epochs", type=int, default=None, help="(c): rdet demo --epochs (default 25)")
    parser.add_argument(
        "--main-threads",
        type=int,
        default=None,
        help="torch threads of the training process (default torch's: one per core, beside the workers)",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    device = torch.device(args.device, 0) if args.device == "cuda" else torch.device("cpu")
    if args.main_threads is not None:
        torch.set_num_threads(args.main_threads)
    demo = args.config == "demo"
    iters = args.iters or (200 if demo else 40)
    warmup = args.warmup if args.warmup is not None else max(1, min(10, iters // 5))
    if warmup >= iters:
        parser.error("--warmup must be below --iters")
    import rbox_ops

    results: dict[str, Any] = {
        "config": args.config,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "rbox_ops_backend": str(rbox_ops.backend()) if hasattr(rbox_ops, "backend") else None,
    }
    with tempfile.TemporaryDirectory(prefix="rdet-bench-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        cfg, per_epoch = _config(args.config, work, args.images)
        if args.workers is not None:
            cfg.data.workers_per_gpu = args.workers if args.workers == "auto" else int(args.workers)
        from rdet_data.loader import dataloader_args

        results["workers_per_gpu"] = dataloader_args(cfg.data, "train")["workers_per_gpu"]
        results["batch"] = cfg.data.samples_per_gpu
        results["data_s"] = round(time.perf_counter() - t, 2)
        _emit(results, args.json)
        if "model" not in args.skip:
            results["model_only"] = model_only(cfg, device, min(iters, 50 if demo else iters), warmup)
            _emit(results, args.json)
        if "loop" not in args.skip:
            results["full_loop"] = full_loop(cfg, device, iters, warmup, per_epoch, demo)
            if "model_only" in results:
                results["loop_over_model"] = round(
                    results["full_loop"]["it_per_s"] / results["model_only"]["it_per_s"], 3
                )
            _emit(results, args.json)
        if demo and "demo" not in args.skip:
            results["demo_command"] = demo_command(device, work, args.demo_epochs)
            _emit(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
