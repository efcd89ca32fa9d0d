"""Experiment trackers: MMCV 1.x's ``WandbLoggerHook`` (Weights & Biases) and
``MlflowLoggerHook`` (MLflow), with MMCV's arguments, tags and steps, for
``log_config.hooks`` as MMRotate's docs write them::

    log_config = dict(interval=50, hooks=[
        dict(type='TextLoggerHook'),
        dict(type='WandbLoggerHook', init_kwargs=dict(project='rdet')),
        dict(type='MlflowLoggerHook', exp_name='rdet'),
    ])

wandb and mlflow are optional extras of rdet-apps (``pip install 'rdet-apps[wandb]'``,
``'rdet-apps[mlflow]'``), imported when a hook is built: a missing one is an ``ImportError``
naming the extra, before training starts. Only rank 0 talks to the tracker.

What they log (MMCV's ``LoggerHook.get_loggable_tags``): every logged value but ``time`` and
``data_time`` as ``<mode>/<name>`` (``train/loss``, ``val/mAP``), plus ``learning_rate`` and
``momentum`` (the first parameter group's; Adam's ``betas[0]``), at step ``runner.iter + 1``.
Training values are the means over the logging interval, the same numbers as the text log's
(``rdet_apps.engine.hooks.logger.interval_values``); validation results as ``EvalHook`` or a
``('val', n)`` workflow hands them over.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rdet_apps.engine.checkpoint import unwrap
from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.engine.hooks.logger import interval_values
from rdet_apps.registry import HOOKS

__all__ = ["MlflowLoggerHook", "WandbLoggerHook"]


def _import_extra(hook: str, module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{hook} needs {extra}, an optional extra of rdet-apps: pip install 'rdet-apps[{extra}]' "
            f"({module}: {e})"
        ) from e


class _TrackerHook(Hook):
    """MMCV's ``LoggerHook`` logic: when to log, which tags, which step. Subclasses define
    ``log(runner, tags, step)``.

    Args:
        interval: Iterations between logs (of the epoch with ``by_epoch``, else of the run).
        ignore_last: Skip the last iterations of an epoch that do not fill an interval.
        reset_flag: MMCV's flag to clear the buffer after logging; accepted for configs (the
            buffer is cleared after every logging point here).
        by_epoch: Count ``interval`` within the epoch (EpochBasedRunner) or over the run.
    """

    def __init__(
        self, interval: int = 10, ignore_last: bool = True, reset_flag: bool = False, by_epoch: bool = True
    ) -> None:
        name = type(self).__name__
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"{name}: interval must be a whole number >= 1, got {interval!r}")
        for arg, value in (("ignore_last", ignore_last), ("reset_flag", reset_flag), ("by_epoch", by_epoch)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} must be True or False, got {value!r}")
        self.interval, self.ignore_last = interval, ignore_last
        self.reset_flag, self.by_epoch = reset_flag, by_epoch

    # MMCV's helpers

    def get_iter(self, runner: RunnerView, inner_iter: bool = False) -> int:
        """The current iteration, 1-based: of the epoch with ``inner_iter`` and ``by_epoch``,
        else of the run (the step trackers log at)."""
        if self.by_epoch and inner_iter:
            return runner.inner_iter + 1
        return runner.iter + 1

    def get_loggable_tags(
        self,
        runner: RunnerView,
        values: Mapping[str, Any],
        mode: str,
        tags_to_skip: tuple[str, ...] = ("time", "data_time"),
    ) -> dict[str, float]:
        """``<mode>/<name>`` for every number in ``values`` but ``tags_to_skip``, plus
        ``learning_rate`` and ``momentum`` of the first parameter group."""
        tags: dict[str, float] = {
            f"{mode}/{k}": v
            for k, v in values.items()
            if k not in tags_to_skip and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        group = runner.optimizer.param_groups[0]
        tags["learning_rate"] = group["lr"]
        if "momentum" in group:
            tags["momentum"] = group["momentum"]
        elif "betas" in group:
            tags["momentum"] = group["betas"][0]
        else:
            tags["momentum"] = 0
        return tags

    def log(self, runner: RunnerView, tags: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def _log(self, runner: RunnerView, mode: str) -> None:
        values = interval_values(runner, mode)  # on every rank: the buffer is cleared alike
        if runner.rank == 0 and values:
            self.log(runner, self.get_loggable_tags(runner, values, mode), self.get_iter(runner))

    # hook points

    def after_train_iter(self, runner: RunnerView) -> None:
        """Log the interval's means every ``interval`` iterations (and at an epoch's end
        unless ``ignore_last``)."""
        due = (
            self.every_n_inner_iters(runner, self.interval)
            if self.by_epoch
            else self.every_n_iters(runner, self.interval)
        )
        if due or (self.end_of_epoch(runner) and not self.ignore_last):
            self._log(runner, "train")

    def after_train_epoch(self, runner: RunnerView) -> None:
        """Drop what an incomplete last interval left in the buffer (as the text logger)."""
        runner.log_buffer.clear()

    def after_val_epoch(self, runner: RunnerView) -> None:
        """Log the validation results."""
        self._log(runner, "val")


@HOOKS.register_module()
class WandbLoggerHook(_TrackerHook):
    """Log to Weights & Biases (MMCV 1.x's hook; needs the ``wandb`` extra).

    ``wandb.init(**init_kwargs)`` before the run, ``wandb.log(tags, step=iter + 1,
    commit=commit)`` at each logging point, and after the run the work dir's files ending with
    ``out_suffix`` (all folders down) as one artifact (``name='artifacts'``, ``type='model'``),
    then ``wandb.finish()``. Checkpoints go up with ``out_suffix=('.pth',)`` (or add ``'.pth'``).

    Args:
        init_kwargs: Keyword arguments of ``wandb.init`` (``project``, ``name``, ``config`` ...).
        interval / ignore_last / reset_flag / by_epoch: As MMCV's ``LoggerHook``.
        commit: ``wandb.log``'s ``commit``.
        with_step: Log at ``step=iter + 1``; else the step goes in as the ``global_step`` value.
        log_artifact: Upload the work dir's files ending with ``out_suffix`` after the run.
        out_suffix: A suffix or a tuple of them (MMCV: ``('.log.json', '.log', '.py')``).
        define_metric_cfg: ``{metric: summary}`` for ``wandb.define_metric`` (summary one of
            ``min``, ``max``, ``mean``, ``best``, ``last``, ``none``).

    Raises:
        ImportError: wandb is not installed (naming the extra).
        TypeError / ValueError: An argument of the wrong type or value, named.
    """

    SUMMARIES = ("min", "max", "mean", "best", "last", "none")

    def __init__(
        self,
        init_kwargs: dict[str, Any] | None = None,
        interval: int = 10,
        ignore_last: bool = True,
        reset_flag: bool = False,
        commit: bool = True,
        by_epoch: bool = True,
        with_step: bool = True,
        log_artifact: bool = True,
        out_suffix: str | tuple[str, ...] = (".log.json", ".log", ".py"),
        define_metric_cfg: dict[str, str] | None = None,
    ) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        if init_kwargs is not None and not isinstance(init_kwargs, Mapping):
            raise TypeError(
                f"WandbLoggerHook: init_kwargs must be a dict of wandb.init's arguments, got {init_kwargs!r}"
            )
        for arg, value in (("commit", commit), ("with_step", with_step), ("log_artifact", log_artifact)):
            if not isinstance(value, bool):
                raise TypeError(f"WandbLoggerHook: {arg} must be True or False, got {value!r}")
        suffixes = (out_suffix,) if isinstance(out_suffix, str) else out_suffix
        if not isinstance(suffixes, (tuple, list)) or not all(isinstance(s, str) and s for s in suffixes):
            raise TypeError(
                f"WandbLoggerHook: out_suffix must be a file-name suffix or a tuple of them, got {out_suffix!r}"
            )
        if define_metric_cfg is not None:
            if not isinstance(define_metric_cfg, Mapping):
                raise TypeError(
                    f"WandbLoggerHook: define_metric_cfg must be a dict, got {define_metric_cfg!r}"
                )
            for metric, summary in define_metric_cfg.items():
                if summary not in self.SUMMARIES:
                    raise ValueError(
                        f"WandbLoggerHook: define_metric_cfg[{metric!r}] = {summary!r}: the summary must be "
                        f"one of {', '.join(self.SUMMARIES)}"
                    )
        self.wandb = _import_extra("WandbLoggerHook", "wandb", "wandb")
        self.init_kwargs = dict(init_kwargs) if init_kwargs else None
        self.commit, self.with_step, self.log_artifact = commit, with_step, log_artifact
        self.out_suffix = tuple(suffixes)
        self.define_metric_cfg = dict(define_metric_cfg) if define_metric_cfg else None

    def before_run(self, runner: RunnerView) -> None:
        """``wandb.init`` (rank 0), and the metrics' summaries of ``define_metric_cfg``."""
        if runner.rank != 0:
            return
        self.wandb.init(**(self.init_kwargs or {}))
        for metric, summary in (self.define_metric_cfg or {}).items():
            self.wandb.define_metric(metric, summary=summary)

    def log(self, runner: RunnerView, tags: dict[str, float], step: int) -> None:
        """``wandb.log`` at ``step`` (or with ``global_step`` among the values)."""
        if self.with_step:
            self.wandb.log(tags, step=step, commit=self.commit)
        else:
            self.wandb.log({**tags, "global_step": step}, commit=self.commit)

    def artifact_files(self, work_dir: str | os.PathLike) -> list[Path]:
        """The files under ``work_dir`` (all folders down) whose names end with ``out_suffix``,
        sorted."""
        root = Path(work_dir)
        return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(self.out_suffix))

    def after_run(self, runner: RunnerView) -> None:
        """Upload the artifact (``log_artifact``; none when no file matches), then finish the
        run."""
        if runner.rank != 0:
            return
        try:
            files = self.artifact_files(runner.work_dir) if self.log_artifact else []
            if files:
                artifact = self.wandb.Artifact(name="artifacts", type="model")
                for path in files:
                    artifact.add_file(str(path))
                self.wandb.log_artifact(artifact)
        finally:
            finish = getattr(self.wandb, "finish", None) or self.wandb.join
            finish()


