"""rdet's fast path against MMRotate 0.3.4: inference and one training step of Rotated RetinaNet
and Oriented R-CNN (R50-FPN, MMRotate's DOTA configs as shipped, random weights, one image).

    python packages/rdet-apps/benchmarks/bench_vs_mmrotate.py --ref-activate /tmp/ref/activate.sh \
        [--models retinanet oriented_rcnn] [--modes infer train] [--size 1024] [--rounds 3] \
        [--variants fp32-nchw channels-last fused bf16] [--json out.json]

Every measurement runs in its own subprocess (a fresh interpreter: no warm caches, no thread
pool shared with another variant). MMRotate's side runs in the reference environment
(``--ref-activate``: a script that ``source`` sets it up, e.g. ``/tmp/ref/activate.sh`` from
``../shared/tools/make_ref_env.sh``); without it only rdet's variants run. rdet's processes
start as the ``rdet`` command does (``rdet_apps.cpu_memory.tune``: huge pages, glibc keeping
freed blocks), MMRotate's as shipped, or with the same settings under ``--same-memory``. Both sides load the
same state dict (MMRotate's initialisation, saved once) and the same input. The variants run
interleaved, ``--rounds`` times each, and each one's figure is its best time over the rounds and
over its ``--repeat`` timed calls after a warm-up (the machine may be shared).

rdet variants (inference through ``init_detector`` and ``model.predict``; training through
``Runner.train_step``: forward, backward, gradient clipping, SGD step):

- ``fp32-nchw``: float32, contiguous (NCHW) weights.
- ``channels-last``: float32, conv weights channels-last (the CPU default of ``init_detector``).
- ``fused``: channels-last + ``--fuse-conv-bn`` (inference only).
- ``bf16``: channels-last (+ fused at inference) under bf16 autocast (``--amp bf16``).
- ``bf16-nchw``: the same with contiguous (NCHW) weights (float32 training was slower channels-last
  on an AVX2 CPU: does bf16's on a CPU with native bf16 gain from it?).
- ``compiled``: channels-last + fused, backbone / neck / heads under ``torch.compile``
  (inference only; the first call's compile time is reported apart).

MMRotate: float32 as shipped (``mmrotate``). Training steps use lr 0 (the same work every repeat).
Ratios are MMRotate's time over rdet's (> 1: rdet faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIGS = {
    "retinanet": "rotated_retinanet/rotated_retinanet_obb_r50_fpn_1x_dota_le90.py",
    "oriented_rcnn": "oriented_rcnn/oriented_rcnn_r50_fpn_1x_dota_le90.py",
}
VARIANTS = {
    "fp32-nchw": dict(channels_last=False, fuse=False, amp=None, compile=False),
    "channels-last": dict(channels_last=True, fuse=False, amp=None, compile=False),
    "fused": dict(channels_last=True, fuse=True, amp=None, compile=False),
    "bf16": dict(channels_last=True, fuse=True, amp="bf16", compile=False),
    "bf16-nchw": dict(channels_last=False, fuse=True, amp="bf16", compile=False),
    "compiled": dict(channels_last=True, fuse=True, amp=None, compile=True),
}
INFER_ONLY = ("fused", "compiled")
#: ``--same-memory``: rdet_apps.cpu_memory's settings, given to MMRotate's process by environment.
MMROTATE_SAME_MEMORY = {
    "THP_MEM_ALLOC_ENABLE": "1",
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str((1 << 31) - 1),
}
SEED = 0


def _shared() -> Path:
    return Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[3].parent / "shared"))


def _gt(size: int) -> tuple[list[list[float]], list[int]]:
    """Five rotated boxes (le90) and their labels, the same on both sides."""
    boxes = [
        [size * f, size * (1 - f), size / 10 + 40 * f, size / 30 + 10, f * 3 - 1.5]
        for f in (0.2, 0.35, 0.5, 0.65, 0.8)
    ]
    return boxes, [0, 3, 5, 7, 14]


def _time(fn: Any, repeat: int, clock: str) -> tuple[float, list[float]]:
    """(first call's seconds, the timed calls' seconds) after one untimed warm-up call; ``clock``
    ``'wall'`` (elapsed) or ``'cpu'`` (the process's CPU time, all threads: with one thread the
    work done, which other people's processes on a shared machine barely change)."""
    now = time.perf_counter if clock == "wall" else time.process_time
    t = now()
    fn()
    first = now() - t
    times = []
    for _ in range(repeat):
        t = now()
        fn()
        times.append(now() - t)
    return first, times


# -- workers: one measurement each, in their own process ------------------------------------------


def _mmrotate_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import torch
    from mmcv import Config
    from mmrotate.models import build_detector

    torch.manual_seed(SEED)
    cfg = Config.fromfile(str(_shared() / "configs/mmrotate-0.3.4" / CONFIGS[spec["model"]]))
    cfg.model.pretrained = None
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model)
    model.init_weights()
    if spec.get("save_weights"):
        torch.save({"state_dict": model.state_dict(), "meta": {}}, spec["save_weights"])
        return {}
    model.load_state_dict(torch.load(spec["weights"], weights_only=False)["state_dict"])
    s = spec["size"]
    img = torch.from_numpy(np.load(spec["image"]))
    meta = dict(
        img_shape=(s, s, 3),
        ori_shape=(s, s, 3),
        pad_shape=(s, s, 3),
        scale_factor=np.ones(4, np.float32),
        flip=False,
    )
    if spec["mode"] == "infer":
        model.eval()

        def step() -> None:
            with torch.no_grad():
                model(return_loss=False, rescale=True, img=[img], img_metas=[[meta]])

    else:
        model.train()
        boxes, labels = _gt(s)
        gt_boxes, gt_labels = [torch.tensor(boxes)], [torch.tensor(labels)]
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, weight_decay=1e-4)

        def step() -> None:
            losses = model.forward_train(img, [dict(meta)], gt_boxes, gt_labels)
            loss, _ = model._parse_losses(losses)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], 35, 2)
            optimizer.step()

    first, times = _time(step, spec["repeat"], spec.get("clock", "wall"))
    return {"first_s": first, "times_s": times}


