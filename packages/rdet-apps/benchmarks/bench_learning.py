"""The learning benchmark: the main job's training, timed, with its loss and mAP curve.

    python -m pytest packages/rdet-apps/benchmarks/bench_learning.py --benchmark-enable -s

Prints the loss per epoch, the mAP@0.5 at each evaluation, seconds per iteration.
"""

from __future__ import annotations

import json

import pytest

from rdet_apps.cli import main


@pytest.mark.parametrize("epochs", [25])
def test_main_job_learning_curve(benchmark, tmp_path, epochs, capsys):
    work = tmp_path / "demo"

    def run():
        assert main(["demo", "--work-dir", str(work), "--epochs", str(epochs)]) == 0

    benchmark.pedantic(run, rounds=1, iterations=1)
    print(capsys.readouterr().out)
    records = [
        json.loads(line) for f in sorted(work.glob("*.log.json")) for line in f.read_text().splitlines()
    ]
    train = [r for r in records if r.get("mode") == "train"]
    val = [r for r in records if r.get("mode") == "val"]
    by_epoch: dict[int, list[float]] = {}
    for r in train:
        by_epoch.setdefault(r["epoch"], []).append(r["loss"])
    print("epoch  loss")
    for epoch, losses in by_epoch.items():
        print(f"{epoch:5d}  {sum(losses) / len(losses):.3f}")
    print("mAP@0.5 at evaluations:", [(r["epoch"], round(r["mAP"], 3)) for r in val])
    print(f"seconds per iteration (batch 8, 256 px): {sum(r['time'] for r in train) / len(train):.3f}")
    assert val and val[-1]["mAP"] > 0.6
