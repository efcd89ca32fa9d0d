"""Progress bars for long loops (testing, inference over folders, patches of huge images), on
stderr, drawn by tqdm: one redrawn line on a terminal, nothing at all elsewhere (CI logs and
redirected output stay clean; the commands print their own summary lines)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")

__all__ = ["track"]


def track(
    items: Iterable[T],
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    stream: IO[str] | None = None,
) -> Iterator[T]:
    """Yield ``items`` while showing ``desc: done/total [elapsed<eta, rate]`` when ``stream``
    (default stderr) is a terminal."""
    from tqdm import tqdm

    yield from tqdm(
        items,
        total=total,
        desc=desc,
        unit=unit,
        file=stream or sys.stderr,
        disable=None,  # tqdm's "only on a terminal"
        dynamic_ncols=True,
        mininterval=0.2,
    )
