"""Fixtures of rdet-apps' tests: the golden model cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def golden_case(shared_dir: Path) -> Callable[[str], dict]:
    """``golden_case(name)``: a golden model case's config, checkpoint, image, result and
    overrides (tuples restored); skips when the cases or MMRotate's configs are absent."""
    models = shared_dir / "golden" / "mmrotate-0.3.4" / "models"
    configs = shared_dir / "configs" / "mmrotate-0.3.4"
    if not (models / "cases.json").is_file() or not configs.is_dir():
        pytest.skip("golden model cases or MMRotate configs absent")
    cases = json.loads((models / "cases.json").read_text())

    def load(name: str) -> dict:
        case = cases[name]
        overrides = dict(case["overrides"])
        # JSON has no tuples: the test img_scale is the pair (320, 320), a tuple in the config
        overrides["data.test.pipeline.1.img_scale"] = tuple(overrides["data.test.pipeline.1.img_scale"])
        return dict(
            config=configs / case["config"],
            checkpoint=models / case["checkpoint"],
            image=models / case["image"],
            result=np.load(models / case["result"]),
            overrides=overrides,
            num_detections=case["num_detections"],
        )

    return load


@pytest.fixture(scope="session")
def demo_trained(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """One `rdet train` of the main job's config on the generated set (64 training and 16
    validation images of 256 px, 25 epochs: about two minutes on 2 cores), shared by the test
    modules that need a trained model: (root, work_dir, the --cfg-options, the validation set)."""
    from rdet_apps.cli import main
    from rdet_apps.commands.demo import CONFIG
    from rdet_apps.demo_data import make_demo_dota

    root = tmp_path_factory.mktemp("learn")
    train = make_demo_dota(root / "data/train", num_images=64, size=256, seed=0)
    val = make_demo_dota(root / "data/val", num_images=16, size=256, seed=1)
    work = root / "work"
    options = []
    for split, s in (("train", train), ("val", val), ("test", val)):
        options += [f"data.{split}.ann_file={s.labels}/", f"data.{split}.img_prefix={s.images}/"]
    options += ["evaluation.interval=25", "data.workers_per_gpu=0"]
    assert main(["train", str(CONFIG), "--work-dir", str(work), "--cfg-options", *options]) == 0
    return root, work, options, val
