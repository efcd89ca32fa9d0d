"""Fixtures for rbox_ops tests: the backends that can run here, golden files, random boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rbox_ops


def _backends() -> list[str]:
    out = ["torch", "cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    return out


@pytest.fixture(scope="session")
def built() -> None:
    """Compile (or load from the cache) once per session; the whole suite shares the library."""
    rbox_ops.build(cuda=torch.cuda.is_available())


@pytest.fixture(params=_backends())
def backend(request, monkeypatch, built) -> str:
    """Forces each backend in turn through $RBOX_OPS_BACKEND."""
    monkeypatch.setenv("RBOX_OPS_BACKEND", request.param)
    return request.param


@pytest.fixture
def device(backend: str) -> torch.device:
    return torch.device("cuda" if backend == "cuda" else "cpu")


@pytest.fixture
def golden(shared_dir):
    """golden(name) -> {array name: array} of ../shared/golden/mmrotate-0.3.4/<name>.npz."""

    def load(name: str) -> dict[str, np.ndarray]:
        path = shared_dir / "golden" / "mmrotate-0.3.4" / f"{name}.npz"
        if not path.exists():
            pytest.skip(f"{path} is missing")
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    return load


def random_boxes(n: int, seed: int = 0, size: float = 100.0, dtype=torch.float32) -> torch.Tensor:
    """n rotated boxes (cx, cy, w, h, theta) in a size x size image, many overlapping."""
    g = torch.Generator().manual_seed(seed)
    ctr = torch.rand(n, 2, generator=g, dtype=torch.float64) * size
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * size / 4 + 1
    theta = (torch.rand(n, 1, generator=g, dtype=torch.float64) - 0.5) * np.pi
    return torch.cat((ctr, wh, theta), 1).to(dtype)


def clustered_boxes(n: int, clusters: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n boxes jittered around ``clusters`` objects in a 1024 x 1024 image, with scores."""
    g = torch.Generator().manual_seed(seed)
    centres = random_boxes(clusters, seed, size=1024.0)
    pick = torch.randint(clusters, (n,), generator=g)
    jitter = torch.randn(n, 5, generator=g) * torch.tensor([3.0, 3.0, 2.0, 2.0, 0.05])
    boxes = centres[pick] + jitter
    boxes[:, 2:4] = boxes[:, 2:4].clamp(min=2)
    return boxes, torch.rand(n, generator=g)


class Boxes:
    random = staticmethod(random_boxes)
    clustered = staticmethod(clustered_boxes)


@pytest.fixture
def boxes() -> type[Boxes]:
    """boxes.random(n, seed) and boxes.clustered(n, clusters, seed)."""
    return Boxes
