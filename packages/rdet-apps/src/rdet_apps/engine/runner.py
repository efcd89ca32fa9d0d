"""The training loop: epoch- or iteration-based, with hooks, AMP, gradient clipping, DDP.

The runner owns the hook points: it calls every hook's ``before_*`` / ``after_*`` methods,
``after_val_epoch`` included (after a ``('val', n)`` workflow epoch, and when ``EvalHook``
hands over its metrics through ``log_val_metrics``). Hooks see it as
``rdet_apps.engine.hooks.RunnerView``; they never import this module.

The model is any ``nn.Module`` with ``loss(batch) -> dict[str, Tensor | list[Tensor]]``
(MMDetection's loss names: every key containing ``'loss'`` is summed into the total). The
runner wraps it so that DistributedDataParallel sees the loss computation as ``forward``.

Feeding a GPU: the loss values stay tensors on the device between logging points (no host
sync per loss term and iteration); ``log_buffer`` and ``losses_history`` bring them over when
someone reads them (the logger hooks at their interval, the end of an epoch, a checkpoint),
and at the latest every ``max_pending`` iterations. A non-finite loss is then reported with
the iteration where it happened; no checkpoint is written after it. On the CPU, where a sync
costs nothing, every iteration is checked before its backward pass, as it always was. Batches
reach a CUDA model through ``DevicePrefetcher`` (pinned memory, asynchronous copies).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rdet_apps.amp import autocast, float32_head_outputs, resolve_amp
from rdet_apps.engine.checkpoint import (
    get_rng_state,
    load_model_state,
    load_state,
    save_checkpoint,
    set_rng_state,
)
from rdet_apps.engine.device import DevicePrefetcher
from rdet_apps.engine.dist import get_dist_info
from rdet_apps.engine.hooks.base import Hook, get_priority
from rdet_apps.engine.hooks.ema import fill_missing_ema, strip_ema_buffers
from rdet_apps.engine.log_buffer import LogBuffer
from rdet_apps.engine.optim import fuse_sgd_step
from rdet_models import NonFiniteLossError, check_finite_losses
from rdet_models import parse_losses as _parse_losses
from rdet_models.checkpoint import extract_state_dict
from rdet_models.memory_format import convs_to_channels_last

__all__ = ["LossWrapper", "Runner", "parse_losses"]


class LossWrapper(nn.Module):
    """``forward(batch)`` = ``module.loss(batch)``: what DistributedDataParallel wraps."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: Any) -> dict[str, Any]:
        """The wrapped module's losses on ``batch``."""
        return self.module.loss(batch)


def parse_losses(
    losses: dict[str, Any], iteration: int | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """rdet-models' loss parsing (MMDetection's: every term whose name contains ``'loss'`` is
    summed) after its finiteness check.

    Raises:
        rdet_models.NonFiniteLossError: A term is NaN or infinite; the message names the
            iteration (1-based) and the term.
    """
    check_finite_losses(losses, iteration=None if iteration is None else iteration + 1)
    return _parse_losses(losses)


class _Record:
    """One training iteration's logged values, still on the device: ``values`` (one per
    name, float64), and ``finite`` (one flag per loss term and level) for the NaN check."""

    __slots__ = ("finite", "finite_names", "iteration", "names", "times", "values")

    def __init__(self, iteration: int, names: list[str], values: torch.Tensor,
                 finite_names: list[str], finite: torch.Tensor) -> None:  # fmt: skip
        self.iteration, self.names, self.values = iteration, names, values
        self.finite_names, self.finite = finite_names, finite
        self.times: dict[str, float] = {}


def _tensor_losses(
    losses: dict[str, Any],
) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[str], torch.Tensor]:
    """rdet-models' ``parse_losses`` without its host syncs: the total (the same sum, in the
    same order, so the same gradients), the logged values as 0-d tensors, and the finiteness
    of every term (per level for lists) as one bool tensor, with the names that
    ``check_finite_losses`` gives them."""
    log_vars: dict[str, torch.Tensor] = {}
    finite_names: list[str] = []
    finite: list[torch.Tensor] = []
    for name, value in losses.items():
        if isinstance(value, torch.Tensor):
            log_vars[name] = value.mean()
            finite_names.append(name)
            finite.append(torch.isfinite(value).all())
        elif isinstance(value, (list, tuple)):
            log_vars[name] = sum(v.mean() for v in value)  # type: ignore[assignment]
            for level, v in enumerate(value):
                finite_names.append(f"{name}[level {level}]")
                finite.append(torch.isfinite(v).all())
        else:
            raise TypeError(f"{name} is not a tensor or a list of tensors (got {type(value).__name__})")
    total = sum(v for k, v in log_vars.items() if "loss" in k)
    if not isinstance(total, torch.Tensor):
        device = next(iter(log_vars.values())).device if log_vars else None
        total = torch.zeros((), device=device)
    log_vars["loss"] = total
    # a term computed on the CPU beside a CUDA model (a constant accuracy ...) joins the others
    flags = torch.stack([f.to(total.device) for f in finite]) if finite else torch.ones(0, dtype=torch.bool)
    return total, log_vars, finite_names, flags.to(total.device)


