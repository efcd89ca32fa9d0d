"""``CheckpointHook``: ``epoch_N.pth`` / ``iter_N.pth`` every interval, and ``latest.pth``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["CheckpointHook"]


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Saves ``epoch_N.pth`` (or ``iter_N.pth``) every ``interval`` and ``latest.pth``.

    Args:
        interval: Epochs (or iterations with ``by_epoch=False``) between checkpoints; -1 never.
        by_epoch: Count epochs or iterations.
        save_optimizer: Include the optimizer state (needed to resume).
        out_dir: Where to write (default the work dir).
        max_keep_ckpts: Keep only the newest this many (-1 all).
        save_last: Also save after the last epoch (iteration) when it is off the interval.
    """

    def __init__(
        self,
        interval: int = 1,
        by_epoch: bool = True,
        save_optimizer: bool = True,
        out_dir: str | None = None,
        max_keep_ckpts: int = -1,
        save_last: bool = True,
        **kwargs: Any,
    ) -> None:
        self.interval, self.by_epoch, self.save_optimizer = interval, by_epoch, save_optimizer
        self.out_dir, self.max_keep_ckpts, self.save_last = out_dir, max_keep_ckpts, save_last
        self.saved: list[Path] = []

    def _save(self, runner: RunnerView, name: str) -> None:
        if runner.rank != 0:
            return
        out = Path(self.out_dir or runner.work_dir)
        path = runner.save_checkpoint(out / name, save_optimizer=self.save_optimizer)
        latest = out / "latest.pth"
        tmp = out / ".latest.pth.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(path.name, tmp)
        os.replace(tmp, latest)
        self.saved.append(path)
        if self.max_keep_ckpts > 0:
            while len(self.saved) > self.max_keep_ckpts:
                old = self.saved.pop(0)
                if old.exists():
                    old.unlink()

    def after_train_epoch(self, runner: RunnerView) -> None:
        """Epoch-based: save at the interval (and after the last epoch with ``save_last``)."""
        if not self.by_epoch or self.interval <= 0:
            return
        if (runner.epoch + 1) % self.interval == 0 or (
            self.save_last and runner.epoch + 1 == runner.max_epochs
        ):
            self._save(runner, f"epoch_{runner.epoch + 1}.pth")

    def after_train_iter(self, runner: RunnerView) -> None:
        """Iteration-based: save at the interval (and after the last iteration with ``save_last``)."""
        if self.by_epoch or self.interval <= 0:
            return
        if (runner.iter + 1) % self.interval == 0 or (self.save_last and runner.iter + 1 == runner.max_iters):
            self._save(runner, f"iter_{runner.iter + 1}.pth")