def _compile_dense_parts(model: Any) -> None:
    """``torch.compile`` the parts that are one graph (backbone, neck, the heads' ``forward``);
    decoding, NMS and the RoI ops stay eager."""
    import torch

    model.backbone = torch.compile(model.backbone)
    model.neck = torch.compile(model.neck)
    for name in ("bbox_head", "rpn_head"):
        head = getattr(model, name, None)
        if head is not None:
            head.forward = torch.compile(head.forward)


def _rdet_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import torch

    import rdet_models
    from rdet_core import Config
    from rdet_core.structures import DetBatch, GroundTruth, ImageMeta

    config = _shared() / "configs/mmrotate-0.3.4" / CONFIGS[spec["model"]]
    v = VARIANTS[spec["variant"]]
    s = spec["size"]
    img = torch.from_numpy(np.load(spec["image"]))
    meta = ImageMeta(None, (s, s, 3), (s, s, 3))
    if spec.get("save_weights"):
        cfg = Config.fromfile(config)
        cfg.merge_from_dict({"model.backbone.init_cfg": None})
        torch.manual_seed(SEED)
        model = rdet_models.build_detector(cfg.model)
        model.init_weights()
        torch.save({"state_dict": model.state_dict(), "meta": {}}, spec["save_weights"])
        return {}
    if spec["mode"] == "infer":
        from rdet_apps.apis import init_detector

        model = init_detector(
            config,
            spec["weights"],
            cfg_options={"model.backbone.init_cfg": None},
            fuse_conv_bn=v["fuse"],
            channels_last=v["channels_last"],
            amp=v["amp"] or False,
        )
        if v["compile"]:
            _compile_dense_parts(model)
        batch = DetBatch(img, [meta], None)

        def step() -> None:
            model.predict(batch)

    else:
        from rdet_apps.engine import Runner
        from rdet_models.checkpoint import load_checkpoint
        from rdet_models.memory_format import convs_to_channels_last

        cfg = Config.fromfile(config)
        cfg.merge_from_dict({"model.backbone.init_cfg": None})
        model = rdet_models.build_detector(cfg.model)
        load_checkpoint(model, spec["weights"], map_location="cpu", strict=True)
        if v["channels_last"]:
            convs_to_channels_last(model)
        model.train()
        boxes, labels = _gt(s)
        gt = GroundTruth(torch.tensor(boxes), torch.tensor(labels))
        batch = DetBatch(img, [meta], [gt])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, weight_decay=1e-4)
        with tempfile.TemporaryDirectory() as work:
            runner = Runner(
                model,
                optimizer,
                work,
                max_iters=1,
                grad_clip=dict(max_norm=35, norm_type=2),
                amp=v["amp"],
                channels_last=v["channels_last"],
            )

        def step() -> None:
            runner.train_step(batch)

    first, times = _time(step, spec["repeat"], spec.get("clock", "wall"))
    result: dict[str, Any] = {"first_s": first, "times_s": times}
    if spec.get("profile"):  # one more call under the profiler: where the time goes, by operator
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            step()
        result["profile"] = prof.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=spec["profile"]
        )
    return result


