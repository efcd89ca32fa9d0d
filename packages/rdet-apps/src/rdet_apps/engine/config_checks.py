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
- The top level also holds the config's own variables (``angle_version``, ``data_root``,
  ``img_norm_cfg`` ...), so an unknown name is an error only when it is a near-miss of a key
  rdet reads (difflib ratio >= 0.85: ``optimzer``, even beside an ``optimizer``), or close to
  one (>= 0.8) that the config does not set (``evaluaton`` and no ``evaluation``).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "ConfigKeyError",
    "check_data_config",
    "check_model_config",
    "check_runtime_config",
    "foreign_model_types",
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
_EVALUATION = ("type", "interval", "by_epoch", "save_best", "rule", "start", "metric", "greater_keys",
               "less_keys", "out_dir", "file_client_args", "gpu_collect", "tmpdir", "broadcast_bn_buffer",
               "test_fn", "dynamic_intervals", "iou_thr", "scale_ranges", "use_07_metric", "nproc",
               "proposal_nums", "logger")  # fmt: skip
#: ``data``'s keys that rdet reads (rdet_data.dataloader_args, the commands' dataset builders)
_DATA = ("train", "val", "test", "samples_per_gpu", "workers_per_gpu", "persistent_workers",
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


def _check_schedule(section: str, cfg: Mapping[str, Any]) -> None:
    policy = str(cfg.get("policy", "fixed")).lower().replace("_", "")
    extra = _POLICY_KEYS.get(policy)
    if extra is None:
        return  # the schedule builder names an unknown policy itself
    _check_keys(section, cfg, ("policy", *_WARMUP, *extra))


def check_runtime_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigKeyError` on a key no part of training reads, ``ValueError`` on a
    non-positive ``max_epochs`` / ``max_iters`` / intervals or an ``amp`` that is not a
    mixed-precision mode (``rdet_apps.amp.AmpError``). ``cfg``: the whole config; its ``model``
    and ``data`` are checked too (:func:`check_model_config`, :func:`check_data_config`)."""
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
        _check_keys("checkpoint_config", cfg["checkpoint_config"], _CHECKPOINT)
    if cfg.get("log_config") is not None:
        _check_keys("log_config", cfg["log_config"], _LOG)
        if "interval" in cfg["log_config"]:
            _positive_int("log_config.interval", cfg["log_config"]["interval"])
    if cfg.get("evaluation") is not None:
        _check_keys("evaluation", cfg["evaluation"], _EVALUATION)
