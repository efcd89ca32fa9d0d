"""The training engine: runner, hooks, optimizers, schedules, checkpoints, distributed set-up."""

from rdet_apps.engine.build import build_runner, load_weights
from rdet_apps.engine.checkpoint import load_state, save_checkpoint, unwrap
from rdet_apps.engine.dist import get_dist_info, init_dist, set_random_seed
from rdet_apps.engine.hooks import CheckpointHook, EvalHook, Hook, NumClassCheckHook, TextLoggerHook
from rdet_apps.engine.optim import build_optimizer
from rdet_apps.engine.runner import Runner, parse_losses
from rdet_apps.engine.schedules import build_schedule

__all__ = [
    "CheckpointHook",
    "EvalHook",
    "Hook",
    "NumClassCheckHook",
    "Runner",
    "TextLoggerHook",
    "build_optimizer",
    "build_runner",
    "build_schedule",
    "get_dist_info",
    "init_dist",
    "load_state",
    "load_weights",
    "parse_losses",
    "save_checkpoint",
    "set_random_seed",
    "unwrap",
]