def _worker(spec: dict[str, Any]) -> None:
    if spec["side"] == "rdet":  # what the `rdet` command does first: huge pages, freed blocks kept
        from rdet_apps import cpu_memory

        cpu_memory.tune()
    result = _mmrotate_worker(spec) if spec["side"] == "mmrotate" else _rdet_worker(spec)
    print("RESULT " + json.dumps(result), flush=True)


# -- the parent: spawn, interleave, report -----------------------------------------------------------


def _run(
    spec: dict[str, Any], ref_activate: str | None, threads: int | None, same_memory: bool = False
) -> dict[str, Any]:
    script = Path(__file__).resolve()
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if same_memory and spec["side"] == "mmrotate":
        env.update(MMROTATE_SAME_MEMORY)
    if spec["side"] == "mmrotate":
        inner = f"python {shlex.quote(str(script))} --worker {shlex.quote(json.dumps(spec))}"
        cmd = ["bash", "-c", f". {shlex.quote(ref_activate or '')} && exec {inner}"]
    else:
        cmd = [sys.executable, str(script), "--worker", json.dumps(spec)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{spec['side']} {spec.get('variant', '')} {spec['model']} {spec['mode']} failed:\n{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--ref-activate",
        help="script that sets up the MMRotate 0.3.4 environment (e.g. /tmp/ref/activate.sh)",
    )
    parser.add_argument(
        "--models", nargs="+", choices=sorted(CONFIGS), default=["retinanet", "oriented_rcnn"]
    )
    parser.add_argument("--modes", nargs="+", choices=("infer", "train"), default=["infer", "train"])
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=sorted(VARIANTS),
        default=["fp32-nchw", "channels-last", "fused", "bf16"],
    )
    parser.add_argument("--size", type=int, default=1024, help="image side, pixels (1024: DOTA's patches)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="timed calls per process, after one warm-up call"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over all variants")
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS of every process (default: torch's)"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time; cpu: process CPU time (with --threads 1: robust on a shared machine)",
    )
    parser.add_argument(
        "--same-memory",
        action="store_true",
        help="give MMRotate's processes the memory settings that the rdet command makes (huge pages, "
        "glibc keeping freed blocks); without it each side runs as its command does",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after timing, profile one more call of each rdet variant and print its N costliest operators",
    )
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.worker:
        _worker(json.loads(args.worker))
        return
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        image = str(Path(tmp) / "image.npy")
        np.save(
            image,
            np.random.default_rng(SEED).standard_normal((1, 3, args.size, args.size)).astype(np.float32),
        )
        results: dict[str, dict[str, float]] = {}
        for model in args.models:
            weights = str(Path(tmp) / f"{model}.pth")
            base = dict(
                model=model,
                size=args.size,
                image=image,
                weights=weights,
                repeat=args.repeat,
                clock=args.clock,
                profile=args.profile,
            )
            owner = "mmrotate" if args.ref_activate else "rdet"
            _run(
                {**base, "side": owner, "mode": "infer", "variant": "fp32-nchw", "save_weights": weights},
                args.ref_activate,
                args.threads,
            )
            for mode in args.modes:
                sides = ([("mmrotate", "mmrotate")] if args.ref_activate else []) + [
                    ("rdet", v) for v in args.variants if not (mode == "train" and v in INFER_ONLY)
                ]
                best: dict[str, float] = {}
                first: dict[str, float] = {}
                for r in range(args.rounds):
                    for side, variant in sides:
                        out = _run(
                            {**base, "side": side, "mode": mode, "variant": variant},
                            args.ref_activate,
                            args.threads,
                            args.same_memory,
                        )
                        if out.get("profile"):
                            print(f"  profile of {model} {mode} {variant}:\n{out['profile']}", flush=True)
                        best[variant] = min(best.get(variant, float("inf")), *out["times_s"])
                        first[variant] = out["first_s"]
                        print(
                            f"  round {r + 1} {model} {mode} {variant}: best {min(out['times_s']):.3f} s (first call {out['first_s']:.2f} s)",
                            flush=True,
                        )
                key = f"{model}/{mode}"
                results[key] = {f"{v}_s": round(t, 4) for v, t in best.items()}
                results[key].update({f"{v}_first_call_s": round(t, 3) for v, t in first.items()})
                ref = best.get("mmrotate")
                print(
                    f"\n{model} {mode}, {args.size}x{args.size}, {args.clock} clock, "
                    f"best of {args.rounds} rounds x {args.repeat}:"
                )
                for variant, t in best.items():
                    ratio = f"  {ref / t:.2f}x MMRotate" if ref and variant != "mmrotate" else ""
                    print(f"  {variant:14s} {t:7.3f} s{ratio}")
                    if ref and variant != "mmrotate":
                        results[key][f"{variant}_vs_mmrotate"] = round(ref / t, 3)
                print(flush=True)
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
