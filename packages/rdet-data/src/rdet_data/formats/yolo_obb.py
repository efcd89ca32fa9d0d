"""Ultralytics YOLO-OBB label files: ``class-index x1 y1 x2 y2 x3 y3 x4 y4`` normalised to [0, 1].

Values are returned as written; ``YOLOOBBDataset`` keeps those slightly outside [0, 1] (objects
crossing the patch border, as in DOTA8) and refuses those far outside (pixels written as if
normalised).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from rdet_data.formats.dota import DotaLabelError
from rdet_data.formats.text import read_text_lines

__all__ = ["YoloObbLabels", "read_yolo_names", "read_yolo_obb"]


@dataclass
class YoloObbLabels:
    """The objects of one YOLO-OBB label file.

    Attributes:
        polygons: (K, 8) float32 normalised corners (x / W, y / H).
        class_ids: (K,) int64 class indices.
        lines: (K,) int64 1-based line numbers.
        skipped: Messages of malformed lines skipped with ``errors='skip'``.
    """

    path: Path
    polygons: np.ndarray
    class_ids: np.ndarray
    lines: np.ndarray
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.class_ids)


def read_yolo_obb(path: str | os.PathLike, errors: str = "raise") -> YoloObbLabels:
    """Read one label file; a malformed line raises ``DotaLabelError('file:line: ...')``
    (or, with ``errors='skip'``, is skipped and recorded); a line that is not UTF-8 is a
    ``LabelEncodingError('file:line: ...')``. Coordinates are returned as written: the dataset
    checks their range against the image."""
    path = Path(path)
    polys, ids, lines = [], [], []
    text_lines, skipped = read_text_lines(path, errors)
    for lineno, raw in text_lines:
        if not raw.split():
            continue
        try:
            cls, coords = _parse_line(raw, path, lineno)
        except DotaLabelError as err:
            if errors != "skip":
                raise
            skipped.append(str(err))
            continue
        polys.append(coords)
        ids.append(cls)
        lines.append(lineno)
    return YoloObbLabels(
        path=path,
        polygons=np.asarray(polys, np.float32).reshape(-1, 8),
        class_ids=np.asarray(ids, np.int64),
        lines=np.asarray(lines, np.int64),
        skipped=skipped,
    )


def _parse_line(raw: str, path: Path, lineno: int) -> tuple[int, list[float]]:
    """``(class index, 8 coordinates)`` of one line, or DotaLabelError naming file:line."""
    tokens = raw.split()
    if len(tokens) != 9:
        raise DotaLabelError(
            f"{path}:{lineno}: expected 'class x1 y1 x2 y2 x3 y3 x4 y4' (9 fields), got {len(tokens)}"
        )
    try:
        cls = int(tokens[0])
        coords = [float(t) for t in tokens[1:]]
    except ValueError:
        raise DotaLabelError(
            f"{path}:{lineno}: not an integer class and 8 numbers: {raw.strip()!r}"
        ) from None
    if cls < 0 or not np.all(np.isfinite(coords)):
        raise DotaLabelError(f"{path}:{lineno}: negative class or non-finite coordinate: {raw.strip()!r}")
    return cls, coords


def read_yolo_names(path: str | os.PathLike) -> list[str]:
    """Class names, in index order, from an Ultralytics data YAML (``names:`` as a mapping or a list).

    Uses PyYAML when installed; otherwise reads the ``names:`` block itself.

    Raises:
        ValueError: naming ``path``: no ``names:``, none given, a key given twice (in the file
            or in the ``names`` mapping), mapping keys that are not the integers 0..n-1 (a
            missing index would shift every later class onto the wrong name), or a class name
            given to two indices (``{0: plane, 1: plane}``).
    """
    text = "".join(line for _, line in read_text_lines(path)[0])
    try:
        import yaml  # optional
    except ImportError:  # pragma: no cover - exercised where PyYAML is absent
        names = _names_block(text, path)
    else:
        try:
            stream = io.StringIO(text)
            stream.name = str(path)  # the marks of an error name the file
            data = yaml.load(stream, Loader=_unique_key_loader(yaml))  # a SafeLoader subclass
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: invalid YAML: {err}") from None
        names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        return _unique_names(_indexed_names(names, path), path)
    if isinstance(names, list) and names:
        return _unique_names([str(n) for n in names], path)
    if isinstance(names, (dict, list)):
        raise ValueError(f"{path}: 'names:' lists no class")
    raise ValueError(f"{path}: no 'names:' mapping or list")


def _unique_names(names: list[str], path: str | os.PathLike) -> list[str]:
    """``names``, or a ValueError naming ``path`` and the first name given to two indices."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            raise ValueError(
                f"{path}: 'names:' gives class {name!r} to indices {first[name]} and {i} "
                "(each index must be its own class)"
            )
        first[name] = i
    return names


def _indexed_names(names: dict, path: str | os.PathLike) -> list[str]:
    """``{index: name}`` -> names in index order; the indices must be exactly 0..n-1."""
    if not names:
        raise ValueError(f"{path}: 'names:' lists no class")
    by_index: dict[int, str] = {}
    for key, name in names.items():
        try:
            index = int(key) if not isinstance(key, (bool, float)) else None
        except ValueError:
            index = None
        if index is None or index < 0:
            raise ValueError(f"{path}: 'names:' key {key!r} is not a class index (0, 1, 2, ...)")
        if index in by_index:
            raise ValueError(
                f"{path}: 'names:' gives class index {index} twice ({by_index[index]!r}, {name!r})"
            )
        by_index[index] = str(name)
    missing = [i for i in range(len(by_index)) if i not in by_index]
    if missing:
        raise ValueError(
            f"{path}: 'names:' has no class index {missing[0]} (indices must be 0..n-1 without gaps; "
            f"got {sorted(by_index)}): labels of a missing index would be read as another class"
        )
    return [by_index[i] for i in range(len(by_index))]


def _unique_key_loader(yaml: ModuleType) -> type:
    """A ``SafeLoader`` that refuses a mapping key given twice (PyYAML keeps the last silently)."""

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: SafeLoader reports it
                    break
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found key {key!r} twice",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _names_block(text: str, path: str | os.PathLike) -> list[str] | dict[int, str] | None:
    """The ``names:`` block read without PyYAML (inline list, ``k: name`` lines or ``- name`` lines)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^names:\s*(.*)$", line)
        if not m:
            continue
        inline = m.group(1).strip()
        if inline.startswith("["):
            return [n.strip().strip("'\"") for n in inline.strip("[]").split(",") if n.strip()]
        if inline.startswith("{"):
            pairs = [p.split(":", 1) for p in inline.strip("{}").split(",") if p.strip()]
            return _names_block(
                "names:\n" + "".join(f"  {k.strip()}: {v.strip()}\n" for k, v in pairs if v.strip()), path
            )
        out: dict[int, str] = {}
        seq: list[str] = []
        for item in lines[i + 1 :]:
            if item and not item[0].isspace():
                break
            kv = re.match(r"^\s+(\d+)\s*:\s*(.+?)\s*$", item)
            li = re.match(r"^\s+-\s*(.+?)\s*$", item)
            if kv:
                if int(kv.group(1)) in out:
                    raise ValueError(f"{path}: 'names:' gives class index {int(kv.group(1))} twice")
                out[int(kv.group(1))] = kv.group(2).strip("'\"")
            elif li:
                seq.append(li.group(1).strip("'\""))
        return out or seq
    return None
