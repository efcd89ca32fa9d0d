"""Shared helpers: where /work/shared is, and reference-data fixtures that skip cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def shared_dir() -> Path:
    """``$RDET_SHARED`` or the ``shared/`` folder beside the repository checkout."""
    env = os.environ.get("RDET_SHARED")
    if env:
        return Path(env)
    return (Path(__file__).resolve().parents[3] / ".." / "shared").resolve()


def load_golden(name: str):
    path = shared_dir() / "golden" / "mmrotate-0.3.4" / name
    if not path.exists():
        pytest.skip(f"reference data {path} not found (set RDET_SHARED to the shared/ folder)")
    return np.load(path)


@pytest.fixture(scope="session")
def geometry_npz():
    return load_golden("geometry.npz")


@pytest.fixture(scope="session")
def iou_npz():
    return load_golden("iou.npz")


def random_boxes(
    rng: np.random.Generator, n: int, lo: float = 0, hi: float = 100, smax: float = 30
) -> np.ndarray:
    c = rng.uniform(lo, hi, (n, 2))
    wh = rng.uniform(1, smax, (n, 2))
    t = rng.uniform(-np.pi, np.pi, (n, 1))
    return np.concatenate([c, wh, t], 1)
