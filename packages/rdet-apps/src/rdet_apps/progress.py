"""A progress bar for long loops (testing, inference over folders, splitting), on stderr.

On a terminal it redraws one line; elsewhere (CI logs) it prints a line at most every
``every`` seconds, so that logs stay short.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["track"]


def track(
    items: Iterable[T], total: int | None = None, desc: str = "", every: float = 10.0, stream=None
) -> Iterator[T]:
    """Yield ``items`` while showing ``desc [done/total] rate, eta``."""
    stream = stream or sys.stderr
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    tty = hasattr(stream, "isatty") and stream.isatty()
    start = last = time.time()
    done = 0

    def show(final: bool = False) -> None:
        elapsed = max(time.time() - start, 1e-9)
        rate = done / elapsed
        if total:
            eta = (total - done) / rate if rate > 0 else 0.0
            text = f"{desc} [{done}/{total}] {rate:.2f} it/s, elapsed {elapsed:.0f}s, eta {eta:.0f}s"
        else:
            text = f"{desc} [{done}] {rate:.2f} it/s, elapsed {elapsed:.0f}s"
        stream.write(("\r" + text + ("\n" if final else "")) if tty else text + "\n")
        stream.flush()

    for item in items:
        yield item
        done += 1
        now = time.time()
        if (tty and now - last > 0.1) or now - last > every:
            show()
            last = now
    show(final=True)
