"""``LogBuffer``: the values of the training iterations, averaged over a logging interval.

The runner owns one (``runner.log_buffer``); it feeds it every iteration's losses and times,
and the logger hooks read and clear it.
"""

from __future__ import annotations

import math
from collections import defaultdict

__all__ = ["LogBuffer"]


class LogBuffer:
    """Per-iteration values, averaged over the logging interval; NaN and infinite values are
    skipped. Beside the interval's sums it keeps running sums that ``clear`` leaves alone
    (``running_average`` / ``reset_running``: the per-epoch means of ``results.csv``)."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._latest: dict[str, float] = {}
        self._run_sums: dict[str, float] = defaultdict(float)
        self._run_counts: dict[str, int] = defaultdict(int)
        #: changes with every ``update`` and ``clear``: whether anything happened since a reading
        self.version = 0
        self._last_read: tuple[tuple[str, int], dict[str, float]] | None = None

    def update(self, values: dict[str, float], count: int = 1) -> None:
        """Add one observation (weighted by ``count``) of every value."""
        self.version += 1
        for k, v in values.items():
            if not math.isfinite(v):
                continue
            self._sums[k] += v * count
            self._counts[k] += count
            self._run_sums[k] += v * count
            self._run_counts[k] += count
            self._latest[k] = v

    def average(self) -> dict[str, float]:
        """The weighted mean of every key since the last clear (nothing is cleared)."""
        return {k: self._sums[k] / self._counts[k] for k in self._sums}

    def running_average(self) -> dict[str, float]:
        """The weighted mean of every key since the last ``reset_running`` (``clear`` does not
        reset it)."""
        return {k: self._run_sums[k] / self._run_counts[k] for k in self._run_sums}

    def reset_running(self) -> None:
        """Start the running sums anew."""
        self._run_sums.clear()
        self._run_counts.clear()

    def latest(self) -> dict[str, float]:
        """The last finite value of every key seen (kept across ``clear``)."""
        return dict(self._latest)

    def average_and_clear(self) -> dict[str, float]:
        """The weighted mean of every key since the last clear; then clear."""
        out = {k: self._sums[k] / self._counts[k] for k in self._sums}
        self.clear()
        return out

    def read_interval(self, key: str) -> dict[str, float]:
        """The interval's means, then cleared (:meth:`average_and_clear`); read again under the
        same ``key`` with nothing added since, the same values: several logger hooks at one
        logging point read alike, whatever their order."""
        if self._last_read is not None and self._last_read[0] == (key, self.version):
            return dict(self._last_read[1])
        values = self.average_and_clear()
        self._last_read = ((key, self.version), values)
        return dict(values)

    def set_aside(self) -> tuple[dict[str, float], dict[str, int]]:
        """Take the interval's sums and counts out (the buffer is then empty), to be given
        back by :meth:`put_back`: values of another kind (an evaluation's) can be logged in
        between without losing the interval's."""
        held = (dict(self._sums), dict(self._counts))
        self.clear()
        return held

    def put_back(self, held: tuple[dict[str, float], dict[str, int]]) -> None:
        """Add what :meth:`set_aside` took out back to the interval's sums and counts."""
        self.version += 1
        sums, counts = held
        for k, v in sums.items():
            self._sums[k] += v
            self._counts[k] += counts[k]

    def clear(self) -> None:
        """Forget the sums and counts (not the latest values)."""
        self.version += 1
        self._sums.clear()
        self._counts.clear()
