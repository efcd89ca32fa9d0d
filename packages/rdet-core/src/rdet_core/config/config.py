"""``Config``: an MMRotate 0.3.x config file as a nested dict with attribute access."""

from __future__ import annotations

import copy
import difflib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rdet_core.config.config_dict import ConfigDict, to_plain
from rdet_core.config.loader import SUPPORTED_SUFFIXES, ConfigFileError, load_file
from rdet_core.config.merge import merge_into
from rdet_core.config.pretty import format_python_config
from rdet_core.custom_imports import defer_custom_imports, import_custom_modules

__all__ = ["Config"]

RESERVED_KEYS = ("filename", "text", "pretty_text")


class Config:
    """A config: MMCV 1.x's ``Config`` interface, loading MMRotate 0.3.x files unchanged.

    Example:
        >>> cfg = Config.fromfile("configs/rotated_retinanet/rotated_retinanet_obb_r50_fpn_1x_dota_le90.py")
        >>> cfg.model.backbone.depth
        50
        >>> cfg.merge_from_dict({"model.backbone.depth": 18, "data.train.pipeline.2.img_scale": (512, 512)})

    ``custom_imports`` is not imported while the file loads (unlike MMCV): the modules are
    imported the next time a registry builds or looks up something, or by
    :meth:`import_custom_modules`. A config naming a package that is not installed therefore
    still loads, prints and dumps.
    """

    def __init__(
        self,
        cfg_dict: Mapping[str, Any] | None = None,
        cfg_text: str | None = None,
        filename: str | os.PathLike | None = None,
    ) -> None:
        if cfg_dict is None:
            cfg_dict = {}
        elif not isinstance(cfg_dict, Mapping):
            raise TypeError(f"cfg_dict must be a dict, got {type(cfg_dict).__name__}")
        for key in cfg_dict:
            if key in RESERVED_KEYS:
                raise KeyError(f"{key!r} is reserved for config files and cannot be a top-level key")
        filename = os.fspath(filename) if filename is not None else None
        object.__setattr__(self, "_cfg_dict", ConfigDict(cfg_dict))
        object.__setattr__(self, "_filename", filename)
        if cfg_text is None:
            cfg_text = (
                Path(filename).read_text(encoding="utf-8") if filename and Path(filename).is_file() else ""
            )
        object.__setattr__(self, "_text", cfg_text)

    # -- construction -------------------------------------------------------------------------

    @staticmethod
    def fromfile(
        filename: str | os.PathLike,
        use_predefined_variables: bool = True,
        import_custom_modules: bool = False,
    ) -> Config:
        """Load a ``.py``, ``.json`` or ``.yaml`` config file with its ``_base_`` files.

        Args:
            filename: The config file.
            use_predefined_variables: Substitute ``{{ fileDirname }}`` and friends.
            import_custom_modules: Import ``custom_imports`` now instead of deferring them.
        """
        cfg_dict, text = load_file(filename, use_predefined_variables)
        cfg = Config(cfg_dict, cfg_text=text, filename=filename)
        custom = cfg_dict.get("custom_imports")
        if custom:
            if import_custom_modules:
                cfg.import_custom_modules()
            else:
                defer_custom_imports(custom, source=os.fspath(filename))
        return cfg

    @staticmethod
    def fromstring(cfg_str: str, file_format: str) -> Config:
        """Load a config from text in the format of ``file_format`` ('.py', '.json', '.yaml')."""
        import tempfile

        if file_format not in SUPPORTED_SUFFIXES:
            raise ConfigFileError(
                f"file_format must be one of {', '.join(SUPPORTED_SUFFIXES)}, got {file_format!r}"
            )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"config{file_format}"
            path.write_text(cfg_str, encoding="utf-8")
            cfg = Config.fromfile(path)
        object.__setattr__(cfg, "_filename", None)
        return cfg

    def import_custom_modules(self) -> None:
        """Import the modules of ``custom_imports`` (``allow_failed_imports`` honoured).

        Raises:
            rdet_core.custom_imports.CustomImportError: A module cannot be imported.
        """
        custom = self._cfg_dict.get("custom_imports")
        if custom:
            if not isinstance(custom, Mapping) or "imports" not in custom:
                raise TypeError(
                    f"custom_imports in {self._filename} must be dict(imports=[...]), got {custom!r}"
                )
            import_custom_modules(
                custom["imports"], bool(custom.get("allow_failed_imports", False)), self._filename
            )

    # -- merging ------------------------------------------------------------------------------

    def merge_from_dict(self, options: Mapping[str, Any], allow_list_keys: bool = True) -> None:
        """Merge ``{'a.b.0.c': value}`` options (as ``--cfg-options`` gives them) into this config.

        A key the config lacks is added (MMCV does so too), unless it is a near-miss of a key
        beside it (``model.backbone.dept`` where ``depth`` is): then it is a typo, and an error.

        Raises:
            KeyError: A list index is out of range; a new key that misspells an existing one.
            TypeError: An option sets a key below a value that is not a dict (or list).
        """
        for full_key in options:
            _check_not_a_near_miss(full_key, self._cfg_dict)
        nested: dict[str, Any] = {}
        for full_key, value in options.items():
            node = nested
            *parents, last = full_key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        merged = merge_into(nested, self._cfg_dict, allow_list_keys=allow_list_keys)
        object.__setattr__(self, "_cfg_dict", ConfigDict(merged))

    # -- views --------------------------------------------------------------------------------

    @property
    def filename(self) -> str | None:
        return self._filename

    @property
    def text(self) -> str:
        """The texts of the file's bases and of the file, each after a line with its path."""
        return self._text

    @property
    def pretty_text(self) -> str:
        """This config as python source that loads back to an equal config."""
        return format_python_config(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """A plain nested dict."""
        return to_plain(self._cfg_dict)

    def dumps(self, file_format: str = ".py") -> str:
        """The config as text: ``'.py'`` (python, as :attr:`pretty_text`), ``'.json'`` or ``'.yaml'``."""
        fmt = "." + file_format.lstrip(".")
        if fmt == ".py":
            return self.pretty_text
        if fmt == ".json":
            return json.dumps(self.to_dict(), indent=2) + "\n"
        if fmt in (".yaml", ".yml"):
            import yaml

            return yaml.safe_dump(json.loads(json.dumps(self.to_dict())), sort_keys=False)
        raise ConfigFileError(f"cannot write a config as {file_format!r}: use .py, .json, .yaml or .yml")

    def dump(self, file: str | os.PathLike | None = None) -> str | None:
        """Write the config to ``file`` in the format of its suffix, or return the text.

        Without ``file``, the text is in the format of the loaded file (python if none).
        """
        if file is None:
            return self.dumps(Path(self._filename or "x.py").suffix)
        Path(file).write_text(self.dumps(Path(os.fspath(file)).suffix), encoding="utf-8")
        return None

    # -- dict and attribute access ------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._cfg_dict, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._cfg_dict[name] = value

    def __delattr__(self, name: str) -> None:
        delattr(self._cfg_dict, name)

    def __getitem__(self, name: str) -> Any:
        return self._cfg_dict[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._cfg_dict[name] = value

    def __delitem__(self, name: str) -> None:
        del self._cfg_dict[name]

    def __contains__(self, name: object) -> bool:
        return name in self._cfg_dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._cfg_dict)

    def __len__(self) -> int:
        return len(self._cfg_dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self.to_dict() == other.to_dict()
        if isinstance(other, Mapping):
            return self.to_dict() == to_plain(dict(other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config (path: {self._filename}): {dict.__repr__(self._cfg_dict)}"

    def __getstate__(self) -> tuple[Any, ...]:
        return (self._cfg_dict, self._filename, self._text)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(("_cfg_dict", "_filename", "_text"), state):
            object.__setattr__(self, name, value)

    def __copy__(self) -> Config:
        other = Config.__new__(Config)
        other.__setstate__(self.__getstate__())
        return other

    def __deepcopy__(self, memo: dict) -> Config:
        other = Config.__new__(Config)
        memo[id(self)] = other
        other.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return other


#: difflib ratio from which a key new to its dict is taken for a typo of a key already there
NEAR_MISS_RATIO = 0.8


def _check_not_a_near_miss(full_key: str, cfg: Mapping[str, Any]) -> None:
    """Raise ``KeyError`` when the first part of ``full_key`` that ``cfg`` lacks is a near-miss
    of a key beside it (``data.trian`` beside ``train``); list indices and leaves end the walk."""
    node: Any = cfg
    path: list[str] = []
    for part in full_key.split("."):
        if not isinstance(node, Mapping):
            return
        if part not in node:
            siblings = [k for k in node if isinstance(k, str)]
            close = difflib.get_close_matches(part, siblings, n=1, cutoff=NEAR_MISS_RATIO)
            if close:
                where = ".".join([*path, close[0]])
                raise KeyError(
                    f"option {full_key}: the config has no {'.'.join([*path, part])}; did you mean {where}? "
                    "(a new key is added only when it is no near-miss of one already there)"
                )
            return
        node, path = node[part], [*path, part]
