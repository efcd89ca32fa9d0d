"""The training engine: runner, hooks, optimizers, schedules, checkpoints, distributed set-up.

``Runner``, ``parse_losses``, ``build_runner`` and ``load_weights`` load on first use, so that
importing the hooks (``rdet_apps.engine.hooks``, which runs this file first) does not import
the runner: the runner imports the hooks, never the reverse.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rdet_apps.engine.checkpoint import load_state, save_checkpoint, unwrap
from rdet_apps.engine.dist import dist_params, get_dist_info, init_dist, leave_process_group, set_random_seed
from rdet_apps.engine.hooks import (
    CheckpointHook,
    EvalHook,
    Hook,
    NumClassCheckHook,
    RunnerView,
    TextLoggerHook,
)
from rdet_apps.engine.log_buffer import LogBuffer
from rdet_apps.engine.optim import build_optimizer
from rdet_apps.engine.schedules import build_schedule

if TYPE_CHECKING:
    from rdet_apps.engine.build import build_runner, load_weights
    from rdet_apps.engine.runner import Runner, parse_losses

_LAZY = {
    "Runner": "rdet_apps.engine.runner",
    "parse_losses": "rdet_apps.engine.runner",
    "build_runner": "rdet_apps.engine.build",
    "load_weights": "rdet_apps.engine.build",
}

__all__ = [
    "CheckpointHook",
    "EvalHook",
    "Hook",
    "LogBuffer",
    "NumClassCheckHook",
    "Runner",
    "RunnerView",
    "TextLoggerHook",
    "build_optimizer",
    "build_runner",
    "build_schedule",
    "dist_params",
    "get_dist_info",
    "init_dist",
    "leave_process_group",
    "load_state",
    "load_weights",
    "parse_losses",
    "save_checkpoint",
    "set_random_seed",
    "unwrap",
]


def __getattr__(name: str) -> Any:
    """The runner and its builder, imported when first asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
