"""What mixed precision costs in accuracy: the main job (``rdet demo``'s config and synthetic set)
trained in float32 and under ``--amp bf16`` with the same seed, each checkpoint tested in float32
and under ``--amp bf16``: a 2 x 2 table of mAP@0.5, and the training times.

    python packages/rdet-apps/benchmarks/bench_amp_learning.py [--epochs 25] [--amp bf16] [--seeds 0 1 2]
        [--train fp32 amp amp-emulated fp32-nudged] [--test fp32 amp] [--val-images 16] [--json out.json]

The issue's bar: bf16 at most 0.01 mAP below float32. On a CPU without native bf16 (AVX2 only)
the bf16 runs are several times slower than float32, and torch's fallback bf16 convolution there
rounds its backward's partial sums to bf16 (grad_input up to 26% off for a 3x3 conv, where bf16
hardware rounds once: at most 2^-8). ``amp-emulated`` trains under bf16 autocast with every
convolution computed as bf16 hardware computes it (``bf16_conv_numerics``), at float32's speed:
what bf16 training costs on the machines that have bf16.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bf16_conv_numerics import emulated_bf16_convolutions


def _rdet(args: list[str]) -> str:
    from rdet_apps.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--debug", *args])
    if code != 0:
        raise RuntimeError(f"rdet {' '.join(args)} exited {code}")
    return out.getvalue()


@contextlib.contextmanager
def _bf16_rounded_init() -> Iterator[None]:
    """While inside, a detector's ``init_weights`` ends by rounding every parameter to bf16
    (kept in float32): the same start as bf16 training, then float32 all the way."""
    import torch

    from rdet_models.detectors.base import RotatedBaseDetector
    from rdet_models.init import BaseModule

    plain = BaseModule.init_weights

    def init_weights(self: BaseModule) -> None:
        plain(self)
        if isinstance(self, RotatedBaseDetector):
            with torch.no_grad():
                for p in self.parameters():
                    p.copy_(p.bfloat16().float())

    BaseModule.init_weights = init_weights  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseModule.init_weights = plain  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--amp", default="bf16", choices=("bf16", "fp16"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (one run each)")
    parser.add_argument(
        "--train",
        nargs="+",
        default=["fp32", "amp"],
        choices=("fp32", "amp", "amp-emulated", "fp32-nudged"),
        help="training precisions to run (amp-emulated: bf16 autocast with bf16 hardware's "
        "convolution numerics in float32 kernels; fp32-nudged: float32 from initial weights rounded to "
        "bf16 once, the control for how far a bf16-sized nudge moves this training)",
    )
    parser.add_argument(
        "--test",
        nargs="+",
        default=["fp32", "amp"],
        choices=("fp32", "amp"),
        help="precisions each checkpoint is tested in",
    )
    parser.add_argument(
        "--val-images",
        type=int,
        default=16,
        help="synthetic validation images (the main job's 16 make a noisy mAP: 128 halve its noise)",
    )
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    from rdet_apps.commands.demo import CONFIG
    from rdet_apps.demo_data import make_demo_dota

    results: dict[str, float] = {}
    runs: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train = make_demo_dota(root / "data/train", num_images=64, size=256, seed=0)
        val = make_demo_dota(root / "data/val", num_images=args.val_images, size=256, seed=1)
        options = []
        for split, s in (("train", train), ("val", val), ("test", val)):
            options += [f"data.{split}.ann_file={s.labels}/", f"data.{split}.img_prefix={s.images}/"]
        options += [
            f"runner.max_epochs={args.epochs}",
            f"evaluation.interval={args.epochs}",
            "data.workers_per_gpu=0",
        ]
        for seed in args.seeds:
            for kind in args.train:
                train_amp = args.amp if kind in ("amp", "amp-emulated") else None
                if kind == "amp-emulated" and args.amp != "bf16":
                    raise SystemExit("--train amp-emulated emulates bf16 only (--amp bf16)")
                name = f"{'bf16-emulated' if kind == 'amp-emulated' else train_amp or kind}_seed{seed}"
                runs.append(name)
                work = root / f"work_{name}"
                amp = ["--amp", train_amp] if train_amp else []
                t = time.perf_counter()
                if kind == "fp32-nudged":
                    context = _bf16_rounded_init()
                elif kind == "amp-emulated":
                    context = emulated_bf16_convolutions()
                else:
                    context = contextlib.nullcontext()
                with context:
                    _rdet(
                        [
                            "train",
                            str(CONFIG),
                            "--work-dir",
                            str(work),
                            "--seed",
                            str(seed),
                            *amp,
                            "--cfg-options",
                            *options,
                        ]
                    )
                results[f"train_{name}_s"] = round(time.perf_counter() - t, 1)
                for test_amp in [None if t == "fp32" else args.amp for t in args.test]:
                    test = ["--amp", test_amp] if test_amp else []
                    ckpt = str(work / "latest.pth")
                    out = _rdet(
                        ["test", str(CONFIG), ckpt, "--eval", "mAP", *test, "--cfg-options", *options]
                    )
                    found = re.search(r"mAP: ([0-9.]+)", out)
                    if found is None:
                        raise RuntimeError(f"no mAP in rdet test's output:\n{out}")
                    results[f"map_{name}_test_{test_amp or 'fp32'}"] = float(found.group(1))
                print(json.dumps(results), flush=True)
    a = args.amp
    print(
        f"\nmAP@0.5 after {args.epochs} epochs (rows: training precision and seed; columns: test precision)"
    )
    tests = ["fp32" if t == "fp32" else a for t in args.test]
    print(f"{'':26s}" + "".join(f" {t:>8s}" for t in tests) + f" {'train s':>8s}")
    for name in runs:
        row = "".join(f" {results[f'map_{name}_test_{t}']:8.4f}" for t in tests)
        print(f"train {name:20s}{row} {results[f'train_{name}_s']:8.1f}")
    _summary(results, args.seeds, a)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


def _mean_sd(values: list[float]) -> str:
    n = len(values)
    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else float("nan")
    return f"{mean:.4f} (sd {sd:.4f}, se {sd / n**0.5:.4f}, n {n})"


def _summary(results: dict[str, float], seeds: list[int], amp: str) -> None:
    """Means over seeds, and each precision's paired difference to fp32 (same seed: same initial
    weights and data order), each with its standard deviation and standard error."""

    def maps(train: str) -> dict[int, float]:
        return {s: results[k] for s in seeds if (k := f"map_{train}_seed{s}_test_fp32") in results}

    fp32 = maps("fp32")
    for train in ("fp32", amp, "bf16-emulated", "fp32-nudged"):
        values = maps(train)
        if values:
            print(f"trained in {train}, tested in fp32: mean {_mean_sd(list(values.values()))}")
        paired = [v - fp32[s] for s, v in values.items() if s in fp32]
        if train != "fp32" and paired:
            print(f"{train} - fp32, paired by seed: mean {_mean_sd(paired)}")


if __name__ == "__main__":
    main()
