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
- ``optimizer_config`` and ``fp16``: MMCV 1.7's optimizer hook types and each one's arguments,
  values checked (:func:`optimizer_settings`, which the runner's builder reads them through).
- ``custom_hooks``: a registered type, the arguments its class takes, rdet's hooks' values, and
  what a hook needs installed (:func:`check_custom_hooks`).
- A top-level ``train_cfg`` / ``test_cfg`` (old configs): checked as ``model``'s, into which
  :func:`model_config` moves them.
- The top level also holds the config's own variables (``angle_version``, ``data_root``,
  ``img_norm_cfg`` ...), so an unknown name is an error only when it is a near-miss of a key
  rdet reads (difflib ratio >= 0.85: ``optimzer``, even beside an ``optimizer``), or close to
  one (>= 0.8) that the config does not set (``evaluaton`` and no ``evaluation``).
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import numbers
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rdet_apps.cfg_options import RUNTIME_KEYS, ConfigKeyError, check_cfg_options, merge_cfg_options
from rdet_apps.engine.schedules import build_schedule

__all__ = [
    "ANGLE_VERSION_KEYS",
    "EVAL_HOOK_KEYS",
    "EVAL_UNSUPPORTED",
    "FP16_KEYS",
    "OPTIMIZER_HOOKS",
    "RUNTIME_KEYS",
    "ConfigKeyError",
    "OptimizerSettings",
    "check_angle_versions",
    "check_cfg_options",
    "check_checkpoint_values",
    "check_custom_hooks",
    "check_data_config",
    "check_evaluate_values",
    "check_evaluation_config",
    "check_evaluation_hook_args",
    "check_evaluation_values",
    "check_model_config",
    "check_optimizer_values",
    "check_runtime_config",
    "foreign_model_types",
    "merge_cfg_options",
    "model_config",
    "optimizer_settings",
    "parse_dynamic_intervals",
]

#: difflib ratio from which an unknown top-level name is a typo of a key rdet reads, even when
#: the config also sets that key (``optimzer`` beside ``optimizer``: the typo'd one is ignored)
TOP_LEVEL_TYPO_RATIO = 0.85
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
    """The schedule builder's own checks (every key of the policy, MMCV's value rules), up front."""
    build_schedule(cfg, kind="momentum" if section == "momentum_config" else "lr")


