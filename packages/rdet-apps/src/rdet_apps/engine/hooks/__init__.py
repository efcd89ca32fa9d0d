"""Training hooks: the runner calls them at fixed points, in priority order (MMCV's model).

Points: ``before_run``, ``before_train_epoch``, ``before_train_iter``, ``after_train_iter``,
``after_train_epoch``, ``before_val_epoch``, ``after_val_epoch``, ``after_run``. Priorities
are numbers or MMCV's names (``HIGHEST`` 0 ... ``NORMAL`` 50 ... ``LOWEST`` 100); lower runs
first. Hooks are registered in ``rdet_apps.registry.HOOKS`` (entry-point group ``rdet.hooks``)
so that ``custom_hooks=[dict(type=..., priority=...)]`` in a config builds them.

One module per family: ``base`` (``Hook``, priorities, the ``RunnerView`` protocol that hooks
see the runner through), ``lr``, ``checkpoint``, ``logger`` (text, TensorBoard, ``results.csv``),
``tracking`` (MMCV's ``WandbLoggerHook`` and ``MlflowLoggerHook``: optional extras),
``evaluation`` (``EvalHook``), ``checks`` (``NumClassCheckHook``, ``CheckInvalidLossHook``),
``ema`` (MMCV's ``EMAHook``, MMDetection's ``ExpMomentumEMAHook`` / ``LinearMomentumEMAHook``),
``model`` (``SyncNormHook``, ``SetEpochInfoHook``), ``memory`` (``MemoryProfilerHook``, needs
psutil). No hook module imports the runner; the runner imports them.
"""

from rdet_apps.engine.hooks.base import PRIORITIES, Hook, RunnerView, get_priority
from rdet_apps.engine.hooks.checkpoint import CheckpointHook
from rdet_apps.engine.hooks.checks import CheckInvalidLossHook, NumClassCheckHook
from rdet_apps.engine.hooks.ema import EMAHook, ExpMomentumEMAHook, LinearMomentumEMAHook
from rdet_apps.engine.hooks.evaluation import EvalHook
from rdet_apps.engine.hooks.logger import ResultsCsvHook, TensorboardLoggerHook, TextLoggerHook
from rdet_apps.engine.hooks.lr import LrUpdaterHook
from rdet_apps.engine.hooks.memory import MemoryProfilerHook
from rdet_apps.engine.hooks.model import SetEpochInfoHook, SyncNormHook
from rdet_apps.engine.hooks.tracking import MlflowLoggerHook, WandbLoggerHook
from rdet_apps.engine.log_buffer import LogBuffer  # its home before it moved beside the runner

__all__ = [
    "PRIORITIES",
    "CheckInvalidLossHook",
    "CheckpointHook",
    "EMAHook",
    "EvalHook",
    "ExpMomentumEMAHook",
    "Hook",
    "LinearMomentumEMAHook",
    "LogBuffer",
    "LrUpdaterHook",
    "MemoryProfilerHook",
    "MlflowLoggerHook",
    "NumClassCheckHook",
    "ResultsCsvHook",
    "RunnerView",
    "SetEpochInfoHook",
    "SyncNormHook",
    "TensorboardLoggerHook",
    "TextLoggerHook",
    "WandbLoggerHook",
    "get_priority",
]
