"""A Runner from MMRotate's runtime config keys.

``optimizer``, ``optimizer_config`` (MMCV's ``OptimizerHook``, ``GradientCumulativeOptimizerHook``,
``Fp16OptimizerHook``, ``GradientCumulativeFp16OptimizerHook`` and their arguments:
``config_checks.optimizer_settings``), ``lr_config``, ``momentum_config``,
``runner`` (``EpochBasedRunner`` / ``IterBasedRunner``; ``total_epochs`` of old configs),
``checkpoint_config``, ``log_config``, ``evaluation``, ``custom_hooks``, ``amp``, ``fp16``,
``workflow``, ``find_unused_parameters``, ``resume_from``, ``auto_resume``, ``load_from``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from rdet_apps.amp import config_amp
from rdet_apps.engine.checkpoint import find_latest_checkpoint, unwrap
from rdet_apps.engine.config_checks import check_runtime_config, optimizer_settings
from rdet_apps.engine.hooks import CheckpointHook, EvalHook, LrUpdaterHook, NumClassCheckHook, ResultsCsvHook
from rdet_apps.engine.optim import build_optimizer
from rdet_apps.engine.runner import Runner
from rdet_apps.engine.schedules import build_schedule
from rdet_apps.registry import HOOKS
from rdet_models.checkpoint import extract_state_dict, load_state_dict, read_checkpoint

__all__ = ["build_runner", "load_weights"]


def load_weights(model: nn.Module, path: str | Path, logger: logging.Logger | None = None) -> dict[str, Any]:
    """``load_from`` (fine-tuning): what fits of the checkpoint's weights into ``model``; the
    counts of loaded, missing, unexpected and mismatched keys go to ``logger`` (the work-dir
    log). A checkpoint of which no key fits is an error. Returns the checkpoint."""
    checkpoint = read_checkpoint(path)
    state = extract_state_dict(checkpoint, str(path))
    with warnings.catch_warnings():  # reported in the log below, with the counts
        warnings.simplefilter("ignore")
        report = load_state_dict(unwrap(model), state, strict=False, source=str(path))
    log = logger or logging.getLogger("rdet")
    (log.warning if report.mostly_unloaded else log.info)(f"load_from {path}: {report.summary()}")
    return checkpoint


def _get(cfg: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = cfg.get(key, default) if hasattr(cfg, "get") else default
    return default if value is None else value


def build_runner(
    cfg: Mapping[str, Any],
    model: nn.Module,
    work_dir: str | Path,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    distributed: bool = False,
    amp: str | None = None,
    meta: dict[str, Any] | None = None,
    logger: logging.Logger | None = None,
) -> Runner:
    """Build the optimizer, the runner and its hooks from a config, and resume or load weights.

    Args:
        cfg: The whole config (a ``Config`` or dict).
        model: The detector, already on its device.
        work_dir: Checkpoints and logs.
        evaluate: ``evaluate(model) -> metrics`` for the ``evaluation`` key; None: no validation.
        distributed: DistributedDataParallel (the process group is initialised).
        amp: Mixed precision (``'bf16'``, ``'fp16'``, ``'auto'``; ``rdet_apps.amp``); None: the
            config's top-level ``amp`` key, else MMCV's ``fp16`` key or an Fp16 optimizer hook
            type (fp16 on CUDA, bf16 elsewhere), else off. Under fp16 the loss scale is the
            config's (``fp16.loss_scale`` / ``optimizer_config.loss_scale``: MMCV's default, a
            static 512, when the config asks for fp16 without one), else dynamic.
        meta: Saved into checkpoints (class names, config text, seed, ``num_classes``).
    """
    check_runtime_config(cfg)
    runner_cfg = dict(
        _get(cfg, "runner", {"type": "EpochBasedRunner", "max_epochs": _get(cfg, "total_epochs", 12)})
    )
    kind = runner_cfg.pop("type", "EpochBasedRunner")
    if kind not in ("EpochBasedRunner", "IterBasedRunner"):
        raise ValueError(f"runner type must be EpochBasedRunner or IterBasedRunner, got {kind!r}")
    opt = optimizer_settings(cfg)
    if amp is None:
        amp = config_amp(cfg)
    if amp is None and opt.fp16:  # MMCV's fp16 key / Fp16OptimizerHook: mixed precision in training
        amp = "fp16" if next(model.parameters()).is_cuda else "bf16"
    log = logger or logging.getLogger("rdet")
    if opt.type != "OptimizerHook":
        log.info(
            f"optimizer hook: {opt.type} (cumulative_iters={opt.cumulative_iters}, loss_scale={opt.loss_scale!r})"
        )
    runner = Runner(
        model,
        build_optimizer(model, dict(cfg["optimizer"])),
        work_dir,
        max_epochs=runner_cfg.get("max_epochs") if kind == "EpochBasedRunner" else None,
        max_iters=runner_cfg.get("max_iters") if kind == "IterBasedRunner" else None,
        grad_clip=opt.grad_clip,
        amp=amp,
        cumulative_iters=opt.cumulative_iters,
        loss_scale=opt.loss_scale,
        detect_anomalous_params=opt.detect_anomalous_params,
        distributed=distributed,
        find_unused_parameters=bool(_get(cfg, "find_unused_parameters", False)),
        meta=meta,
        logger=logger,
    )
    by_epoch = kind == "EpochBasedRunner"
    runner.register_hook(
        LrUpdaterHook(
            build_schedule(_get(cfg, "lr_config")),
            build_schedule(_get(cfg, "momentum_config"), kind="momentum"),
        ),
        "VERY_HIGH",
    )
    ckpt_cfg = dict(_get(cfg, "checkpoint_config", {"interval": 1}))
    ckpt_cfg.setdefault("by_epoch", by_epoch)
    ckpt_cfg.pop("type", None)
    runner.register_hook(CheckpointHook(**ckpt_cfg), "NORMAL")
    log_cfg = dict(_get(cfg, "log_config", {"interval": 50, "hooks": [{"type": "TextLoggerHook"}]}))
    for hook_cfg in log_cfg.get("hooks", []):
        hook_cfg = dict(hook_cfg)
        hook_cfg.setdefault("interval", log_cfg.get("interval", 50))
        hook_cfg.setdefault("by_epoch", by_epoch)
        runner.register_hook(HOOKS.build(hook_cfg), "VERY_LOW")
    if evaluate is not None and _get(cfg, "evaluation") is not None:
        eval_cfg = dict(cfg["evaluation"])
        eval_cfg.setdefault("by_epoch", by_epoch)
        runner.register_hook(EvalHook(evaluate, **eval_cfg), "LOW")
    runner.register_hook(NumClassCheckHook(), "NORMAL")
    custom = [dict(h) for h in _get(cfg, "custom_hooks", [])]
    if not any(h.get("type") in ("ResultsCsvHook", ResultsCsvHook) for h in custom):
        runner.register_hook(ResultsCsvHook(), "BELOW_NORMAL")  # <work_dir>/results.csv
    resume_from = _get(cfg, "resume_from")
    if not resume_from and _get(cfg, "auto_resume", False):  # MMRotate's --auto-resume
        resume_from = find_latest_checkpoint(work_dir)
        runner.logger.info(
            f"auto_resume: resuming from {resume_from}"
            if resume_from
            else f"auto_resume: no checkpoint in {work_dir}, starting afresh"
        )
    for hook_cfg in custom:
        hook_cfg = dict(hook_cfg)
        priority = hook_cfg.pop("priority", None)
        hook = HOOKS.build(hook_cfg)
        # MMCV's default is NORMAL; a hook may declare its own (the EMA hooks: before checkpoints)
        runner.register_hook(
            hook, getattr(hook, "default_priority", "NORMAL") if priority is None else priority
        )
        if getattr(hook, "resume_from", None):  # MMCV's EMAHook resumes in before_run, after the config's
            resume_from = hook.resume_from
    if resume_from:
        runner.resume(resume_from)
    elif _get(cfg, "load_from"):
        load_weights(model, cfg["load_from"], runner.logger)
    return runner
