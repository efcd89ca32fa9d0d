"""``--cfg-options`` checked before they are merged: overriding a variable of the config file
(``angle_version``, ``data_root`` ...) that no part of rdet reads is an error naming the keys to
set instead (:func:`check_cfg_options`). Light on purpose (no torch): ``rdet print-config`` uses
it too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RUNTIME_KEYS", "ConfigKeyError", "check_cfg_options", "merge_cfg_options"]

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
        "auto_resume",
        "train_cfg",  # MMDetection 1.x / early 2.x style, beside model: moved into it (model_config)
        "test_cfg",
    ]
)


class ConfigKeyError(KeyError):
    """A config key that nothing reads (a typo, most likely)."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence
        return str(self.args[0])


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _interpolable(value: Any) -> bool:
    """A value whose copies in other keys are unlikely to be chance: a string of 4 or more
    characters (``'le90'``, a path), a number other than -1, 0 and 1 (``img_size = 1024``,
    ``num_classes = 15``), a non-empty dict or list (``img_norm_cfg``, a pipeline). Booleans,
    None, -1 / 0 / 1 and short strings match unrelated keys (flags, defaults) by chance."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return len(value) >= 4
    if isinstance(value, (int, float)):
        return value not in (-1, 0, 1)
    return isinstance(value, (dict, list, tuple)) and len(value) > 0


def _used_at(value: Any, node: Any, path: str, found: list[str]) -> None:
    """The paths under ``node`` whose value is ``value`` (a string: or contains it, as
    ``data_root + 'train/'``; a dict: or holds all its items, as ``dict(type='Normalize',
    **img_norm_cfg)``)."""
    plain = _plain(node)
    if path and (
        plain == value
        or (isinstance(value, str) and len(value) >= 4 and isinstance(plain, str) and value in plain)
        or (
            isinstance(value, dict)
            and value
            and isinstance(plain, dict)
            and all(k in plain and plain[k] == v for k, v in value.items())
        )
    ):
        found.append(path)
        return
    if isinstance(node, Mapping):
        for key, child in node.items():
            _used_at(value, child, f"{path}.{key}" if path else str(key), found)
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            _used_at(value, child, f"{path}.{i}", found)


def check_cfg_options(cfg: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """``--cfg-options`` that would change nothing: a top-level name of the config file that no
    part of rdet reads (not one of :data:`RUNTIME_KEYS`), i.e. a variable the file used to fill
    in other keys (``angle_version``, ``data_root``, ``img_norm_cfg``, ``train_pipeline`` ...).
    Those keys were filled in when the file was executed; overriding the variable afterwards
    changes only the variable (MMCV does the same, silently). rdet's ``Config`` does not re-run
    the file (a Python config's expressions are not kept), so this is an error that names the
    keys holding the variable's value, to be set instead. A variable whose value no key rdet
    reads holds (nothing was filled in from it), and a top-level name the file does not have,
    are set or added as before (``rdet print-config`` shows them; a plugin may read them).

    Raises:
        ConfigKeyError: naming the option, and the keys to set instead.
    """
    for full_key, new in options.items():
        name = str(full_key).split(".", 1)[0]
        if name in RUNTIME_KEYS or name not in cfg or name.startswith("_"):
            continue
        value = _plain(cfg[name])
        if not _interpolable(value):  # True, 1, None ... equal unrelated leaves: nothing to tell
            continue
        found: list[str] = []
        for section in sorted(RUNTIME_KEYS):
            if section in cfg and cfg[section] is not None:
                _used_at(value, cfg[section], section, found)
        if not found:  # its value is in no key rdet reads: nothing was filled in from it
            continue
        shown = " ".join(found[:8]) + (f" (and {len(found) - 8} more)" if len(found) > 8 else "")
        raise ConfigKeyError(
            f"--cfg-options {full_key}={new!r}: {name} is a variable of the config file, not a key rdet "
            f"reads; its value was filled into other keys when the file was read, so changing it "
            f"changes nothing; set the keys that hold its value instead: {shown}"
        )


def merge_cfg_options(cfg: Any, options: Mapping[str, Any] | None) -> None:
    """``cfg.merge_from_dict(options)`` after :func:`check_cfg_options` (what every command does
    with ``--cfg-options``)."""
    if options:
        check_cfg_options(cfg, options)
        cfg.merge_from_dict(options)
