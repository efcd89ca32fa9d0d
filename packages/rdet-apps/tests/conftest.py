"""Fixtures of rdet-apps' tests: the golden model cases; the process settings that an in-process
`rdet train` / `rdet test` changes, restored after each test."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
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


_PROCESS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM", "LOCAL_RANK")


@pytest.fixture(autouse=True)
def _process_settings_restored() -> Iterator[None]:
    """`rdet train` / `rdet test` run in-process do what MMDetection's tools do for the processes
    they start (``rdet_apps.engine.workers.setup_multi_processes``: OMP/MKL_NUM_THREADS=1 with
    loader workers, OpenCV's threads, the start method; ``LOCAL_RANK``): undone after each test,
    so that a later test's subprocesses are not single-threaded."""
    env = {name: os.environ.get(name) for name in _PROCESS_ENV}
    method = multiprocessing.get_start_method(allow_none=True)
    cv2 = sys.modules.get("cv2")
    threads = cv2.getNumThreads() if cv2 is not None else None
    yield
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if multiprocessing.get_start_method(allow_none=True) != method:
        multiprocessing.set_start_method(method, force=True)
    if threads is not None:
        cv2.setNumThreads(threads)
