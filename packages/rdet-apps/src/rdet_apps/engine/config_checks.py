"""Checks of the runtime part of a config before training: a typo'd key of ``runner``,
``lr_config``, ``momentum_config``, ``checkpoint_config``, ``log_config`` or ``evaluation``,
or of a top-level name (``evaluaton``), is an error naming the closest valid key, not a
setting silently ignored. MMCV raises ``TypeError`` for most of these (its hooks take keyword
arguments), but passes ``checkpoint_config``'s extra keys on and ignores top-level typos."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ConfigKeyError", "check_runtime_config"]

#: the top-level names MMRotate's training reads, or that its configs define
RUNTIME_KEYS = frozenset(
    [
        "model",
        "data",
        "optimizer",
        "optimizer_config",
        "lr_config",
        "momentum_config",
        "runner",
        "total_epochs",
        "checkpoint_config",
        "log_config",
        "evaluation",
        "custom_hooks",
        "fp16",
        "amp",
        "workflow",
        "find_unused_parameters",
        "resume_from",
        "load_from",
        "work_dir",
        "gpu_ids",
        "seed",
        "deterministic",
        "dist_params",
        "log_level",
        "opencv_num_threads",
        "mp_start_method",
        "auto_scale_lr",
        "custom_imports",
        "cudnn_benchmark",
    ]
)
_WARMUP = ("by_epoch", "warmup", "warmup_iters", "warmup_ratio", "warmup_by_epoch")
_POLICY_KEYS = {
    "step": ("step", "gamma", "min_lr"),
    "cosineannealing": ("min_lr", "min_lr_ratio"),
    "poly": ("power", "min_lr"),
    "exp": ("gamma",),
    "inv": ("gamma", "power"),
    "fixed": (),
    "cyclic": ("target_ratio", "cyclic_times", "step_ratio_up", "anneal_strategy", "gamma"),
}
_CHECKPOINT = ("type", "interval", "by_epoch", "save_optimizer", "out_dir", "max_keep_ckpts", "save_last",
               "sync_buffer", "file_client_args", "create_symlink")  # fmt: skip
_LOG = ("interval", "hooks", "ignore_last", "reset_flag", "by_epoch")
_EVALUATION = ("type", "interval", "by_epoch", "save_best", "rule", "start", "metric", "greater_keys",
               "less_keys", "out_dir", "file_client_args", "gpu_collect", "tmpdir", "broadcast_bn_buffer",
               "test_fn", "dynamic_intervals", "iou_thr", "scale_ranges", "use_07_metric", "nproc",
               "proposal_nums", "logger")  # fmt: skip


class ConfigKeyError(KeyError):
    """A config key that nothing reads (a typo, most likely)."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence
        return str(self.args[0])


def _check_keys(section: str, cfg: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = sorted(set(allowed))
    for key in cfg:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {section}.{close[0]}?)" if close else ""
            raise ConfigKeyError(
                f"{section}.{key}: not a key of {section}{hint}; its keys: {', '.join(allowed)}"
            )


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_schedule(section: str, cfg: Mapping[str, Any]) -> None:
    policy = str(cfg.get("policy", "fixed")).lower().replace("_", "")
    extra = _POLICY_KEYS.get(policy)
    if extra is None:
        return  # the schedule builder names an unknown policy itself
    _check_keys(section, cfg, ("policy", *_WARMUP, *extra))


def check_runtime_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigKeyError` on a key no part of training reads, ``ValueError`` on a
    non-positive ``max_epochs`` / ``max_iters`` / intervals or an ``amp`` that is not a
    mixed-precision mode (``rdet_apps.amp.AmpError``). ``cfg``: the whole config."""
    for key in cfg:
        if key in RUNTIME_KEYS or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, sorted(RUNTIME_KEYS), n=1, cutoff=0.8)
        if close and close[0] not in cfg:  # 'evaluaton' and no 'evaluation': a typo
            raise ConfigKeyError(f"{key}: not a config key that training reads (did you mean {close[0]}?)")
    if cfg.get("amp") is not None:
        from rdet_apps.amp import config_amp

        config_amp(cfg)  # AmpError (a ValueError) naming the key
    runner = cfg.get("runner")
    if runner is not None:
        kind = runner.get("type", "EpochBasedRunner")
        length = "max_iters" if kind == "IterBasedRunner" else "max_epochs"
        _check_keys("runner", runner, ("type", length))
        if length in runner:
            _positive_int(f"runner.{length}", runner[length])
    if cfg.get("total_epochs") is not None:
        _positive_int("total_epochs", cfg["total_epochs"])
    for section in ("lr_config", "momentum_config"):
        if cfg.get(section) is not None:
            _check_schedule(section, cfg[section])
    if cfg.get("checkpoint_config") is not None:
        _check_keys("checkpoint_config", cfg["checkpoint_config"], _CHECKPOINT)
    if cfg.get("log_config") is not None:
        _check_keys("log_config", cfg["log_config"], _LOG)
        if "interval" in cfg["log_config"]:
            _positive_int("log_config.interval", cfg["log_config"]["interval"])
    if cfg.get("evaluation") is not None:
        _check_keys("evaluation", cfg["evaluation"], _EVALUATION)
