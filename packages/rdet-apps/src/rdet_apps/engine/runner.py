"""The training loop: epoch- or iteration-based, with hooks, AMP, gradient clipping, DDP.

The runner owns the hook points: it calls every hook's ``before_*`` / ``after_*`` methods,
``after_val_epoch`` included (after a ``('val', n)`` workflow epoch, and when ``EvalHook``
hands over its metrics through ``log_val_metrics``). Hooks see it as
``rdet_apps.engine.hooks.RunnerView``; they never import this module.

The model is any ``nn.Module`` with ``loss(batch) -> dict[str, Tensor | list[Tensor]]``
(MMDetection's loss names: every key containing ``'loss'`` is summed into the total). The
runner wraps it so that DistributedDataParallel sees the loss computation as ``forward``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rdet_apps.engine.checkpoint import get_rng_state, load_state, save_checkpoint, set_rng_state, unwrap
from rdet_apps.engine.dist import get_dist_info
from rdet_apps.engine.hooks.base import Hook, get_priority
from rdet_apps.engine.log_buffer import LogBuffer
from rdet_models import check_finite_losses
from rdet_models import parse_losses as _parse_losses

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


class Runner:
    """Runs training for ``max_epochs`` epochs or ``max_iters`` iterations.

    Args:
        model: The detector (``loss(batch)``); wrapped for DDP when ``distributed``.
        optimizer: Its optimizer.
        work_dir: Where checkpoints and logs go.
        max_epochs / max_iters: Exactly one of them.
        grad_clip: ``dict(max_norm=35, norm_type=2)`` (``optimizer_config.grad_clip``).
        amp: None, ``'fp16'`` (CUDA, with a dynamic loss scale) or ``'bf16'`` (CPU or CUDA).
        distributed: Wrap the model in DistributedDataParallel (torch.distributed is set up).
        find_unused_parameters: Passed to DistributedDataParallel.
        meta: Saved in every checkpoint's ``meta`` (config text, class names, seed, ...).
        logger: Where text logs go (default the ``rdet`` logger).
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
        distributed: bool = False,
        find_unused_parameters: bool = False,
        meta: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if (max_epochs is None) == (max_iters is None):
            raise ValueError("give exactly one of max_epochs and max_iters")
        if amp not in (None, "fp16", "bf16"):
            raise ValueError(f"amp must be None, 'fp16' or 'bf16', got {amp!r}")
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
        self.amp = amp
        device_type = next(model.parameters()).device.type
        self.device_type = device_type
        self.scaler = torch.amp.GradScaler(device_type) if amp == "fp16" and device_type == "cuda" else None
        self.meta = dict(meta or {})
        self.logger = logger or logging.getLogger("rdet")
        self.timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
        self.hooks: list[tuple[int, Hook]] = []
        self.log_buffer = LogBuffer()
        self.epoch = 0
        self.iter = 0
        self.inner_iter = 0
        self.start_iter = 0
        self.iters_per_epoch = 0
        self.losses_history: list[float] = []

    # -- hooks ---------------------------------------------------------------------------------

    def register_hook(self, hook: Hook, priority: int | str = "NORMAL") -> None:
        """Add a hook; among equal priorities, earlier registrations run first."""
        p = get_priority(priority)
        index = next((i for i, (q, _) in enumerate(self.hooks) if q > p), len(self.hooks))
        self.hooks.insert(index, (p, hook))

    def call_hook(self, name: str) -> None:
        """Call the point ``name`` (``'after_train_iter'`` ...) on every hook, in priority order."""
        for _, hook in self.hooks:
            getattr(hook, name)(self)

    def log_val_metrics(self, metrics: dict[str, Any]) -> None:
        """Results of an evaluation during training (``EvalHook`` hands them over): they replace
        what the log buffer holds, so that the ``val`` record holds the metrics only, and every
        hook's ``after_val_epoch`` runs once. Values that are not numbers are not logged."""
        self.log_buffer.clear()
        self.log_buffer.update({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
        self.call_hook("after_val_epoch")

    # -- checkpoints -----------------------------------------------------------------------------

    def save_checkpoint(self, path: str | Path, save_optimizer: bool = True) -> Path:
        """Save weights (+ optimizer) with the state resuming needs in ``meta``; only rank 0
        writes (the weights are the same on every rank)."""
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
        unwrap(self.raw_model).load_state_dict(ckpt["state_dict"])
        if "optimizer" not in ckpt:
            raise KeyError(
                f"{path} has no optimizer state: it cannot be resumed from (use load_from to start from its weights)"
            )
        self.optimizer.load_state_dict(ckpt["optimizer"])
        meta = ckpt.get("meta", {})
        self.epoch = int(meta.get("epoch", 0))
        self.iter = int(meta.get("iter", 0))
        if "rng_state" in meta:
            set_rng_state(meta["rng_state"])
        if self.scaler is not None and "amp_scaler" in meta:
            self.scaler.load_state_dict(meta["amp_scaler"])
        self.logger.info(f"resumed from {path}: epoch {self.epoch}, iter {self.iter}")

    # -- steps -----------------------------------------------------------------------------------

    def _autocast(self) -> Any:
        if self.amp is None:
            return torch.autocast(self.device_type, enabled=False)
        dtype = torch.float16 if self.amp == "fp16" and self.device_type == "cuda" else torch.bfloat16
        return torch.autocast(self.device_type, dtype=dtype)

    def train_step(self, batch: Any) -> dict[str, float]:
        """One optimisation step on one batch; returns the logged values."""
        with self._autocast():
            losses = self.model(batch)
        total, log_vars = parse_losses(losses, self.iter)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            total.backward()
        if self.grad_clip:
            params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            if params:
                norm = nn.utils.clip_grad_norm_(params, **self.grad_clip)
                log_vars["grad_norm"] = float(norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return log_vars

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
        for i, batch in enumerate(loader):
            data_time = time.time() - end
            self.inner_iter = i
            self.call_hook("before_train_iter")
            log_vars = self.train_step(batch)
            log_vars["data_time"] = data_time
            log_vars["time"] = time.time() - end
            self.log_buffer.update(log_vars)
            self.losses_history.append(log_vars["loss"])
            self.call_hook("after_train_iter")
            self.iter += 1
            end = time.time()
        self.call_hook("after_train_epoch")
        self.epoch += 1

    def _val_epoch(self, loader: Iterable[Any]) -> None:
        self.model.eval()
        self.call_hook("before_val_epoch")
        totals: dict[str, float] = {}
        n = 0
        for i, batch in enumerate(loader):
            self.inner_iter = i + 1
            for k, v in self.val_step(batch).items():
                totals[k] = totals.get(k, 0.0) + v
            n += 1
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

    def _run_iters(self, loaders: dict[str, Iterable[Any]], workflow: Sequence[tuple[str, int]]) -> None:
        train = loaders["train"]
        self.iters_per_epoch = len(train)  # type: ignore[arg-type]
        iterator = iter(train)
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
                iterator = iter(train)
                batch = next(iterator)
            self.inner_iter = self.iter % max(self.iters_per_epoch, 1)
            self.call_hook("before_train_iter")
            log_vars = self.train_step(batch)
            log_vars["data_time"] = 0.0
            log_vars["time"] = time.time() - end
            self.log_buffer.update(log_vars)
            self.losses_history.append(log_vars["loss"])
            self.call_hook("after_train_iter")
            self.iter += 1
        self.call_hook("after_train_epoch")
