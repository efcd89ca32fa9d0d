"""Reading config files: python (MMRotate 0.3.x), JSON and YAML, with ``_base_`` inheritance.

The semantics are MMCV 1.x's ``Config._file2dict``: predefined variables
(``{{ fileDirname }}``, ``{{ fileBasename }}``, ``{{ fileBasenameNoExtension }}``,
``{{ fileExtname }}``), base variables (``{{ _base_.key.sub }}``), a python file's top-level
names (not modules, functions or dunder names) as the dict, ``_base_`` a path or a list of
paths relative to the file, no key defined by two bases, the child merged into its bases.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import traceback
import types
import uuid
import warnings
from pathlib import Path
from typing import Any

from rdet_core.config.merge import merge_into

__all__ = ["BASE_KEY", "SUPPORTED_SUFFIXES", "ConfigFileError", "load_file"]

BASE_KEY = "_base_"
DEPRECATION_KEY = "_deprecation_"
SUPPORTED_SUFFIXES = (".py", ".json", ".yaml", ".yml")
_PREDEFINED = ("fileDirname", "fileBasename", "fileBasenameNoExtension", "fileExtname")
_BASE_VAR = re.compile(r"\{\{\s*" + BASE_KEY + r"\.([\w\.]+)\s*\}\}")


class ConfigFileError(ValueError):
    """A config file cannot be read: bad syntax, bad ``_base_``, conflicting bases."""


def _substitute_predefined(text: str, path: Path) -> str:
    values = {
        "fileDirname": str(path.parent),
        "fileBasename": path.name,
        "fileBasenameNoExtension": path.stem,
        "fileExtname": path.suffix,
    }
    for key in _PREDEFINED:
        text = re.sub(r"\{\{\s*" + key + r"\s*\}\}", values[key].replace("\\", "/"), text)
    return text


def _placeholder_base_vars(text: str) -> tuple[str, dict[str, str]]:
    """Replace ``{{ _base_.a.b }}`` by unique strings; return the text and string -> 'a.b'."""
    names: dict[str, str] = {}
    for var in sorted(set(_BASE_VAR.findall(text))):
        token = f"_{var}_{uuid.uuid4().hex[:6]}"
        names[token] = var
        text = re.sub(r"\{\{\s*" + BASE_KEY + r"\." + re.escape(var) + r"\s*\}\}", f'"{token}"', text)
    return text, names


def _resolve_base_vars(value: Any, names: dict[str, str], base: dict, path: Path) -> Any:
    if isinstance(value, str) and value in names:
        found: Any = base
        for part in names[value].split("."):
            try:
                found = found[part]
            except (KeyError, TypeError):
                raise ConfigFileError(
                    f"{path}: {{{{ _base_.{names[value]} }}}} is not defined by its bases"
                ) from None
        return copy.deepcopy(found)
    if isinstance(value, dict):
        return {k: _resolve_base_vars(v, names, base, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_base_vars(v, names, base, path) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(_resolve_base_vars(v, names, base, path) for v in value)
    return value


def _exec_python(text: str, path: Path) -> dict[str, Any]:
    try:
        code = compile(ast.parse(text, filename=str(path)), str(path), "exec")
    except SyntaxError as e:
        raise ConfigFileError(f"syntax error in config file {path}, line {e.lineno}: {e.msg}") from e
    namespace: dict[str, Any] = {"__file__": str(path), "__name__": f"rdet_config_{path.stem}"}
    try:
        exec(code, namespace)
    except Exception as e:  # the config's own code failed: name its file and line
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
        where = f", line {lines[-1]}" if lines else ""
        raise ConfigFileError(f"config file {path}{where}: {type(e).__name__}: {e}") from e
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("__") and not isinstance(value, (types.ModuleType, types.FunctionType))
    }


def _read_data_file(text: str, path: Path) -> dict[str, Any]:
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml  # only YAML configs pay for it

            data = yaml.safe_load(text)
    except Exception as e:
        raise ConfigFileError(f"cannot parse config file {path}: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {path} must hold a mapping at the top, got {type(data).__name__}")
    return data


def load_file(
    filename: str | os.PathLike, use_predefined_variables: bool = True, _chain: tuple[Path, ...] = ()
) -> tuple[dict[str, Any], str]:
    """Read a config file and its bases into a dict; also return the concatenated texts.

    Args:
        filename: A ``.py``, ``.json``, ``.yaml`` or ``.yml`` file.
        use_predefined_variables: Substitute ``{{ fileDirname }}`` and friends.

    Returns:
        ``(cfg_dict, text)``: the merged dict (nested dicts are ConfigDicts where a merge made
        them) and the texts of the bases then the file, each after its path line.

    Raises:
        FileNotFoundError: The file (or one of its bases) does not exist.
        ConfigFileError: Unsupported suffix, syntax error, an exception in the file's code (its
            line), bad ``_base_`` (a cycle of bases, a base variable without bases), a key in two
            bases, a file that is not UTF-8.
    """
    path = Path(os.path.expanduser(os.fspath(filename))).absolute()
    if path.suffix not in SUPPORTED_SUFFIXES:
        raise ConfigFileError(f"config file {path}: only {', '.join(SUPPORTED_SUFFIXES)} files are supported")
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    if path.resolve() in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain[_chain.index(path.resolve()) :], path.resolve()))
        raise ConfigFileError(f"config files inherit from each other in a cycle: {cycle}")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise ConfigFileError(f"config file {path}, line {line}: not UTF-8 text ({e.reason})") from None
    text = _substitute_predefined(raw, path) if use_predefined_variables else raw
    text, base_vars = _placeholder_base_vars(text)
    cfg = _exec_python(text, path) if path.suffix == ".py" else _read_data_file(text, path)

    if DEPRECATION_KEY in cfg:
        info = cfg.pop(DEPRECATION_KEY)
        msg = f"The config file {path} will be deprecated in the future."
        if isinstance(info, dict) and "expected" in info:
            msg += f" Please use {info['expected']} instead."
        if isinstance(info, dict) and "reference" in info:
            msg += f" More information can be found at {info['reference']}"
        warnings.warn(msg, DeprecationWarning, stacklevel=3)

    cfg_text = f"{path}\n{raw}"
    if BASE_KEY not in cfg:
        if base_vars:
            names = ", ".join(f"{{{{ _base_.{v} }}}}" for v in sorted(base_vars.values()))
            raise ConfigFileError(f"{path}: {names} used, but the file has no _base_")
        return cfg, cfg_text

    bases = cfg.pop(BASE_KEY)
    bases = bases if isinstance(bases, list) else [bases]
    if not all(isinstance(b, str) for b in bases):
        raise ConfigFileError(f"{path}: _base_ must be a path or a list of paths, got {bases!r}")
    merged_base: dict[str, Any] = {}
    owner: dict[str, str] = {}
    texts = []
    for base in bases:
        base_path = path.parent / base
        try:
            base_cfg, base_text = load_file(base_path, use_predefined_variables, (*_chain, path.resolve()))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"config file not found: {base_path.resolve()} (a _base_ of {path})"
            ) from None
        duplicates = sorted(merged_base.keys() & base_cfg.keys())
        if duplicates:
            raise ConfigFileError(
                f"{path}: its bases may not define the same key; "
                + "; ".join(f"{k!r} is in {owner[k]} and {base}" for k in duplicates)
            )
        owner.update(dict.fromkeys(base_cfg, base))
        merged_base.update(base_cfg)
        texts.append(base_text)
    cfg = _resolve_base_vars(cfg, base_vars, merged_base, path)
    texts.append(cfg_text)
    return merge_into(cfg, merged_base), "\n".join(texts)
