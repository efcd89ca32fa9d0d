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
