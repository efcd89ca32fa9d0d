"""Fixtures of rdet-models' tests: the golden folder and small model configs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def golden_dir(shared_dir: Path) -> Path:
    path = shared_dir / "golden" / "mmrotate-0.3.4"
    if not path.is_dir():
        pytest.skip(f"{path} (MMRotate reference outputs) is absent")
    return path


@pytest.fixture(scope="session")
def configs_dir(shared_dir: Path) -> Path:
    path = shared_dir / "configs" / "mmrotate-0.3.4"
    if not path.is_dir():
        pytest.skip(f"{path} (MMRotate's config files) is absent")
    return path


#: the golden model cases' small-backbone overrides (ResNet-18 at 1/4 width, 32-channel FPN and head)
SMALL_OVERRIDES = {
    "model.backbone.depth": 18,
    "model.backbone.base_channels": 16,
    "model.backbone.init_cfg": None,
    "model.neck.in_channels": [16, 32, 64, 128],
    "model.neck.out_channels": 32,
    "model.bbox_head.in_channels": 32,
    "model.bbox_head.feat_channels": 32,
    "model.bbox_head.stacked_convs": 2,
}


@pytest.fixture(scope="session")
def small_overrides() -> dict:
    return dict(SMALL_OVERRIDES)


@pytest.fixture(scope="session")
def learning() -> ModuleType:
    """``tests/learning.py``: the synthetic learning set (``make_images``) and the fit-and-score loop
    (``fit_and_map``) of the families' learning tests; needs OpenCV and rdet-eval."""
    pytest.importorskip("cv2")
    pytest.importorskip("rdet_eval")
    path = Path(__file__).with_name("learning.py")
    spec = importlib.util.spec_from_file_location("rdet_models_tests_learning", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
