"""Hooks that act on the model's state: MMDetection 2.x's ``SyncNormHook`` and
``SetEpochInfoHook``."""

from __future__ import annotations

from rdet_apps.engine.checkpoint import unwrap
from rdet_apps.engine.hooks.base import Hook, RunnerView
from rdet_apps.registry import HOOKS

__all__ = ["SetEpochInfoHook", "SyncNormHook"]


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@HOOKS.register_module()
class SyncNormHook(Hook):
    """MMDetection's ``SyncNormHook`` (YOLOX): after every ``interval``-th training epoch, every
    process's normalisation layers' states (BatchNorm's weights, biases and running statistics)
    become their mean over the processes; from the epoch ``num_last_epochs`` before the end, after
    every epoch. With one process there is nothing to synchronise: the hook does nothing (and
    says so once in the log).

    Args:
        num_last_epochs: The last epochs in which the states are synchronised after every epoch.
        interval: Synchronise after every ``interval``-th epoch before those.
    """

    def __init__(self, num_last_epochs: int = 15, interval: int = 1) -> None:
        self.check_args(num_last_epochs, interval)
        self.num_last_epochs = num_last_epochs
        self.interval = interval

    @staticmethod
    def check_args(num_last_epochs: int = 15, interval: int = 1) -> None:
        """Raises ValueError: ``interval`` not a positive integer, ``num_last_epochs`` not an
        integer >= 0."""
        _positive_int("SyncNormHook interval", interval)
        if isinstance(num_last_epochs, bool) or not isinstance(num_last_epochs, int) or num_last_epochs < 0:
            raise ValueError(f"SyncNormHook num_last_epochs must be an integer >= 0, got {num_last_epochs!r}")

    def before_run(self, runner: RunnerView) -> None:
        """Say so when there is nothing to synchronise."""
        if _world_size() == 1:
            runner.logger.info("SyncNormHook: one process, no normalisation states to synchronise")

    def before_train_epoch(self, runner: RunnerView) -> None:
        """From ``num_last_epochs`` before the end, synchronise after every epoch."""
        if runner.max_epochs is not None and runner.epoch + 1 == runner.max_epochs - self.num_last_epochs:
            self.interval = 1

    def after_train_epoch(self, runner: RunnerView) -> None:
        """Average the normalisation states over the processes."""
        if (runner.epoch + 1) % self.interval != 0 or _world_size() == 1:
            return
        import torch
        import torch.distributed as dist
        from torch import nn

        world = _world_size()
        for module in unwrap(runner.model).modules():
            if not isinstance(module, nn.modules.batchnorm._NormBase):
                continue
            for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
                data = tensor.data
                if data.dtype.is_floating_point:
                    dist.all_reduce(data)
                    data.div_(world)
                else:  # num_batches_tracked: MMDetection averages it as a float too
                    mean = data.to(torch.float64)
                    dist.all_reduce(mean)
                    data.copy_((mean / world).to(data.dtype))


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@HOOKS.register_module()
class SetEpochInfoHook(Hook):
    """MMDetection's ``SetEpochInfoHook``: before each training epoch, ``model.set_epoch(epoch)``
    (0-based), for models whose behaviour changes with the epoch.

    Raises:
        AttributeError: (before training) the model has no ``set_epoch`` method.
    """

    def before_run(self, runner: RunnerView) -> None:
        """The model must take the epoch.

        Raises:
            AttributeError: It has no ``set_epoch``, naming its class.
        """
        model = unwrap(runner.model)
        if not callable(getattr(model, "set_epoch", None)):
            raise AttributeError(
                f"SetEpochInfoHook: the model ({type(model).__name__}) has no set_epoch(epoch) method; "
                "remove the hook or give the model one"
            )

    def before_train_epoch(self, runner: RunnerView) -> None:
        """Tell the model the epoch."""
        unwrap(runner.model).set_epoch(runner.epoch)