class Runner:
    """Runs training for ``max_epochs`` epochs or ``max_iters`` iterations.

    Args:
        model: The detector (``loss(batch)``); wrapped for DDP when ``distributed``.
        optimizer: Its optimizer.
        work_dir: Where checkpoints and logs go.
        max_epochs / max_iters: Exactly one of them.
        grad_clip: ``dict(max_norm=35, norm_type=2)`` (``optimizer_config.grad_clip``).
        amp: Mixed precision (``rdet_apps.amp``): None, ``'bf16'``, ``'fp16'`` (with a loss
            scale, ``loss_scale``; on the CPU where this torch's CPU autocast has it) or
            ``'auto'`` (fp16 on CUDA, bf16 elsewhere). The heads' outputs are cast to float32
            before the losses (MMCV's ``force_fp32``).
        cumulative_iters: MMCV's ``GradientCumulativeOptimizerHook``: the gradients of this many
            iterations are summed, each loss divided by it, before one optimizer step (at every
            ``cumulative_iters``-th iteration of the run, counted over epochs, and at the last);
            the iterations left over at the end of the run (``total % cumulative_iters``) divide by
            their number. 1: a step every iteration.
        loss_scale: fp16's loss scale (MMCV's ``Fp16OptimizerHook``): ``'dynamic'`` or None
            (``GradScaler``'s defaults), a number (a static scale: it never grows or shrinks; a
            step whose gradients overflow is skipped), or ``GradScaler``'s arguments. Not used
            under bf16 (nothing to scale).
        detect_anomalous_params: MMCV's debugging option: each iteration, log (at ERROR) every
            trainable parameter that the loss does not depend on (unused in the forward pass, or
            not leading to the loss). Slow.
        distributed: Wrap the model in DistributedDataParallel (torch.distributed is set up).
        find_unused_parameters: Passed to DistributedDataParallel.
        meta: Saved in every checkpoint's ``meta`` (config text, class names, seed, ...).
        logger: Where text logs go (default the ``rdet`` logger).
        max_pending: On a GPU, bring the logged values to the host at least this often
            (iterations); the logger hooks usually do it sooner, at their interval.
        channels_last: Keep the conv weights channels-last (NHWC), so that the feature maps and
            their gradients follow. None: on the CPU under AMP only (oneDNN's half-precision
            convolutions want NHWC: on an AVX2 CPU a bf16 3x3 convolution's forward and backward
            are 68x slower than float32's in NCHW, 12x in NHWC); float32 training keeps NCHW,
            whose backward is faster (1024-px training step on one thread: RetinaNet 24.1 s
            NCHW vs 38.4 s NHWC, Oriented R-CNN 24.0 s vs 41.7 s).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        work_dir: str | Path,
        max_epochs: int | None = None,
        max_iters: int | None = None,
        grad_clip: dict[str, Any] | None = None,
        amp: str | None = None,
        cumulative_iters: int = 1,
        loss_scale: str | float | Mapping[str, Any] | None = None,
        detect_anomalous_params: bool = False,
        distributed: bool = False,
        find_unused_parameters: bool = False,
        meta: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        max_pending: int = 50,
        channels_last: bool | None = None,
    ) -> None:
        if (max_epochs is None) == (max_iters is None):
            raise ValueError("give exactly one of max_epochs and max_iters")
        device_type = next(model.parameters()).device.type
        self.amp = resolve_amp(amp, device_type, "amp")  # a bad value fails before anything is done
        if channels_last is None:
            channels_last = device_type == "cpu" and self.amp is not None
        if channels_last:
            convs_to_channels_last(model)
        self.channels_last = bool(channels_last)
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.raw_model = model
        self.distributed = distributed
        self.rank, self.world_size = get_dist_info()
        wrapped = LossWrapper(model)
        if distributed:
            device_ids = [torch.cuda.current_device()] if next(model.parameters()).is_cuda else None
            wrapped = nn.parallel.DistributedDataParallel(
                wrapped, device_ids=device_ids, find_unused_parameters=find_unused_parameters
            )
        self.model = wrapped
        self.optimizer = optimizer
        self.max_epochs, self.max_iters = max_epochs, max_iters
        self.by_epoch = max_epochs is not None
        self.grad_clip = grad_clip
        self.logger = logger or logging.getLogger("rdet")
        self.device_type = device_type
        if self.amp is not None:
            float32_head_outputs(model)
            self.logger.info(f"mixed precision: {self.amp} autocast on {device_type}")
        if (
            isinstance(cumulative_iters, bool)
            or not isinstance(cumulative_iters, int)
            or cumulative_iters < 1
        ):
            raise ValueError(f"cumulative_iters must be a positive integer, got {cumulative_iters!r}")
        self.cumulative_iters = cumulative_iters
        self.detect_anomalous_params = bool(detect_anomalous_params)
        self.loss_scale = loss_scale
        self._static_scale: float | None = None
        self.scaler = self._grad_scaler(device_type, loss_scale) if self.amp == "fp16" else None
        if self.amp == "bf16" and loss_scale is not None:
            self.logger.info(f"loss_scale {loss_scale!r} is not used: bf16 training needs no loss scaling")
        fuse_sgd_step(optimizer, loss_scaled=self.scaler is not None)
        self._cumulative_started = False
        self.meta = dict(meta or {})
        self.timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
        self.device = next(model.parameters()).device
        self.hooks: list[tuple[int, Hook]] = []
        self._log_buffer = LogBuffer()
        self._losses_history: list[float] = []
        self._pending: list[_Record] = []
        # a host sync per iteration costs nothing on the CPU; on a GPU it stalls the queue
        self.max_pending = 1 if device_type == "cpu" else max(int(max_pending), 1)
        self.epoch = 0
        self.iter = 0
        self.inner_iter = 0
        self.start_iter = 0
        self.iters_per_epoch = 0

    def _grad_scaler(self, device_type: str, loss_scale: Any) -> torch.amp.GradScaler:
        """MMCV's ``Fp16OptimizerHook`` scaler: ``'dynamic'`` / None: ``GradScaler()``; a number: a
        static scale (``GradScaler(init_scale=x)``, set back to x at each update, as MMCV
        does); a dict: ``GradScaler(**loss_scale)``."""
        if loss_scale is None or loss_scale == "dynamic":
            return torch.amp.GradScaler(device_type)
        if isinstance(loss_scale, Mapping):
            return torch.amp.GradScaler(device_type, **dict(loss_scale))
        if isinstance(loss_scale, bool) or not isinstance(loss_scale, (int, float)) or loss_scale <= 0:
            raise ValueError(f"loss_scale must be 'dynamic', a number > 0 or a dict, got {loss_scale!r}")
        self._static_scale = float(loss_scale)
        return torch.amp.GradScaler(device_type, init_scale=self._static_scale)

    # -- logged values -------------------------------------------------------------------------

    @property
    def log_buffer(self) -> LogBuffer:
        """The values logged since the last logging (pending device values brought over first)."""
        self.flush()
        return self._log_buffer

    @property
    def losses_history(self) -> list[float]:
        """The total loss of every training iteration of this run, in order."""
        self.flush()
        return self._losses_history

    def flush(self) -> None:
        """Bring the pending iterations' values to the host (one sync) into the log buffer and
        the loss history, in order.

        Raises:
            rdet_models.NonFiniteLossError: A loss term of a pending iteration is NaN or
                infinite; the message names the first such iteration (1-based) and its terms.
        """
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        flat = torch.cat([torch.cat([r.values, r.finite.to(r.values.dtype)]) for r in pending]).tolist()
        at = 0
        for r in pending:
            values = flat[at : at + len(r.names)]
            at += len(r.names)
            finite = flat[at : at + len(r.finite_names)]
            at += len(r.finite_names)
            bad = [n for n, ok in zip(r.finite_names, finite) if not ok]
            if bad:
                self._raise_non_finite(r.iteration, bad)
            log_vars = dict(zip(r.names, values))
            log_vars.update(r.times)
            self._log_buffer.update(log_vars)
            self._losses_history.append(log_vars["loss"])

    @staticmethod
    def _raise_non_finite(iteration: int, bad: list[str]) -> None:
        try:  # rdet-models words the error; build it from a stand-in with the same names
            check_finite_losses({name: float("nan") for name in bad}, iteration=iteration + 1)
        except NonFiniteLossError as e:
            raise NonFiniteLossError(str(e), iteration + 1, bad) from None

    # -- hooks ---------------------------------------------------------------------------------

    def register_hook(self, hook: Hook, priority: int | str = "NORMAL") -> None:
        """Add a hook; among equal priorities, earlier registrations run first. A hook with an
        ``attach(runner)`` method is attached at once (the EMA hooks register their buffers in
        the model then, so that a later ``resume`` restores them)."""
        p = get_priority(priority)
        index = next((i for i, (q, _) in enumerate(self.hooks) if q > p), len(self.hooks))
        self.hooks.insert(index, (p, hook))
        attach = getattr(hook, "attach", None)
        if callable(attach):  # a hook that adds to the model (the EMA hooks' buffers) does it now,
            attach(self)  # so that resuming restores what it added

    def call_hook(self, name: str) -> None:
        """Call the point ``name`` (``'after_train_iter'`` ...) on every hook, in priority order."""
        for _, hook in self.hooks:
            getattr(hook, name)(self)

    def log_val_metrics(self, metrics: dict[str, Any]) -> None:
        """Results of an evaluation during training (``EvalHook`` hands them over): they replace
        what the log buffer holds, so that the ``val`` record holds the metrics only, and the
        ``after_val_epoch`` of every hook that defines one runs once (not the generic
        ``after_epoch``: an evaluation is no epoch, as in MMCV). Values that are not numbers are
        not logged. The training values of the current logging interval are set aside meanwhile
        and put back: an iteration-based run that evaluates where it also logs (EvalHook runs
        before the loggers) keeps its train record (MMCV logs it first, to the same end)."""
        self.flush()
        train = self._log_buffer.set_aside()
        self._log_buffer.update({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
        for _, hook in self.hooks:  # an evaluation is no epoch: not for a hook's generic after_epoch
            if getattr(type(hook), "after_val_epoch", Hook.after_val_epoch) is not Hook.after_val_epoch:
                hook.after_val_epoch(self)
        self._log_buffer.clear()  # what a hook left of the metrics
        self._log_buffer.put_back(train)

    # -- checkpoints -----------------------------------------------------------------------------

    def save_checkpoint(self, path: str | Path, save_optimizer: bool = True) -> Path:
        """Save weights (+ optimizer) with the state resuming needs in ``meta``; only rank 0
        writes (the weights are the same on every rank). Pending logged values are checked
        first: weights after a non-finite loss are never saved."""
        self.flush()
        if self.rank != 0:
            return Path(path)
        meta = {
            **self.meta,
            "epoch": self.epoch + 1 if self.by_epoch else self.epoch,
            "iter": self.iter + 1 if not self.by_epoch else self.iter,
            "rng_state": get_rng_state(),
        }
        if self.scaler is not None:
            meta["amp_scaler"] = self.scaler.state_dict()
        return save_checkpoint(path, self.raw_model, self.optimizer if save_optimizer else None, meta)

    def resume(self, path: str | Path) -> None:
        """Restore weights, optimizer, epoch/iteration, RNG states and the AMP scaler.

        Raises:
            KeyError: The checkpoint has no optimizer state (saved with save_optimizer=False).
        """
        ckpt = load_state(path)
        state = extract_state_dict(ckpt, str(path))
        added = fill_missing_ema(self.raw_model, state)
        if added:
            self.logger.info(
                f"{path} has no EMA buffers ({len(added)} missing): the averages start at its weights"
            )
        dropped = strip_ema_buffers(state, self.raw_model)[1]  # saved by an EMA hook this run lacks
        for key in dropped:
            del state[key]
        if dropped:
            self.logger.warning(
                f"{path}: its {len(dropped)} EMA buffers (ema_*) are left aside (this run has no EMA hook); "
                "the weights resumed are those saved (after an epoch: the averages)"
            )
        load_model_state(self.raw_model, ckpt, path)  # another model's checkpoint: named, nothing loaded
        if "optimizer" not in ckpt:
            raise KeyError(
                f"{path} has no optimizer state: it cannot be resumed from (use load_from to start from its weights)"
            )
        self.optimizer.load_state_dict(ckpt["optimizer"])
        fuse_sgd_step(self.optimizer, loss_scaled=self.scaler is not None)  # not the checkpoint's say
        meta = ckpt.get("meta", {})
        self.epoch = int(meta.get("epoch", 0))
        self.iter = int(meta.get("iter", 0))
        if "rng_state" in meta:
            set_rng_state(meta["rng_state"])
        scaler_state = meta.get("amp_scaler")
        if scaler_state is None and isinstance(meta.get("fp16"), Mapping):  # MMCV's Fp16OptimizerHook
            scaler_state = meta["fp16"].get("loss_scaler")
        if self.scaler is not None and scaler_state is not None and self._static_scale is None:
            self.scaler.load_state_dict(scaler_state)  # (a static scale stays what the config says)
        self.logger.info(f"resumed from {path}: epoch {self.epoch}, iter {self.iter}")

    # -- steps -----------------------------------------------------------------------------------

    def _autocast(self) -> Any:
        return autocast(self.amp, self.device_type)

    def _total_iters(self) -> int:
        """Iterations of the whole run (MMCV's ``runner.max_iters``; epochs x batches per epoch)."""
        if self.max_iters is not None:
            return int(self.max_iters)
        return int(self.max_epochs) * max(int(self.iters_per_epoch), 1)

    def _start_cumulating(self) -> None:
        """MMCV's ``GradientCumulativeOptimizerHook._init``'s warnings, once."""
        self._cumulative_started = True
        n = self.cumulative_iters
        if self.iter % n != 0:
            self.logger.warning(
                f"resumed at iteration {self.iter}, not a multiple of cumulative_iters={n}: the gradients "
                "summed since the last optimizer step were not saved, and are lost"
            )
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.raw_model.modules()):
            self.logger.warning(
                f"cumulative_iters={n} with BatchNorm layers: their statistics see each batch, not the "
                "summed one (may slightly lower accuracy)"
            )
        remainder = self._total_iters() % n
        if remainder:
            self.logger.warning(
                f"the last {remainder} iterations are not enough for cumulative_iters={n}: their losses are "
                f"divided by {remainder}"
            )

    def _loss_factor(self) -> int:
        """What this iteration's loss is divided by (MMCV's ``_get_loss_factor``)."""
        total = self._total_iters()
        remainder = total % self.cumulative_iters
        return self.cumulative_iters if self.iter < total - remainder else remainder

    def _log_anomalous_params(self, loss: torch.Tensor) -> None:
        """MMCV's ``detect_anomalous_parameters``: every trainable parameter that the autograd
        graph of ``loss`` does not reach, logged at ERROR with its shape."""
        reached: set[torch.Tensor] = set()
        seen: set[Any] = set()
        stack = [loss.grad_fn]
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            variable = getattr(fn, "variable", None)
            if variable is not None:
                reached.add(variable)
            stack.extend(parent for parent, _ in fn.next_functions)
        for name, p in self.raw_model.named_parameters():
            if p.requires_grad and p not in reached:
                self.logger.error(f"{name} with shape {p.size()} is not in the computational graph")

    def train_step(self, batch: Any) -> _Record:
        """One iteration on one batch: forward, backward and (every ``cumulative_iters``-th
        iteration) an optimizer step. Returns its logged values, still on the device (``flush``
        brings them over); on the CPU a non-finite loss raises here, before the backward pass."""
        n = self.cumulative_iters
        if n > 1 and not self._cumulative_started:
            self._start_cumulating()
        step = n == 1 or (self.iter + 1) % n == 0 or self.iter + 1 == self._total_iters()
        # between steps the gradients add up locally; DDP reduces them with the step's backward
        local = self.model.no_sync() if self.distributed and not step else contextlib.nullcontext()
        with local:
            with self._autocast():
                losses = self.model(batch)
            total, log_vars, finite_names, finite = _tensor_losses(losses)
            if self.max_pending == 1 and not bool(finite.all()):
                bad = [name for name, ok in zip(finite_names, finite.tolist()) if not ok]
                self._raise_non_finite(self.iter, bad)
            if n == 1 or self.iter % n == 0 or self.iter == self.start_iter:
                self.optimizer.zero_grad(set_to_none=True)  # a new sum of gradients begins
            if self.detect_anomalous_params:
                self._log_anomalous_params(total)
            loss = total / self._loss_factor() if n > 1 else total
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
            else:
                loss.backward()
        if step:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            if self.grad_clip:
                params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
                if params:
                    log_vars["grad_norm"] = nn.utils.clip_grad_norm_(params, **self.grad_clip)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update(self._static_scale)
            else:
                self.optimizer.step()
        values = torch.stack(
            [v.detach().reshape(()).to(total.device, torch.float64) for v in log_vars.values()]
        )
        return _Record(self.iter, list(log_vars), values, finite_names, finite)

    def _log_train_step(self, record: _Record, data_time: float, iter_time: float) -> None:
        record.times = {"data_time": data_time, "time": iter_time}
        self._pending.append(record)
        if len(self._pending) >= self.max_pending:
            self.flush()

    def val_step(self, batch: Any) -> dict[str, float]:
        """Losses on a validation batch, without gradients (the ``('val', 1)`` workflow)."""
        with torch.no_grad(), self._autocast():
            losses = self.model(batch)
        return parse_losses(losses)[1]

    # -- loops -----------------------------------------------------------------------------------

    def _train_epoch(self, loader: Iterable[Any]) -> None:
        self.model.train()
        self.iters_per_epoch = len(loader)  # type: ignore[arg-type]
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        self.call_hook("before_train_epoch")
        end = time.time()
        for i, batch in enumerate(self._feed(loader)):
            data_time = time.time() - end
            self.inner_iter = i
            self.call_hook("before_train_iter")
            record = self.train_step(batch)
            self._log_train_step(record, data_time, time.time() - end)
            self.call_hook("after_train_iter")
            self.iter += 1
            end = time.time()
        self.flush()  # at the latest once an epoch (a NaN is reported before the epoch's hooks)
        self.call_hook("after_train_epoch")
        self.epoch += 1

    def _val_epoch(self, loader: Iterable[Any]) -> None:
        self.model.eval()
        self.call_hook("before_val_epoch")
        totals: dict[str, float] = {}
        n = 0
        for i, batch in enumerate(self._feed(loader)):
            self.inner_iter = i  # the batch's index, as MMCV's val iteration hooks see it
            self.call_hook("before_val_iter")
            for k, v in self.val_step(batch).items():
                totals[k] = totals.get(k, 0.0) + v
            n += 1
            self.call_hook("after_val_iter")
        self.inner_iter = n  # batches done, for the val record
        self.log_buffer.update({k: v / max(n, 1) for k, v in totals.items()})
        self.call_hook("after_val_epoch")

    def run(
        self, loaders: dict[str, Iterable[Any]], workflow: Sequence[tuple[str, int]] = (("train", 1),)
    ) -> None:
        """Run the workflow (MMCV's ``[('train', 1), ('val', 1)]``) until the end of training.

        Raises:
            KeyError: The workflow names a phase without a loader.
        """
        for phase, _ in workflow:
            if phase not in loaders:
                raise KeyError(f"workflow phase {phase!r} has no data loader (have {sorted(loaders)})")
        self.start_iter = self.iter
        self.call_hook("before_run")
        if self.by_epoch:
            while self.epoch < self.max_epochs:
                for phase, times in workflow:
                    for _ in range(times):
                        if phase == "train" and self.epoch >= self.max_epochs:
                            break
                        self._train_epoch(loaders[phase]) if phase == "train" else self._val_epoch(
                            loaders[phase]
                        )
        else:
            self._run_iters(loaders, workflow)
        self.call_hook("after_run")

    def _feed(self, loader: Iterable[Any]) -> Iterable[Any]:
        """The loader's batches as the model takes them: on a CUDA device, pinned and copied
        ahead, asynchronously (``DevicePrefetcher``); elsewhere as they come."""
        return DevicePrefetcher(loader, self.device) if self.device_type == "cuda" else loader

    def _run_iters(self, loaders: dict[str, Iterable[Any]], workflow: Sequence[tuple[str, int]]) -> None:
        train = loaders["train"]
        self.iters_per_epoch = len(train)  # type: ignore[arg-type]
        iterator = iter(self._feed(train))
        self.model.train()
        self.call_hook("before_train_epoch")
        while self.iter < self.max_iters:
            end = time.time()
            try:
                batch = next(iterator)
            except StopIteration:
                self.epoch += 1
                sampler = getattr(train, "sampler", None)
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(self.epoch)
                iterator = iter(self._feed(train))
                batch = next(iterator)
            self.inner_iter = self.iter % max(self.iters_per_epoch, 1)
            self.call_hook("before_train_iter")
            record = self.train_step(batch)
            self._log_train_step(record, 0.0, time.time() - end)
            self.call_hook("after_train_iter")
            self.iter += 1
        self.flush()
        self.call_hook("after_train_epoch")
