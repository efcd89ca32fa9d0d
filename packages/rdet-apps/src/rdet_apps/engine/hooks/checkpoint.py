"""``CheckpointHook``: ``epoch_N.pth`` / ``iter_N.pth`` every interval, and ``latest.pth``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from rdet_apps.engine.config_checks import check_checkpoint_values
from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["CheckpointHook"]


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Saves ``epoch_N.pth`` (or ``iter_N.pth``) every ``interval`` and ``latest.pth``.

    Args:
        interval: Epochs (or iterations with ``by_epoch=False``) between checkpoints; <= 0: none
            on the way, only the last one with ``save_last`` (MMCV's ``interval=-1``).
        by_epoch: Count epochs or iterations.
        save_optimizer: Include the optimizer state (needed to resume).
        out_dir: Where to write (default the work dir).
        max_keep_ckpts: Keep only the newest this many (<= 0: all).
        save_last: Also save after the last epoch (iteration) when it is off the interval.
        sync_buffer: Under DDP, average the floating-point buffers (BN statistics) over the
            ranks before saving (MMCV's).
        file_client_args: MMCV's storage backend; only the local disk (None or
            ``dict(backend='disk')``).
        create_symlink: Point ``latest.pth`` at the newest checkpoint.

    Raises:
        ValueError: An argument of the wrong type (``interval='1'``), naming its
            ``checkpoint_config`` key.
    """

    def __init__(
        self,
        interval: int = 1,
        by_epoch: bool = True,
        save_optimizer: bool = True,
        out_dir: str | None = None,
        max_keep_ckpts: int = -1,
        save_last: bool = True,
        sync_buffer: bool = False,
        file_client_args: dict[str, Any] | None = None,
        create_symlink: bool = True,
    ) -> None:
        check_checkpoint_values(
            {"interval": interval, "by_epoch": by_epoch, "save_optimizer": save_optimizer, "out_dir": out_dir,
             "max_keep_ckpts": max_keep_ckpts, "save_last": save_last, "sync_buffer": sync_buffer,
             "file_client_args": file_client_args, "create_symlink": create_symlink}
        )  # fmt: skip
        self.interval, self.by_epoch, self.save_optimizer = interval, by_epoch, save_optimizer
        self.out_dir, self.max_keep_ckpts, self.save_last = out_dir, max_keep_ckpts, save_last
        self.sync_buffer, self.create_symlink = sync_buffer, create_symlink
        self.saved: list[Path] = []

    def _save(self, runner: RunnerView, name: str) -> None:
        if self.sync_buffer:
            _average_buffers(runner.model)  # every rank takes part
        if runner.rank != 0:
            return
        out = Path(self.out_dir or runner.work_dir)
        path = runner.save_checkpoint(out / name, save_optimizer=self.save_optimizer)
        if self.create_symlink:
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
        if self.by_epoch and (
            self.every_n_epochs(runner, self.interval) or (self.save_last and self.is_last_epoch(runner))
        ):
            self._save(runner, f"epoch_{runner.epoch + 1}.pth")

    def after_train_iter(self, runner: RunnerView) -> None:
        """Iteration-based: save at the interval (and after the last iteration with ``save_last``)."""
        if not self.by_epoch and (
            self.every_n_iters(runner, self.interval) or (self.save_last and self.is_last_iter(runner))
        ):
            self._save(runner, f"iter_{runner.iter + 1}.pth")


def _average_buffers(model: nn.Module) -> None:
    """MMCV's ``sync_buffer``: the floating-point buffers averaged over the ranks (no-op
    without a process group)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    world = dist.get_world_size()
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf.div_(world)
