"""Does batching pay? `rdet serve` under a bounded burst of concurrent requests.

    python packages/rdet-apps/benchmarks/bench_serve.py                      # demo model, CPU
    python packages/rdet-apps/benchmarks/bench_serve.py --device cuda --requests 256 --concurrency 16
    python packages/rdet-apps/benchmarks/bench_serve.py --config CFG --checkpoint CKPT --image P0003.png

For each ``--max-batch-size`` (default 8, then 1: no batching) a fresh ``rdet serve`` process
is started on 127.0.0.1 (a free port), answers ``--warmup`` untimed requests, then ``--requests``
``POST /predict`` of one PNG (raw body) sent by ``--concurrency`` client threads. Reported
per setting: requests/s over the burst, latency p50 / p90 / p99 / max (ms, request sent to
answer read), and the batch sizes the server formed (its ``/health`` counters).

Default model: the bundled demo config (quarter-width ResNet-18 Rotated RetinaNet, 256 px)
with random weights saved to a temporary checkpoint; default image: 256x256 random pixels.
Needs the serve extra and httpx. Prints one JSON object per setting and writes all to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _demo_checkpoint(folder: Path) -> tuple[str, str]:
    """The bundled demo config and a checkpoint of its random weights in ``folder``."""
    import torch

    from rdet_apps.apis import init_detector
    from rdet_apps.commands.demo import CONFIG

    torch.manual_seed(0)
    model = init_detector(CONFIG, None)
    path = folder / "demo_random.pth"
    torch.save({"meta": {"CLASSES": list(model.CLASSES)}, "state_dict": model.state_dict()}, path)
    return str(CONFIG), str(path)


def _image_bytes(path: str | None, size: int) -> bytes:
    import cv2
    import numpy as np

    if path is not None:
        return Path(path).read_bytes()
    img = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


def _start_server(
    args: argparse.Namespace, config: str, checkpoint: str, batch: int
) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "rdet_apps", "serve", config, checkpoint, "--port", "0"]
    command += [
        "--max-batch-size",
        str(batch),
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--log-level",
        "warning",
    ]
    command += ["--max-queue", str(max(256, args.requests))]
    if args.device:
        command += ["--device", args.device]
    if args.cfg_options:
        command += ["--cfg-options", *args.cfg_options]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    found, lines = threading.Event(), []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "listening on" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(args.start_timeout):
        proc.kill()
        raise RuntimeError("rdet serve did not start:\n" + "".join(lines))
    return proc, re.search(r"listening on (http://\S+)", "".join(lines)).group(1)  # type: ignore[union-attr]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _burst(url: str, data: bytes, requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
    """``warmup`` untimed requests (each client thread's connection opens), then ``requests``
    timed ones; the server's batch counters of the timed part."""
    import httpx

    clients = threading.local()

    def one(_: int) -> tuple[float, int]:
        if not hasattr(clients, "c"):
            clients.c = httpx.Client(timeout=600)
        start = time.perf_counter()
        answer = clients.c.post(f"{url}/predict", content=data, headers={"content-type": "image/png"})
        answer.read()
        return time.perf_counter() - start, answer.status_code

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(max(warmup, concurrency))))
        before = httpx.get(f"{url}/health").json()["batcher"]
        start = time.perf_counter()
        results = list(pool.map(one, range(requests)))
        wall = time.perf_counter() - start
        after = httpx.get(f"{url}/health").json()["batcher"]
    latencies = [t * 1000 for t, _ in results]
    sizes = {k: v - before["batch_sizes"].get(k, 0) for k, v in after["batch_sizes"].items()}
    return {
        "requests": requests,
        "concurrency": concurrency,
        "failed": sum(status != 200 for _, status in results),
        "seconds": round(wall, 3),
        "requests_per_s": round(requests / wall, 2),
        "latency_ms": {
            "p50": round(_percentile(latencies, 50), 1),
            "p90": round(_percentile(latencies, 90), 1),
            "p99": round(_percentile(latencies, 99), 1),
            "max": round(max(latencies), 1),
        },
        "batch_sizes": {k: v for k, v in sizes.items() if v},
        "mean_batch": round(requests / max(1, after["batches"] - before["batches"]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="config file (default: the bundled demo config, random weights)")
    parser.add_argument("--checkpoint", help="checkpoint of --config")
    parser.add_argument("--cfg-options", nargs="+", help="passed to rdet serve")
    parser.add_argument("--image", help="image file to send (default: 256x256 random pixels, PNG)")
    parser.add_argument("--image-size", type=int, default=256, help="side of the default image (256)")
    parser.add_argument(
        "--device", default=None, help="cpu or cuda (rdet serve's default: cuda when available)"
    )
    parser.add_argument("--requests", type=int, default=64, help="requests in the burst (64)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (8)")
    parser.add_argument(
        "--warmup", type=int, default=8, help="untimed requests before the burst (8; at least --concurrency)"
    )
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[8, 1], help="--max-batch-size values (8 1)"
    )
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="rdet serve --max-wait-ms (5)")
    parser.add_argument("--start-timeout", type=float, default=600, help="seconds to wait for a server (600)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if (args.config is None) != (args.checkpoint is None):
        parser.error("--config and --checkpoint go together")

    with tempfile.TemporaryDirectory() as tmp:
        config, checkpoint = (args.config, args.checkpoint) if args.config else _demo_checkpoint(Path(tmp))
        data = _image_bytes(args.image, args.image_size)
        results = []
        for batch in args.batch_sizes:
            proc, url = _start_server(args, config, checkpoint, batch)
            try:
                result = {"max_batch_size": batch, "max_wait_ms": args.max_wait_ms}
                result |= _burst(url, data, args.requests, args.concurrency, args.warmup)
            finally:
                proc.terminate()
                proc.wait(60)
            results.append(result)
            print(json.dumps(result), flush=True)
    summary = {
        "config": config,
        "device": args.device or "default",
        "image_bytes": len(data),
        "runs": results,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
