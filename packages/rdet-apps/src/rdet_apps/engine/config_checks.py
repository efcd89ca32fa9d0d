"""Checks of a config before training: a typo'd key of ``runner``, ``lr_config``,
``momentum_config``, ``checkpoint_config``, ``log_config``, ``evaluation``, ``data``,
``model.train_cfg`` or ``model.test_cfg``, or of a top-level name (``evaluaton``), is an error
naming the key path and the closest valid key, not a setting silently ignored. MMCV raises
``TypeError`` for most runtime keys (its hooks take keyword arguments), but passes
``checkpoint_config``'s extra keys on and ignores top-level typos; MMDetection's heads read
``train_cfg`` / ``test_cfg`` with ``.get`` or attribute access, so a typo there (``score_th``)
only leaves the default in force.

What is allowed where:

- ``data``: the splits (``train``, ``val``, ``test``), ``samples_per_gpu``,
  ``workers_per_gpu``, ``persistent_workers`` and ``{train,val,test}_dataloader`` (what
  ``rdet_data.dataloader_args`` reads), and in the ``*_dataloader`` dicts ``build_dataloader``'s
  arguments (``rdet_data.loader.LOADER_KEYS``; the datasets' arguments are checked when they are
  built). Any other key is an error.
- ``model.train_cfg`` / ``model.test_cfg``: the keys any of rdet's detector families reads at
  that level (one union per level: a key valid for one family is allowed for all). Any other
  key is an error, close to a valid one or not: nothing there is a user variable. Assigners,
  samplers and ``test_cfg.tta`` are not looked into (the registry and ``rdet_models.tta`` check
  their arguments when they are built). A model that uses a class of a plugin or of
  ``custom_imports`` is not checked: such a head may read keys of its own.
- ``evaluation``: the hook's keys (``EVAL_HOOK_KEYS``: MMCV's ``EvalHook`` / ``DistEvalHook``
  and MMDetection's ``dynamic_intervals``), and what ``data.val``'s ``evaluate`` takes (every
  other key goes there); MMCV's keys that rdet does not implement (``EVAL_UNSUPPORTED``) are
  errors. Values are checked too, ``metric`` and ``save_best`` against what rdet-data's
  ``evaluate`` computes, so that nothing fails only after the first epoch.
- ``checkpoint_config``: ``CheckpointHook``'s arguments, values checked.
- The top level also holds the config's own variables (``angle_version``, ``data_root``,
  ``img_norm_cfg`` ...), so an unknown name is an error only when it is a near-miss of a key
  rdet reads (difflib ratio >= 0.85: ``optimzer``, even beside an ``optimizer``), or close to
  one (>= 0.8) that the config does not set (``evaluaton`` and no ``evaluation``).
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "EVAL_HOOK_KEYS",
    "EVAL_UNSUPPORTED",
    "ConfigKeyError",
    "check_checkpoint_values",
    "check_data_config",
    "check_evaluate_values",
    "check_evaluation_config",
    "check_evaluation_hook_args",
    "check_evaluation_values",
    "check_model_config",
    "check_runtime_config",
    "foreign_model_types",
    "parse_dynamic_intervals",
]

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
        "tta",
        "tta_model",
    ]
)
#: difflib ratio from which an unknown top-level name is a typo of a key rdet reads, even when
#: the config also sets that key (``optimzer`` beside ``optimizer``: the typo'd one is ignored)
TOP_LEVEL_TYPO_RATIO = 0.85
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
#: the ``evaluation`` keys that rdet's ``EvalHook`` reads: MMCV's ``EvalHook`` / ``DistEvalHook``
#: keys and MMDetection's ``dynamic_intervals`` (``gpu_collect`` and ``tmpdir`` are taken and not
#: needed: ``multi_gpu_test`` gathers the results itself). ``rdet_apps.apis.test`` strips these
#: same keys; every other key goes on to the validation dataset's ``evaluate``.
EVAL_HOOK_KEYS = ("interval", "by_epoch", "save_best", "rule", "start", "gpu_collect", "tmpdir",
                  "dynamic_intervals")  # fmt: skip
#: MMCV's ``EvalHook`` keys that rdet does not implement, and what to do instead: an error, since
#: they would reach the dataset's ``evaluate`` (a TypeError after the first epoch)
EVAL_UNSUPPORTED = {
    "type": "the evaluation hook is always rdet's EvalHook; remove the key",
    "test_fn": "rdet evaluates with rdet_apps.apis.single_gpu_test / multi_gpu_test; remove the key",
    "greater_keys": "set evaluation.rule='greater' or 'less' instead",
    "less_keys": "set evaluation.rule='greater' or 'less' instead",
    "out_dir": "the best checkpoint is written to the work dir; remove the key",
    "file_client_args": "checkpoints are written to the local work dir; remove the key",
    "broadcast_bn_buffer": "remove the key (each rank evaluates the model as trained)",
}
#: what rdet-data's datasets' ``evaluate`` takes from the config (the ``evaluation`` keys that are
#: not the hook's), checked against when the validation dataset is not known
_EVAL_ARGS = ("metric", "logger", "proposal_nums", "iou_thr", "scale_ranges", "use_07_metric", "nproc")
#: the metrics that rdet-data's (and MMRotate's) rotated datasets compute
_RDET_METRICS = ("mAP",)
#: ``evaluate`` parameters that are not the config's to give (the results; the scorer rdet passes)
_EVAL_NOT_FROM_CONFIG = ("self", "results", "scorer")
#: ``data``'s keys that rdet reads (rdet_data.dataloader_args, the commands' dataset builders)
_DATA = ("train", "val", "test", "samples_per_gpu", "imgs_per_gpu", "workers_per_gpu", "persistent_workers",
         "train_dataloader", "val_dataloader", "test_dataloader")  # fmt: skip

# model.train_cfg / model.test_cfg, as schemas: {key: schema of its value, or None (a leaf, or
# something built and checked elsewhere)}; a dict value is checked against the schema, a list
# value item by item (RoI Transformer's train_cfg.rcnn, R3Det's train_cfg.sr)
_Schema = dict[str, Any]
#: what an NMS setting holds (multiclass_nms_rotated: iou_thr / iou_threshold; rbox_ops.batched_nms
#: and the nms it calls: the rest; MMRotate's RoI Transformer configs put the angle version in type)
_NMS: _Schema = dict.fromkeys(("type", "iou_thr", "iou_threshold", "class_agnostic", "max_num", "split_thr",
                               "offset", "score_threshold"))  # fmt: skip
#: what a head's predict reads (dense heads, the RPN's proposals, an R-CNN bbox head)
_TEST_STAGE: _Schema = {
    "nms_pre": None,
    "min_bbox_size": None,
    "score_thr": None,
    "nms": _NMS,
    "max_per_img": None,
}
#: what a dense head, an RPN or an R-CNN stage reads from its train_cfg
_TRAIN_STAGE: _Schema = dict.fromkeys(("assigner", "sampler", "allowed_border", "pos_weight", "debug"))
#: model.train_cfg: one stage's keys (single-stage detectors), or the sub-configs detectors hand
#: to their heads: two-stage (rpn, rpn_proposal, rcnn), R3Det (s0, sr, stage_loss_weights),
#: RepPoints (init, refine), S2A-Net (fam_cfg, odm_cfg)
_TRAIN_CFG: _Schema = {
    **_TRAIN_STAGE,
    **dict.fromkeys(("rpn", "rcnn", "s0", "sr", "init", "refine", "fam_cfg", "odm_cfg"), _TRAIN_STAGE),
    "rpn_proposal": _TEST_STAGE,
    "stage_loss_weights": None,
}
#: model.test_cfg: one head's keys (single-stage), or two-stage's rpn / rcnn; tta: rdet_models.tta
_TEST_CFG: _Schema = {**_TEST_STAGE, "rpn": _TEST_STAGE, "rcnn": _TEST_STAGE, "tta": None}


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


def _check_schema(section: str, cfg: Any, schema: _Schema) -> None:
    """``cfg`` (a dict, or a list of dicts) against ``schema``, recursively; ``section``: its path."""
    if isinstance(cfg, (list, tuple)):
        for i, item in enumerate(cfg):
            _check_schema(f"{section}.{i}", item, schema)
        return
    if not isinstance(cfg, Mapping):
        return  # None (no train_cfg) or a value whose type the model's builder complains about
    _check_keys(section, cfg, schema)
    for key, sub in schema.items():
        if sub is not None and cfg.get(key) is not None:
            _check_schema(f"{section}.{key}", cfg[key], sub)


def foreign_model_types(model: Any) -> list[str]:
    """The ``type``s anywhere in ``model`` (a config's ``model`` dict) that name a model class
    not of rdet-models: a plugin's or a ``custom_imports`` module's."""
    from rdet_models.registry import MODELS

    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            kind = node.get("type")
            cls = MODELS.get(kind) if isinstance(kind, str) else kind if isinstance(kind, type) else None
            if isinstance(cls, type) and not cls.__module__.startswith("rdet_models."):
                found.append(kind if isinstance(kind, str) else cls.__qualname__)
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(model)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_test_stage(section: str, cfg: Any, proposals: bool = False) -> None:
    """The values of one test stage (``_TEST_STAGE``'s keys) at ``section``: ``score_thr`` a
    number in [0, 1], ``nms.iou_thr`` / ``nms.iou_threshold`` in (0, 1] (and the rest of ``nms``:
    ``max_num`` an integer >= -1, ``split_thr`` >= 0, ``score_threshold`` in [0, 1],
    ``class_agnostic`` a bool, ``offset`` 0 or 1), ``nms_pre`` an integer
    >= -1 (0 or -1: no per-level cut), ``max_per_img`` an integer >= -1 (0 or -1: keep all),
    ``min_bbox_size`` a number >= 0. ``proposals``: an RPN stage, whose proposals are sliced to
    ``max_per_img`` (MMDetection's ``dets[:max_per_img]``), so that it must be positive.

    Raises:
        ValueError: A value of the wrong type or out of range, naming its key path.
    """
    if not isinstance(cfg, Mapping):
        return
    thr = cfg.get("score_thr")
    if thr is not None and not (_is_number(thr) and 0 <= thr <= 1):
        raise ValueError(f"{section}.score_thr {thr!r}: must be a number in [0, 1]")
    size = cfg.get("min_bbox_size")
    if size is not None and not (_is_number(size) and size >= 0):
        raise ValueError(f"{section}.min_bbox_size {size!r}: must be a number >= 0")
    pre = cfg.get("nms_pre")
    if pre is not None and not (_is_int(pre) and pre >= -1):
        raise ValueError(f"{section}.nms_pre {pre!r}: must be an integer >= -1 (-1 or 0: no cut)")
    top = cfg.get("max_per_img")
    if top is not None:
        if proposals and not (_is_int(top) and top >= 1):
            raise ValueError(f"{section}.max_per_img {top!r}: must be a positive integer (proposals kept)")
        if not (_is_int(top) and top >= -1):
            raise ValueError(f"{section}.max_per_img {top!r}: must be an integer >= -1 (-1 or 0: keep all)")
    nms = cfg.get("nms")
    if isinstance(nms, Mapping):
        for key in ("iou_thr", "iou_threshold"):
            iou = nms.get(key)
            if iou is not None and not (_is_number(iou) and 0 < iou <= 1):
                raise ValueError(f"{section}.nms.{key} {iou!r}: must be a number in (0, 1]")
        for key, ok, what in (
            ("max_num", lambda v: _is_int(v) and v >= -1, "an integer >= -1 (-1 or 0: keep all)"),
            (
                "split_thr",
                lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and v >= 0,
                "a number >= 0",
            ),
            ("score_threshold", lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
            ("class_agnostic", lambda v: isinstance(v, bool), "True or False"),
            ("offset", lambda v: v in (0, 1) and not isinstance(v, bool), "0 or 1"),
        ):
            if key in nms and not ok(nms[key]):
                raise ValueError(f"{section}.nms.{key} {nms[key]!r}: must be {what}")


def _check_test_values(section: str, model: Mapping[str, Any]) -> None:
    """:func:`_check_test_stage` on ``test_cfg`` (a single-stage head's), ``test_cfg.rpn``,
    ``test_cfg.rcnn`` and ``train_cfg.rpn_proposal``."""
    test_cfg = model.get("test_cfg")
    if isinstance(test_cfg, Mapping):
        _check_test_stage(f"{section}.test_cfg", test_cfg)
        _check_test_stage(f"{section}.test_cfg.rpn", test_cfg.get("rpn"), proposals=True)
        _check_test_stage(f"{section}.test_cfg.rcnn", test_cfg.get("rcnn"))
    train_cfg = model.get("train_cfg")
    if isinstance(train_cfg, Mapping):
        _check_test_stage(f"{section}.train_cfg.rpn_proposal", train_cfg.get("rpn_proposal"), proposals=True)


def check_model_config(model: Mapping[str, Any], section: str = "model") -> None:
    """Raise :class:`ConfigKeyError` on a key of ``model.train_cfg`` / ``model.test_cfg`` (at
    any depth, assigners, samplers and tta aside) that no detector or head of rdet reads.
    ``model``: the config's ``model`` dict; ``section``: its name in messages. A model with a
    class of a plugin or of ``custom_imports`` anywhere (:func:`foreign_model_types`) is not
    checked: that class may read keys of its own.

    Raises:
        ConfigKeyError: A key nothing reads.
        ValueError: A test setting out of range or of the wrong type (``test_cfg.score_thr``
            not in [0, 1], ``nms.iou_thr`` not in (0, 1], a ``max_per_img`` / ``nms_pre`` that
            is not an integer >= -1, an RPN ``max_per_img`` < 1), naming its key path.
    """
    if not isinstance(model, Mapping) or foreign_model_types(model):
        return
    for part, schema in (("train_cfg", _TRAIN_CFG), ("test_cfg", _TEST_CFG)):
        _check_schema(f"{section}.{part}", model.get(part), schema)
    _check_test_values(section, model)


def check_data_config(data: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigKeyError` on a key of ``data`` that rdet does not read
    (``samples_per_gpus``). ``data``: the config's ``data`` dict."""
    if isinstance(data, Mapping):
        _check_keys("data", data, _DATA)
        from rdet_data.loader import LOADER_KEYS

        for split in ("train", "val", "test"):
            loader = data.get(f"{split}_dataloader")
            if isinstance(loader, Mapping):
                _check_keys(f"data.{split}_dataloader", loader, LOADER_KEYS)


def _check_top_level(cfg: Mapping[str, Any]) -> None:
    known = sorted(RUNTIME_KEYS)
    for key in cfg:
        if key in RUNTIME_KEYS or not isinstance(key, str) or key.startswith("_"):
            continue
        near = difflib.get_close_matches(key, known, n=1, cutoff=TOP_LEVEL_TYPO_RATIO)
        close = near or [c for c in difflib.get_close_matches(key, known, n=1, cutoff=0.8) if c not in cfg]
        if close:  # 'optimzer' (beside 'optimizer' or not), or 'evaluaton' and no 'evaluation'
            raise ConfigKeyError(f"{key}: not a config key that training reads (did you mean {close[0]}?)")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def _mapping(name: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a dict, got {value!r}")


def _close(key: Any, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    close = difflib.get_close_matches(str(key), sorted(set(candidates)), n=1, cutoff=cutoff)
    return close[0] if close else None


def check_checkpoint_values(cfg: Mapping[str, Any], section: str = "checkpoint_config") -> None:
    """The values of ``checkpoint_config`` (``CheckpointHook``'s arguments): ``interval`` an
    integer (<= 0: no checkpoint on the way, only the last one with ``save_last``, as MMCV),
    ``max_keep_ckpts`` an integer (<= 0: keep all), ``by_epoch`` / ``save_optimizer`` /
    ``save_last`` / ``sync_buffer`` / ``create_symlink`` booleans, ``out_dir`` a path or None,
    ``file_client_args`` None or the local disk's.

    Raises:
        ValueError: A value of the wrong type, naming its key (``checkpoint_config.interval``).
    """
    interval = cfg.get("interval", 1)
    if not _is_int(interval):
        raise ValueError(
            f"{section}.interval must be an integer (epochs or iterations between checkpoints; <= 0: "
            f"only the last, with save_last), got {interval!r}"
        )
    keep = cfg.get("max_keep_ckpts", -1)
    if not _is_int(keep):
        raise ValueError(f"{section}.max_keep_ckpts must be an integer (<= 0: keep all), got {keep!r}")
    for key in ("by_epoch", "save_optimizer", "save_last", "sync_buffer", "create_symlink"):
        if key in cfg:
            _bool(f"{section}.{key}", cfg[key])
    out_dir = cfg.get("out_dir")
    if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError(f"{section}.out_dir must be a folder (a string) or None, got {out_dir!r}")
    client = cfg.get("file_client_args")
    if client is not None and not (isinstance(client, Mapping) and client.get("backend", "disk") == "disk"):
        raise ValueError(
            f"{section}.file_client_args: rdet writes checkpoints to the local disk only "
            f"(None or dict(backend='disk')), got {client!r}"
        )


def parse_dynamic_intervals(
    value: Any, interval: int, section: str = "evaluation"
) -> tuple[list[int], list[int]]:
    """MMDetection's ``dynamic_intervals``, ``[(milestone, interval), ...]``: from the
    ``milestone``-th epoch (iteration) on, evaluate every ``interval``. Returns the milestones
    and the intervals in force from each, the first being ``(0, interval)`` (the ``interval``
    key's).

    Raises:
        ValueError: Not a list of (positive integer, positive integer) pairs with increasing
            milestones, naming ``<section>.dynamic_intervals``.
    """
    name = f"{section}.dynamic_intervals"
    what = "a list of (milestone, interval) pairs of positive integers, milestones increasing"
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    milestones, intervals = [0], [interval]
    for pair in value:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ValueError(f"{name} must be {what}, got {value!r} ({pair!r} is no pair)")
        milestone, every = pair
        first_at_zero = len(milestones) == 1 and milestone == 0  # MMDetection takes [(0, n), ...]
        if not (_is_int(milestone) and (milestone > milestones[-1] or first_at_zero)):
            raise ValueError(f"{name} must be {what}, got {value!r} (milestone {milestone!r})")
        _positive_int(f"{name} interval (at milestone {milestone})", every)
        milestones.append(int(milestone))
        intervals.append(int(every))
    return milestones, intervals


def check_evaluation_values(cfg: Mapping[str, Any], section: str = "evaluation") -> None:
    """The values of the evaluation hook's keys (:data:`EVAL_HOOK_KEYS`): ``interval`` a
    positive integer, ``start`` None or an integer >= 0, ``by_epoch`` / ``gpu_collect``
    booleans, ``save_best`` a metric name, ``'auto'`` or None, ``rule`` ``'greater'``,
    ``'less'`` or None (MMCV's), ``dynamic_intervals`` as :func:`parse_dynamic_intervals`.

    Raises:
        ValueError: A value of the wrong type or range, naming its key (``evaluation.interval
            must be a positive integer, got 0``).
    """
    interval = cfg.get("interval", 1)
    _positive_int(f"{section}.interval", interval)
    for key in ("by_epoch", "gpu_collect"):
        if key in cfg:
            _bool(f"{section}.{key}", cfg[key])
    start = cfg.get("start")
    if start is not None and not (_is_int(start) and start >= 0):
        raise ValueError(
            f"{section}.start must be None or an integer >= 0 (the epoch or iteration from which "
            f"to evaluate), got {start!r}"
        )
    best = cfg.get("save_best")
    if best is not None and not (isinstance(best, str) and best):
        raise ValueError(f"{section}.save_best must be a metric name, 'auto' or None, got {best!r}")
    rule = cfg.get("rule")
    if rule is not None and rule not in ("greater", "less"):
        close = _close(rule, ("greater", "less"))
        hint = f" (did you mean {close!r}?)" if close else ""
        raise ValueError(f"{section}.rule must be 'greater', 'less' or None, got {rule!r}{hint}")
    tmpdir = cfg.get("tmpdir")
    if tmpdir is not None and not isinstance(tmpdir, (str, os.PathLike)):
        raise ValueError(f"{section}.tmpdir must be a folder (a string) or None, got {tmpdir!r}")
    if cfg.get("dynamic_intervals") is not None:
        parse_dynamic_intervals(cfg["dynamic_intervals"], interval, section)


def check_evaluation_hook_args(kwargs: Mapping[str, Any], section: str = "evaluation") -> None:
    """What ``EvalHook`` can check of its keyword arguments beyond its own (the evaluation
    arguments, which the ``evaluate`` function applies and :func:`check_evaluation_config`
    checks against the dataset): none of MMCV's keys that rdet does not implement
    (:data:`EVAL_UNSUPPORTED`), and none a near-miss of a hook key (``intervel``).

    Raises:
        ConfigKeyError: Such a key, named.
    """
    for key in kwargs:
        if key in EVAL_UNSUPPORTED:
            raise ConfigKeyError(_unsupported(section, key))
        close = _close(key, EVAL_HOOK_KEYS, cutoff=0.8)
        if close is not None and key not in _EVAL_ARGS:
            raise ConfigKeyError(
                f"{section}.{key}: not a key of {section} (did you mean {section}.{close}?); "
                f"the evaluation hook's keys: {', '.join(sorted(EVAL_HOOK_KEYS))}"
            )


def _unsupported(section: str, key: str) -> str:
    return f"{section}.{key}: a key of MMCV's EvalHook that rdet does not implement ({EVAL_UNSUPPORTED[key]})"


def _val_scorers(val: Any, prefix: str = "") -> list[tuple[str, type]] | None:
    """(prefix of the metric names, dataset class) of each dataset whose ``evaluate`` scores
    ``data.val``'s results, as ``rdet_data.build_dataset`` builds it (a list or a list
    ``ann_file``: a ``ConcatDataset``, whose ``separate_eval`` prefixes each part's names with
    ``'<i>_'``), or None where a type is not known here."""
    if isinstance(val, (list, tuple)):
        return _concat_scorers(list(val), True, prefix)
    if not isinstance(val, Mapping):
        return None
    kind = val.get("type")
    if kind == "ConcatDataset":
        parts = val.get("datasets")
        if not isinstance(parts, (list, tuple)) or not parts:
            return None
        return _concat_scorers(list(parts), val.get("separate_eval", True), prefix)
    ann_file = val.get("ann_file")
    if isinstance(ann_file, (list, tuple)) and ann_file:
        one = {k: v for k, v in val.items() if k != "separate_eval"}
        return _concat_scorers(
            [{**one, "ann_file": a} for a in ann_file], val.get("separate_eval", True), prefix
        )
    if isinstance(kind, type):
        return [(prefix, kind)]
    if not isinstance(kind, str):
        return None
    from rdet_data.registry import DATASETS

    cls = DATASETS.get(kind)
    return [(prefix, cls)] if isinstance(cls, type) else None


def _concat_scorers(parts: list[Any], separate: Any, prefix: str) -> list[tuple[str, type]] | None:
    out: list[tuple[str, type]] = []
    for i, part in enumerate(parts):
        inner = _val_scorers(part, f"{prefix}{i}_" if separate else prefix)
        if inner is None:
            return None
        out.extend(inner)
    return out


def _evaluate_params(cls: type) -> tuple[Any, frozenset[str] | None]:
    """``cls.evaluate`` and the names the config may give it (None: it takes ``**kwargs``)."""
    evaluate = getattr(cls, "evaluate", None)
    if not callable(evaluate):
        raise ValueError(
            f"evaluation: the validation dataset (data.val, a {cls.__name__}) has no evaluate method; "
            "give data.val a dataset that evaluates (DOTADataset ...), or remove evaluation"
        )
    try:
        params = inspect.signature(evaluate).parameters
    except (TypeError, ValueError):
        return evaluate, None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return evaluate, None
    return evaluate, frozenset(params) - frozenset(_EVAL_NOT_FROM_CONFIG)


def _is_rdet_evaluate(evaluate: Any) -> bool:
    """rdet-data's rotated datasets' ``evaluate`` (mAP, and APxx with several ``iou_thr``)."""
    return str(getattr(evaluate, "__module__", "")).startswith("rdet_data.")


def _is_range(pair: Any) -> bool:
    """A ``scale_ranges`` item: ``(min, max)``, ``0 <= min < max`` (max may be infinite)."""
    return (
        isinstance(pair, (list, tuple))
        and len(pair) == 2
        and _is_number(pair[0])
        and isinstance(pair[1], numbers.Real)
        and not isinstance(pair[1], bool)
        and 0 <= pair[0] < pair[1]
    )


def _iou_thrs(section: str, value: Any) -> list[float]:
    thrs = list(value) if isinstance(value, (list, tuple)) else [value]
    if not thrs or not all(_is_number(t) and 0 < t <= 1 for t in thrs):
        raise ValueError(
            f"{section}.iou_thr must be a number in (0, 1] or a non-empty list of them, got {value!r}"
        )
    return [float(t) for t in thrs]


def check_evaluate_values(cfg: Mapping[str, Any], section: str = "evaluation") -> None:
    """The values rdet-data's datasets' ``evaluate`` takes (from ``evaluation`` or ``rdet test
    --eval-options``): ``use_07_metric`` a bool (``'Flase'``, a string, would be true),
    ``nproc`` a positive integer, ``scale_ranges`` None or ``(min, max)`` pairs, ``iou_thr`` a
    number in (0, 1] or a list of them.

    Raises:
        ValueError: A value of the wrong type or range, naming ``<section>.<key>``.
    """
    if "use_07_metric" in cfg:
        _bool(f"{section}.use_07_metric", cfg["use_07_metric"])
    if "nproc" in cfg:
        _positive_int(f"{section}.nproc", cfg["nproc"])
    if "iou_thr" in cfg:
        _iou_thrs(section, cfg["iou_thr"])
    ranges = cfg.get("scale_ranges")
    if ranges is not None and not (
        isinstance(ranges, (list, tuple)) and ranges and all(_is_range(r) for r in ranges)
    ):
        raise ValueError(
            f"{section}.scale_ranges must be None or a non-empty list of (min, max) pairs of numbers, "
            f"0 <= min < max, got {ranges!r}"
        )


def check_evaluation_config(cfg: Mapping[str, Any], val: Any = None, section: str = "evaluation") -> None:
    """The config's ``evaluation`` before training, against the dataset it scores: the hook's
    keys (:data:`EVAL_HOOK_KEYS`) and values (:func:`check_evaluation_values`), and every other
    key, which goes on to ``data.val``'s ``evaluate``, against that method's parameters. With
    rdet-data's datasets ``metric`` must be one they compute (``'mAP'``), ``iou_thr`` a number in
    (0, 1] or a list of them, ``use_07_metric`` a bool, ``nproc`` a positive integer,
    ``scale_ranges`` None or ``(min, max)`` pairs, and ``save_best`` (unless ``'auto'``) a name their ``evaluate``
    returns (``mAP``; ``AP50`` ... with several ``iou_thr``; ``0_mAP`` ... for a list
    ``data.val``). ``val``: the config's ``data.val``; None: the keys are checked against
    rdet-data's datasets' ``evaluate``. A dataset type not known here (a plugin's that is not
    registered yet) or whose ``evaluate`` takes ``**kwargs`` may take any key but a near-miss
    of a known one.

    Raises:
        ConfigKeyError: A key that neither the hook nor the dataset's ``evaluate`` takes (or
            one of MMCV's that rdet does not implement), naming it and the accepted ones.
        ValueError: A value of the wrong type or range, naming its key; a ``data.val`` without
            an ``evaluate``.
    """
    _mapping(section, cfg)
    scorers = _val_scorers(val) if val is not None else None
    # the names each scorer's evaluate takes from the config; None: any (unknown, or **kwargs)
    accepted: frozenset[str] | None = frozenset(_EVAL_ARGS) if val is None else None
    source = "rdet-data's datasets' evaluate" if val is None else "data.val's evaluate"
    evaluates = []
    if scorers:
        known = [_evaluate_params(cls) for _, cls in scorers]
        evaluates = [e for e, _ in known]
        sets = [names for _, names in known if names is not None]
        if len(sets) == len(known):
            accepted = frozenset.intersection(*sets)
        names = sorted({cls.__name__ for _, cls in scorers})
        source = f"{'/'.join(names)}.evaluate (data.val)"
    hook_keys = ", ".join(sorted(EVAL_HOOK_KEYS))
    for key in cfg:
        if key in EVAL_HOOK_KEYS or (accepted is not None and key in accepted):
            continue
        if key in EVAL_UNSUPPORTED:
            raise ConfigKeyError(_unsupported(section, key))
        if accepted is None:  # evaluate may take it (**kwargs), unless it misspells a key we know
            if key in _EVAL_ARGS:
                continue
            close = _close(key, (*EVAL_HOOK_KEYS, *_EVAL_ARGS), cutoff=0.8)
            if close is None:
                continue
        else:
            close = _close(key, (*EVAL_HOOK_KEYS, *accepted))
        hint = f" (did you mean {section}.{close}?)" if close else ""
        takes = ", ".join(sorted(accepted)) if accepted is not None else "keys of its own (any other)"
        raise ConfigKeyError(
            f"{section}.{key}: not a key of {section}{hint}; the evaluation hook's keys: {hook_keys}; "
            f"{source} takes: {takes}"
        )
    check_evaluation_values(cfg, section)
    if not evaluates or not all(_is_rdet_evaluate(e) for e in evaluates):
        return  # what another evaluate computes is its own business
    metric = cfg.get("metric", _RDET_METRICS[0])
    metrics = (
        [metric] if isinstance(metric, str) else list(metric) if isinstance(metric, (list, tuple)) else None
    )
    if metrics is None or len(metrics) != 1 or metrics[0] not in _RDET_METRICS:
        raise ValueError(
            f"{section}.metric {metric!r}: {source} computes {' or '.join(map(repr, _RDET_METRICS))} "
            "(one metric)"
        )
    check_evaluate_values(cfg, section)
    returned: set[str] = set()
    for prefix, cls in scorers or ():
        param = inspect.signature(cls.evaluate).parameters.get("iou_thr")
        thrs = _iou_thrs(section, cfg.get("iou_thr", 0.5 if param is None else param.default))
        returned.add(f"{prefix}mAP")
        if len(thrs) > 1:  # RotatedDataset.evaluate's names: APxx per threshold, and their mean
            returned.update(f"{prefix}AP{round(t * 100):02d}" for t in thrs)
    best = cfg.get("save_best")
    if best is not None and best != "auto" and best not in returned:
        close = _close(best, returned)
        hint = f" (did you mean {close!r}?)" if close else ""
        raise ValueError(
            f"{section}.save_best {best!r} is not a metric that the evaluation returns{hint}; "
            f"{source} returns: {', '.join(sorted(returned))} (or save_best='auto': the first)"
        )


def _check_schedule(section: str, cfg: Mapping[str, Any]) -> None:
    policy = str(cfg.get("policy", "fixed")).lower().replace("_", "")
    extra = _POLICY_KEYS.get(policy)
    if extra is None:
        return  # the schedule builder names an unknown policy itself
    _check_keys(section, cfg, ("policy", *_WARMUP, *extra))


def check_runtime_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigKeyError` on a key no part of training reads, ``ValueError`` on a
    non-positive ``max_epochs`` / ``max_iters`` / intervals, an ``amp`` that is not a
    mixed-precision mode (``rdet_apps.amp.AmpError``), or a value of ``checkpoint_config`` /
    ``evaluation`` of the wrong type or range (:func:`check_checkpoint_values`,
    :func:`check_evaluation_config`: ``evaluation.metric`` / ``save_best`` against what
    ``data.val``'s ``evaluate`` computes), all before anything is built. ``cfg``: the whole
    config; its ``model`` and ``data`` are checked too (:func:`check_model_config`,
    :func:`check_data_config`)."""
    _check_top_level(cfg)
    if cfg.get("model") is not None:
        check_model_config(cfg["model"])
    if cfg.get("data") is not None:
        check_data_config(cfg["data"])
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
        _mapping("checkpoint_config", cfg["checkpoint_config"])
        _check_keys("checkpoint_config", cfg["checkpoint_config"], _CHECKPOINT)
        check_checkpoint_values(cfg["checkpoint_config"])
    if cfg.get("log_config") is not None:
        _check_keys("log_config", cfg["log_config"], _LOG)
        if "interval" in cfg["log_config"]:
            _positive_int("log_config.interval", cfg["log_config"]["interval"])
    if cfg.get("evaluation") is not None:
        data = cfg.get("data")
        check_evaluation_config(cfg["evaluation"], data.get("val") if isinstance(data, Mapping) else None)
