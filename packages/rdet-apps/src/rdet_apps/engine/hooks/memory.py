"""``MemoryProfilerHook`` (MMDetection 2.x): the machine's and the process's memory in the log.

Needs psutil, an extra: ``pip install 'rdet-apps[profile]'``. (MMDetection also imports
memory_profiler for the process's resident size; psutil gives the same number.)
"""

from __future__ import annotations

from typing import Any, ClassVar

from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["MemoryProfilerHook"]

_INSTALL = "pip install 'rdet-apps[profile]' (or pip install psutil)"


@HOOKS.register_module()
class MemoryProfilerHook(Hook):
    """Every ``interval`` iterations (training, and a ``('val', n)`` workflow's), log the available
    and used memory, the swap, and this process's resident memory, in MB, with MMDetection's
    wording (``Memory information available_memory: ... MB, ...``).

    Args:
        interval: Log every ``interval`` iterations. Default 50.

    Raises:
        ImportError: psutil is not installed (naming the extra).
    """

    #: what the hook needs installed, and how (``check_custom_hooks`` asks before training)
    REQUIRES: ClassVar[dict[str, str]] = {"psutil": _INSTALL}

    def __init__(self, interval: int = 50) -> None:
        self.check_args(interval)
        try:
            import psutil
        except ImportError as e:
            raise ImportError(f"MemoryProfilerHook needs psutil, which is not installed: {_INSTALL}") from e
        self._psutil: Any = psutil
        self.interval = interval

    @staticmethod
    def check_args(interval: int = 50) -> None:
        """Raises ValueError: ``interval`` is not a positive integer."""
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"MemoryProfilerHook interval must be a positive integer, got {interval!r}")

    def after_iter(self, runner: RunnerView) -> None:
        """Log the memory every ``interval`` iterations."""
        if not self.every_n_iters(runner, self.interval):
            return
        virtual = self._psutil.virtual_memory()
        swap = self._psutil.swap_memory()
        process = self._psutil.Process().memory_info().rss
        mb = 1024 * 1024
        runner.logger.info(
            "Memory information "
            f"available_memory: {round(virtual.available / mb)} MB, "
            f"used_memory: {round(virtual.used / mb)} MB, "
            f"memory_utilization: {virtual.percent} %, "
            f"available_swap_memory: {round((swap.total - swap.used) / mb)} MB, "
            f"used_swap_memory: {round(swap.used / mb)} MB, "
            f"swap_memory_utilization: {swap.percent} %, "
            f"current_process_memory: {round(process / mb)} MB"
        )
