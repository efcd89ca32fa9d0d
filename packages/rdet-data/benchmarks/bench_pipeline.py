"""Images per second through MMRotate's DOTA 1024 training pipeline (dotav1.py), real DOTA images.

    cd /work/main && .venv/bin/python -m pytest packages/rdet-data/benchmarks --benchmark-enable -q

LoadImageFromFile, LoadAnnotations, RResize 1024, RRandomFlip, Normalize, Pad, DefaultFormatBundle,
Collect, then collate into DetBatch, with 0 and 2 loader workers in the same run. The 6 real
labelled DOTA images of ../shared (1147x1023 ... 712x557 PNG, 1185 objects) are repeated to 48
per epoch. Skips when ../shared is absent.
"""

from __future__ import annotations

import copy
import os

import pytest

from rdet_core import Config
from rdet_data import RepeatDataset, build_dataloader, build_dataset

PAIRS = [
    ("CAPTAIN-WHU_DOTA_devkit/example", ["P0706", "P1888"]),
    ("hukaixuan19970627_DOTA_devkit_YOLO/DOTA_demo", ["P0003", "P0004", "P0005", "P1478__1__853___962"]),
]
REPEAT = 8


@pytest.fixture(scope="module")
def dataset(shared_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("dota")
    (root / "images").mkdir()
    (root / "labelTxt").mkdir()
    for folder, ids in PAIRS:
        for i in ids:
            os.symlink(
                shared_dir / "data/real" / folder / "images" / f"{i}.png", root / "images" / f"{i}.png"
            )
            os.symlink(
                shared_dir / "data/real" / folder / "labelTxt" / f"{i}.txt", root / "labelTxt" / f"{i}.txt"
            )
    cfg = copy.deepcopy(
        Config.fromfile(str(shared_dir / "configs/mmrotate-0.3.4/_base_/datasets/dotav1.py")).data.train
    )
    cfg.update(ann_file=str(root / "labelTxt"), img_prefix=str(root / "images"))
    return RepeatDataset(build_dataset(cfg), REPEAT)


def _epoch(loader) -> int:
    n = 0
    for batch in loader:
        n += len(batch)
    return n


@pytest.mark.parametrize("workers", [0, 2])
def test_dota_1024_train_pipeline(benchmark, dataset, workers):
    loader = build_dataloader(dataset, samples_per_gpu=2, workers_per_gpu=workers, dist=False, seed=0,
                              persistent_workers=workers > 0)  # fmt: skip
    _epoch(loader)  # warm-up: worker start, file cache
    n = benchmark.pedantic(_epoch, args=(loader,), rounds=3, iterations=1)
    assert n == len(dataset) == 6 * REPEAT
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_second"] = round(n / benchmark.stats.stats.mean, 1)
