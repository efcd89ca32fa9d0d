"""Test helpers shared by every package's tests: where ``../shared`` is.

``shared_dir`` is the folder of real data, golden outputs and MMRotate's configs that lies
beside the project (or at ``$RDET_SHARED``). Tests that need it skip, with a message saying
so, when it is absent; each package also has tests on data it makes itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Nothing in the tests reaches the internet: checkpoint names and URLs are never downloaded
# (the download test serves its file from 127.0.0.1 and clears this itself).
os.environ.setdefault("RDET_OFFLINE", "1")


def find_shared() -> Path | None:
    """``$RDET_SHARED`` or ``../shared`` beside the repository, if it exists."""
    candidate = Path(os.environ.get("RDET_SHARED", ROOT.parent / "shared"))
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = find_shared()
    if path is None:
        pytest.skip(
            "../shared (real data, golden outputs, MMRotate configs) is not beside the repository; set RDET_SHARED to use it"
        )
    return path