def check_runtime_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigKeyError` on a key no part of training reads, ``ValueError`` on a
    non-positive ``max_epochs`` / ``max_iters`` / intervals, an ``amp`` that is not a
    mixed-precision mode (``rdet_apps.amp.AmpError``), or a value of ``checkpoint_config`` /
    ``evaluation`` of the wrong type or range (:func:`check_checkpoint_values`,
    :func:`check_evaluation_config`: ``evaluation.metric`` / ``save_best`` against what
    ``data.val``'s ``evaluate`` computes), all before anything is built. ``cfg``: the whole
    config; its ``model`` (with a top-level ``train_cfg`` / ``test_cfg`` moved in:
    :func:`model_config`), ``data``, ``optimizer_config`` and ``fp16`` (:func:`optimizer_settings`),
    ``custom_hooks`` (:func:`check_custom_hooks`), ``opencv_num_threads``, ``mp_start_method`` and
    ``auto_resume`` are checked too (:func:`check_model_config`, :func:`check_data_config`), and
    so are ``optimizer``'s numbers (:func:`check_optimizer_values`) and that ``data`` and ``model``
    use one angle version (:func:`check_angle_versions`)."""
    _check_top_level(cfg)
    if cfg.get("optimizer") is not None:
        check_optimizer_values(cfg["optimizer"])
    check_angle_versions(cfg)
    if cfg.get("model") is not None:
        with warnings.catch_warnings():  # warned where the model is built
            warnings.simplefilter("ignore")
            check_model_config(model_config(cfg))
    optimizer_settings(cfg)
    if cfg.get("custom_hooks") is not None:
        check_custom_hooks(cfg["custom_hooks"])
    check_multiprocessing_config(cfg)
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


# -- optimizer_config and fp16 ---------------------------------------------------------------------

#: MMCV 1.7's optimizer hooks (``optimizer_config.type``; default ``OptimizerHook``) and the
#: arguments each takes (``GradientCumulativeFp16OptimizerHook``: both parents')
OPTIMIZER_HOOKS: dict[str, tuple[str, ...]] = {
    "OptimizerHook": ("grad_clip", "detect_anomalous_params"),
    "GradientCumulativeOptimizerHook": ("grad_clip", "detect_anomalous_params", "cumulative_iters"),
    "Fp16OptimizerHook": ("grad_clip", "coalesce", "bucket_size_mb", "loss_scale", "distributed"),
    "GradientCumulativeFp16OptimizerHook": (
        "grad_clip",
        "coalesce",
        "bucket_size_mb",
        "loss_scale",
        "distributed",
        "cumulative_iters",
    ),
}
#: the ``fp16`` key's: MMRotate's ``train_detector`` builds ``Fp16OptimizerHook(**optimizer_config,
#: **fp16, distributed=...)``, so a key given in both (or ``distributed``) is an error there too
FP16_KEYS = ("loss_scale", "grad_clip", "coalesce", "bucket_size_mb")
#: ``grad_clip``: ``torch.nn.utils.clip_grad_norm_``'s keyword arguments
_GRAD_CLIP_KEYS = ("max_norm", "norm_type", "error_if_nonfinite", "foreach")
#: ``loss_scale`` as a dict: ``torch.amp.GradScaler``'s arguments (MMCV passes them on)
_GRAD_SCALER_KEYS = ("init_scale", "growth_factor", "backoff_factor", "growth_interval", "enabled")
#: MMCV's default ``Fp16OptimizerHook(loss_scale=512.)``: a static scale
DEFAULT_FP16_LOSS_SCALE = 512.0


@dataclass(frozen=True)
class OptimizerSettings:
    """What ``optimizer_config`` and ``fp16`` ask of the training step (:func:`optimizer_settings`).

    Attributes:
        type: The MMCV optimizer hook they amount to (``'OptimizerHook'`` ...).
        grad_clip: ``clip_grad_norm_``'s arguments, or None.
        cumulative_iters: Iterations whose gradients are summed before a step (1: every one).
        detect_anomalous_params: Log the parameters that the loss does not reach.
        fp16: Mixed-precision training is asked for (the ``fp16`` key or an Fp16 hook type).
        loss_scale: With ``fp16``: ``'dynamic'``, a number (static) or ``GradScaler``'s
            arguments; None otherwise.
    """

    type: str = "OptimizerHook"
    grad_clip: dict[str, Any] | None = None
    cumulative_iters: int = 1
    detect_anomalous_params: bool = False
    fp16: bool = False
    loss_scale: str | float | dict[str, Any] | None = None


def _check_grad_clip(section: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    _mapping(section, value)
    _check_keys(section, value, _GRAD_CLIP_KEYS)
    if "max_norm" not in value:
        raise ConfigKeyError(f"{section}: needs max_norm (e.g. dict(max_norm=35, norm_type=2))")
    if not (_is_number(value["max_norm"]) and value["max_norm"] > 0):
        raise ValueError(f"{section}.max_norm must be a number > 0, got {value['max_norm']!r}")
    norm = value.get("norm_type", 2.0)
    if not ((_is_number(norm) and norm > 0) or norm in ("inf", float("inf"))):
        raise ValueError(f"{section}.norm_type must be a number > 0 or 'inf', got {norm!r}")
    if "error_if_nonfinite" in value:
        _bool(f"{section}.error_if_nonfinite", value["error_if_nonfinite"])
    if value.get("foreach") is not None:
        _bool(f"{section}.foreach", value["foreach"])
    return dict(value)


def _check_loss_scale(section: str, value: Any) -> str | float | dict[str, Any]:
    """MMCV's ``loss_scale``: ``'dynamic'``, a number (a static scale; MMCV takes floats only) or
    ``GradScaler``'s arguments."""
    if value == "dynamic":
        return "dynamic"
    if _is_number(value):
        if value <= 0:
            raise ValueError(f"{section} must be > 0 (a static loss scale), got {value!r}")
        return float(value)
    if isinstance(value, Mapping):
        _check_keys(section, value, _GRAD_SCALER_KEYS)
        for key, ok, what in (
            ("init_scale", lambda v: _is_number(v) and v > 0, "a number > 0"),
            ("growth_factor", lambda v: _is_number(v) and v > 1, "a number > 1"),
            ("backoff_factor", lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
            ("growth_interval", lambda v: _is_int(v) and v > 0, "a positive integer"),
            ("enabled", lambda v: isinstance(v, bool), "True or False"),
        ):
            if key in value and not ok(value[key]):
                raise ValueError(f"{section}.{key} must be {what}, got {value[key]!r}")
        return dict(value)
    raise ValueError(
        f"{section} must be 'dynamic', a number (a static scale) or a dict of torch.amp.GradScaler's "
        f"arguments ({', '.join(_GRAD_SCALER_KEYS)}), got {value!r}"
    )


def optimizer_settings(cfg: Mapping[str, Any]) -> OptimizerSettings:
    """The config's ``optimizer_config`` and ``fp16``, checked, as MMCV 1.7 / MMRotate 0.3.4
    read them: ``optimizer_config.type`` one of :data:`OPTIMIZER_HOOKS` (default
    ``OptimizerHook``) with that hook's arguments; ``fp16 = dict(loss_scale=...)`` makes it
    ``Fp16OptimizerHook(**optimizer_config, **fp16)`` (MMRotate's ``train_detector``), so a key in
    both is an error, as there. rdet also takes ``fp16`` beside a ``GradientCumulative*`` type (the
    two combine, as ``GradientCumulativeFp16OptimizerHook``; MMRotate fails on the ``type`` key).
    An Fp16 hook's ``loss_scale`` defaults to MMCV's static 512.

    ``coalesce``, ``bucket_size_mb`` and ``distributed`` are taken and change nothing, as in MMCV 1.7
    on torch >= 1.6 (DistributedDataParallel reduces the gradients).

    Raises:
        ConfigKeyError: An unknown hook type or a key that hook does not take (``cumulative_iter``),
            naming it (``optimizer_config.cumulative_iter``) and the valid ones.
        ValueError: A value of the wrong type or range (``grad_clip.max_norm``, ``loss_scale``,
            ``cumulative_iters`` ...), naming its key.
    """
    opt = cfg.get("optimizer_config")
    fp16 = cfg.get("fp16")
    opt = {} if opt is None else opt
    _mapping("optimizer_config", opt)
    kind = opt.get("type", "OptimizerHook")
    if kind not in OPTIMIZER_HOOKS:
        close = _close(kind, OPTIMIZER_HOOKS)
        hint = f" (did you mean {close!r}?)" if close else ""
        raise ConfigKeyError(
            f"optimizer_config.type {kind!r}: not an optimizer hook rdet runs{hint}; it runs MMCV's "
            f"{', '.join(OPTIMIZER_HOOKS)}"
        )
    args = {k: v for k, v in opt.items() if k != "type"}
    _check_keys_of("optimizer_config", args, OPTIMIZER_HOOKS[kind], kind)
    if fp16 is not None:
        _mapping("fp16", fp16)
        _check_keys_of("fp16", fp16, FP16_KEYS, "the fp16 key (Fp16OptimizerHook's arguments)")
        both = sorted(set(fp16) & set(args))
        if both:
            raise ConfigKeyError(
                f"fp16.{both[0]} and optimizer_config.{both[0]}: given twice (MMRotate passes both to "
                "Fp16OptimizerHook: TypeError); keep one"
            )
        if "detect_anomalous_params" in args:
            raise ConfigKeyError(
                "optimizer_config.detect_anomalous_params: MMCV's Fp16OptimizerHook (what the fp16 key "
                "makes) does not take it; remove it or the fp16 key"
            )
        kind = "GradientCumulativeFp16OptimizerHook" if "Cumulative" in kind else "Fp16OptimizerHook"
        args = {**args, **fp16}
    for key in ("detect_anomalous_params", "coalesce", "distributed"):
        if key in args:
            _bool(f"{_where(key, fp16)}.{key}", args[key])
    if "bucket_size_mb" in args and not _is_int(args["bucket_size_mb"]):
        raise ValueError(f"{_where('bucket_size_mb', fp16)}.bucket_size_mb must be an integer, got "
                         f"{args['bucket_size_mb']!r}")  # fmt: skip
    cumulative = args.get("cumulative_iters", 1)
    _positive_int("optimizer_config.cumulative_iters", cumulative)
    grad_clip = _check_grad_clip(f"{_where('grad_clip', fp16)}.grad_clip", args.get("grad_clip"))
    is_fp16 = "Fp16" in kind
    loss_scale = None
    if is_fp16:
        loss_scale = _check_loss_scale(
            f"{_where('loss_scale', fp16)}.loss_scale", args.get("loss_scale", DEFAULT_FP16_LOSS_SCALE)
        )
    return OptimizerSettings(
        type=kind,
        grad_clip=grad_clip,
        cumulative_iters=int(cumulative),
        detect_anomalous_params=bool(args.get("detect_anomalous_params", False)),
        fp16=is_fp16,
        loss_scale=loss_scale,
    )


def _where(key: str, fp16: Mapping[str, Any] | None) -> str:
    return "fp16" if fp16 is not None and key in fp16 else "optimizer_config"


def _check_keys_of(section: str, cfg: Mapping[str, Any], allowed: Iterable[str], owner: str) -> None:
    """:func:`_check_keys`, the message naming whose arguments the keys are."""
    allowed = sorted(set(allowed))
    for key in cfg:
        if key not in allowed:
            close = _close(key, allowed)
            hint = f" (did you mean {section}.{close}?)" if close else ""
            raise ConfigKeyError(
                f"{section}.{key}: not an argument of {owner}{hint}; it takes: {', '.join(allowed)}"
            )


# -- custom_hooks ------------------------------------------------------------------------------------


def check_custom_hooks(hooks: Any, section: str = "custom_hooks") -> None:
    """``custom_hooks`` before anything is built: a list of dicts, each a registered ``type``
    (``rdet_apps.registry.HOOKS``) with a valid ``priority`` and only keys its class takes (a
    class that takes ``**kwargs`` may take any); the values of rdet's own hooks (their
    ``check_args``); and what a hook needs installed (its ``REQUIRES``: module -> how to install).

    Raises:
        ConfigKeyError: A key the hook does not take, naming it and the hook's arguments.
        rdet_core.UnknownTypeError: A type that is not registered.
        ValueError: A bad priority or value; not a list of dicts.
        ImportError: A module the hook needs is not installed, naming how to install it.
    """
    import importlib.util

    from rdet_apps.engine.hooks.base import get_priority
    from rdet_apps.registry import HOOKS

    if not isinstance(hooks, (list, tuple)):
        raise ValueError(f"{section} must be a list of dicts, got {hooks!r}")
    for i, hook in enumerate(hooks):
        where = f"{section}[{i}]"
        _mapping(where, hook)
        kind = hook.get("type")
        if kind is None:
            raise ConfigKeyError(f"{where}: needs a type (a registered hook's name)")
        cls = kind if isinstance(kind, type) else HOOKS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise HOOKS.unknown_type_error(str(kind))
        name = getattr(cls, "__name__", str(kind))
        if "priority" in hook:
            get_priority(hook["priority"])
        args = {k: v for k, v in hook.items() if k not in ("type", "priority")}
        try:  # (a hook without its own __init__ takes no arguments)
            params = {} if cls.__init__ is object.__init__ else inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            params = None
        if params is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            _check_keys_of(f"{where} ({name})", args, [p for p in params if p != "self"], name)
        check = getattr(cls, "check_args", None)
        if callable(check):
            check(**args)
        for module, how in dict(getattr(cls, "REQUIRES", {})).items():
            if importlib.util.find_spec(module) is None:
                raise ImportError(f"{where}: {name} needs {module}, which is not installed: {how}")


# -- train_cfg / test_cfg beside model ---------------------------------------------------------------


def model_config(cfg: Mapping[str, Any], training: bool = True) -> dict[str, Any]:
    """A copy of ``cfg.model`` with the top-level ``train_cfg`` / ``test_cfg`` of old configs moved
    into it, as MMDetection's ``build_detector(cfg.model, train_cfg=cfg.get('train_cfg'),
    test_cfg=cfg.get('test_cfg'))`` does (with its deprecation warning). ``training=False`` (``rdet
    test``, ``init_detector``): ``train_cfg`` is dropped, as MMDetection's test tools do.

    Raises:
        ValueError: ``train_cfg`` (``test_cfg``) given both at the top level and in ``model``
            (MMDetection asserts the same).
    """
    model = copy.deepcopy(dict(cfg["model"]))
    outer = {k: cfg.get(k) for k in ("train_cfg", "test_cfg")}
    if not training:
        outer["train_cfg"] = None
        model["train_cfg"] = None
    given = [k for k, v in outer.items() if v is not None]
    if not given:
        return model
    what = f"{' and '.join(given)} at the top level of the config {'are' if len(given) > 1 else 'is'}"
    warnings.warn(
        f"{what} deprecated (MMDetection 2.x): moved into model; put {'them' if len(given) > 1 else 'it'} "
        "in model",
        UserWarning,
        stacklevel=2,
    )
    for key in given:
        if model.get(key) is not None:
            raise ValueError(
                f"{key} is given both at the top level of the config and in model.{key}: keep one "
                "(MMDetection's build_detector refuses this too)"
            )
        model[key] = copy.deepcopy(outer[key])
    return model


# -- multi-processing ----------------------------------------------------------------------------------


def check_multiprocessing_config(cfg: Mapping[str, Any]) -> None:
    """``opencv_num_threads`` an integer >= 0 and ``mp_start_method`` a start method this
    platform has (``fork``, ``spawn``, ``forkserver``), ``auto_resume`` a bool.

    Raises:
        ValueError: Another value, naming the key.
    """
    import multiprocessing

    threads = cfg.get("opencv_num_threads")
    if threads is not None and not (_is_int(threads) and threads >= 0):
        raise ValueError(
            f"opencv_num_threads must be an integer >= 0 (0: no OpenCV threads), got {threads!r}"
        )
    method = cfg.get("mp_start_method")
    methods = multiprocessing.get_all_start_methods()
    if method is not None and method not in methods:
        raise ValueError(f"mp_start_method must be one of {', '.join(methods)} here, got {method!r}")
    if cfg.get("auto_resume") is not None:
        _bool("auto_resume", cfg["auto_resume"])


# -- optimizer values ----------------------------------------------------------------------------------

#: ``optimizer`` keys that take one number, and the range ``torch.optim`` asks of it
_OPTIMIZER_NUMBERS = {
    "lr": (0.0, None, "a number >= 0"),
    "momentum": (0.0, None, "a number >= 0"),
    "weight_decay": (0.0, None, "a number >= 0"),
    "dampening": (None, None, "a number"),
    "eps": (0.0, None, "a number >= 0"),
    "alpha": (0.0, None, "a number >= 0"),
    "rho": (0.0, 1.0, "a number in [0, 1]"),
    "lr_decay": (0.0, None, "a number >= 0"),
    "initial_accumulator_value": (0.0, None, "a number >= 0"),
}
_PARAMWISE_NUMBERS = ("bias_lr_mult", "bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult",
                      "dcn_offset_lr_mult")  # fmt: skip


def check_optimizer_values(optimizer: Any, section: str = "optimizer") -> None:
    """``optimizer``'s numbers before anything is built: ``lr``, ``momentum``, ``weight_decay``,
    ``eps`` ... finite numbers in ``torch.optim``'s range, ``betas`` a pair of numbers in [0, 1),
    and ``paramwise_cfg``'s multipliers (``custom_keys``' ``lr_mult`` / ``decay_mult`` too)
    numbers >= 0. ``--cfg-options optimizer.lr=abc`` gave the string ``'abc'``, and torch's
    ``TypeError: '<' not supported between instances of 'str' and 'float'`` named no key.

    Raises:
        ValueError: naming the key (``optimizer.lr``) and the value.
    """
    _mapping(section, optimizer)
    for key, (low, high, what) in _OPTIMIZER_NUMBERS.items():
        if key not in optimizer:
            continue
        value = optimizer[key]
        if not _is_number(value) or (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{section}.{key} must be {what}, got {value!r}")
    if "betas" in optimizer:
        betas = optimizer["betas"]
        if not (
            isinstance(betas, (list, tuple))
            and len(betas) == 2
            and all(_is_number(b) and 0 <= b < 1 for b in betas)
        ):
            raise ValueError(f"{section}.betas must be a pair of numbers in [0, 1), got {betas!r}")
    paramwise = optimizer.get("paramwise_cfg")
    if paramwise is None:
        return
    _mapping(f"{section}.paramwise_cfg", paramwise)
    for key in _PARAMWISE_NUMBERS:
        if key in paramwise and not (_is_number(paramwise[key]) and paramwise[key] >= 0):
            raise ValueError(f"{section}.paramwise_cfg.{key} must be a number >= 0, got {paramwise[key]!r}")
    custom = paramwise.get("custom_keys") or {}
    _mapping(f"{section}.paramwise_cfg.custom_keys", custom)
    for name, mults in custom.items():
        _mapping(f"{section}.paramwise_cfg.custom_keys.{name}", mults)
        for key in ("lr_mult", "decay_mult"):
            if key in mults and not (_is_number(mults[key]) and mults[key] >= 0):
                raise ValueError(
                    f"{section}.paramwise_cfg.custom_keys.{name}.{key} must be a number >= 0, got {mults[key]!r}"
                )


# -- angle versions ------------------------------------------------------------------------------------

#: the keys that hold an angle version in MMRotate 0.3.4's configs (each set from the config's one
#: ``angle_version``): ``version`` (datasets, transforms, RoI heads, RPN heads), ``angle_range``
#: (box coders) and ``angle_version`` (CSL / point coders, ATSS assigners)
ANGLE_VERSION_KEYS = ("version", "angle_range", "angle_version")
_ANGLE_VERSIONS = ("oc", "le135", "le90")


def _angle_settings(node: Any, path: str, found: list[tuple[str, str]]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key in ANGLE_VERSION_KEYS and isinstance(value, str) and value in _ANGLE_VERSIONS:
                found.append((where, value))
            else:
                _angle_settings(value, where, found)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _angle_settings(value, f"{path}.{i}", found)


def check_angle_versions(cfg: Mapping[str, Any]) -> None:
    """One angle version across ``data`` (the datasets' ``version``, their pipelines' transforms'
    ``version``) and ``model`` (heads' ``version``, coders' ``angle_range``, ``angle_version``):
    a dataset read as ``oc`` with a ``le135`` coder and a ``le90`` validation set trains and
    scores, on boxes that mean other angles. MMRotate's configs set them all from one
    ``angle_version`` variable. Only the values a config sets are compared (a key left out takes
    its class's default, ``'oc'`` for most).

    Raises:
        ValueError: naming each disagreeing key and its value, grouped by value.
    """
    found: list[tuple[str, str]] = []
    for section in ("data", "model"):
        if cfg.get(section) is not None:
            _angle_settings(cfg[section], section, found)
    by_version: dict[str, list[str]] = {}
    for where, version in found:
        by_version.setdefault(version, []).append(where)
    if len(by_version) > 1:
        groups = "; ".join(
            f"{version!r}: {', '.join(keys[:6])}{f' and {len(keys) - 6} more' if len(keys) > 6 else ''}"
            for version, keys in by_version.items()
        )
        raise ValueError(
            f"the config mixes angle versions ({groups}): the datasets, transforms and the model's "
            "heads and coders must use one (MMRotate's configs set them all from angle_version); "
            "set every one of these keys to the same version"
        )