@HOOKS.register_module()
class MlflowLoggerHook(_TrackerHook):
    """Log to MLflow (MMCV 1.x's hook; needs the ``mlflow`` extra).

    Before the run: ``mlflow.set_experiment(exp_name)``, ``set_tags(tags)``,
    ``log_params(params)`` (each when given); at each logging point ``mlflow.log_metrics(tags,
    step=iter + 1)``; after the run the trained model (unwrapped from DDP) as
    ``mlflow.pytorch.log_model(model, 'models')`` when ``log_model``, then ``mlflow.end_run()``.
    The tracking server is MLflow's to choose (``MLFLOW_TRACKING_URI``).

    Args:
        exp_name: The experiment (made when it does not exist); None: MLflow's active one.
        tags: Tags of the run.
        params: Parameters of the run.
        log_model: Log the trained model as an MLflow model after the run.
        interval / ignore_last / reset_flag / by_epoch: As MMCV's ``LoggerHook``.

    Raises:
        ImportError: mlflow is not installed (naming the extra).
        TypeError: An argument of the wrong type, named.
    """

    def __init__(
        self,
        exp_name: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        log_model: bool = True,
        interval: int = 10,
        ignore_last: bool = True,
        reset_flag: bool = False,
        by_epoch: bool = True,
    ) -> None:
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        if exp_name is not None and not isinstance(exp_name, str):
            raise TypeError(f"MlflowLoggerHook: exp_name must be a string, got {exp_name!r}")
        for arg, value in (("tags", tags), ("params", params)):
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"MlflowLoggerHook: {arg} must be a dict, got {value!r}")
        if not isinstance(log_model, bool):
            raise TypeError(f"MlflowLoggerHook: log_model must be True or False, got {log_model!r}")
        self.mlflow = _import_extra("MlflowLoggerHook", "mlflow", "mlflow")
        self.mlflow_pytorch = _import_extra("MlflowLoggerHook", "mlflow.pytorch", "mlflow")
        self.exp_name = exp_name
        self.tags = dict(tags) if tags is not None else None
        self.params = dict(params) if params is not None else None
        self.log_model = log_model

    def before_run(self, runner: RunnerView) -> None:
        """Set the experiment, the run's tags and parameters (rank 0)."""
        if runner.rank != 0:
            return
        if self.exp_name is not None:
            self.mlflow.set_experiment(self.exp_name)
        if self.tags is not None:
            self.mlflow.set_tags(self.tags)
        if self.params is not None:
            self.mlflow.log_params(self.params)

    def log(self, runner: RunnerView, tags: dict[str, float], step: int) -> None:
        """``mlflow.log_metrics`` at ``step``."""
        self.mlflow.log_metrics(tags, step=step)

    def after_run(self, runner: RunnerView) -> None:
        """Log the model (``log_model``), then end the run."""
        if runner.rank != 0:
            return
        try:
            if self.log_model:
                log_model = self.mlflow_pytorch.log_model
                try:  # MLflow 3 names the model `name`; 2.x takes `artifact_path`
                    named = "name" in inspect.signature(log_model).parameters
                except (TypeError, ValueError):
                    named = False
                where = {"name": "models"} if named else {"artifact_path": "models"}
                log_model(unwrap(runner.model), pip_requirements=[f"torch=={torch.__version__}"], **where)
        finally:
            self.mlflow.end_run()
