"""Load MMRotate / MMDetection / torchvision checkpoints: local files, or names and URLs that are
downloaded once into PyTorch's hub cache.

MMRotate's checkpoints are ``{'meta': ..., 'state_dict': ...}``; their keys are our module
paths, so they load unchanged. ``torchvision://NAME``, ``open-mmlab://NAME`` and ``mmcls://NAME``
resolve to URLs as MMCV 1.7 resolves them (``model_zoo.json``); URLs are downloaded into
``$TORCH_HOME/hub/checkpoints`` (where MMCV puts them, so an MMCV cache is reused) with the
SHA-256 prefix that the file name carries checked (``resnet50-19c8e357.pth``). ``$RDET_OFFLINE=1``
never downloads; a missing file then says which URL to fetch and where to put it.

Every checkpoint is unpickled with ``torch.load(weights_only=True)`` (tensors, containers,
numbers, strings and numpy scalars/arrays only), so that a downloaded checkpoint cannot run
code; a file that needs more says so and is loaded only when the caller trusts it
(``weights_only=False``).

A checkpoint must fit the model: ``strict=True`` (the default of ``init_detector`` and
``rdet test``) raises on any missing, unexpected or shape-mismatched key; ``strict=False``
(fine-tuning, ``Pretrained`` backbones) loads what fits, reports the rest, and still raises when
almost nothing fits: when the parameters that fit hold under ``min_loaded`` (10%) of the model's
parameter elements. Bookkeeping buffers (BatchNorm's ``num_batches_tracked``) never count as a
fit: every BatchNorm has one of the same shape, whatever the checkpoint.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "StateDictMatch",
    "UnsafeCheckpointError",
    "checkpoint_url",
    "extract_state_dict",
    "load_checkpoint",
    "load_state_dict",
    "read_checkpoint",
    "resolve_checkpoint",
]

_SCHEMES = ("torchvision://", "modelzoo://", "open-mmlab://", "openmmlab://", "mmcls://")
_URL = ("http://", "https://")


class CheckpointNotFoundError(FileNotFoundError):
    """A checkpoint file is missing, or a remote one could not be downloaded."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model (missing, unexpected or shape-mismatched keys)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects that ``torch.load(weights_only=True)`` refuses."""


@cache
def _zoo() -> dict[str, dict[str, str | None]]:
    return json.loads((Path(__file__).with_name("model_zoo.json")).read_text())


def _hub_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _offline() -> bool:
    return os.environ.get("RDET_OFFLINE", "").lower() not in ("", "0", "false", "no")


def checkpoint_url(name: str) -> str:
    """The URL of ``torchvision://NAME`` / ``open-mmlab://NAME`` / ``mmcls://NAME`` (MMCV 1.7's
    tables; ``modelzoo://`` and ``openmmlab://`` are old spellings); a URL is returned as is.

    Raises:
        KeyError: an unknown name, listing the closest known ones.
    """
    if name.startswith(_URL):
        return name
    scheme, model = name.split("://", 1)
    table = {"modelzoo": "torchvision", "openmmlab": "open-mmlab"}.get(scheme, scheme)
    urls = _zoo()[table]
    if table == "torchvision":
        model = model.lower().replace("_weights", "")
    elif table == "open-mmlab":
        model = _zoo()["deprecated"].get(model, model)
    url = urls.get(model)
    if url is None:
        import difflib

        close = difflib.get_close_matches(model, [k for k, v in urls.items() if v], n=3)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise KeyError(f"{name!r}: no published checkpoint of that name in MMCV's {table} table{hint}")
    return url


def _download(url: str, name: str) -> Path:
    """``url`` in the hub cache, downloaded once (SHA-256 prefix of its file name checked)."""
    dst = _hub_dir() / os.path.basename(url.split("?", 1)[0])
    if dst.is_file():
        return dst
    where = (
        f"put the file there yourself: download {url} and save it as {dst}; or pass a local file "
        "(init_cfg=dict(type='Pretrained', checkpoint='/path/to/file.pth')), or train the backbone "
        "from scratch with --cfg-options model.backbone.init_cfg=None"
    )
    if _offline():
        raise CheckpointNotFoundError(f"checkpoint {name!r} is not cached and RDET_OFFLINE is set; {where}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(dst.name)
    hash_prefix = match.group(1) if match and match.group(1) else None
    print(f"downloading {url} to {dst}", file=sys.stderr, flush=True)
    try:
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=hash_prefix, progress=sys.stderr.isatty())
    except RuntimeError as err:  # torch.hub's hash check
        raise CheckpointNotFoundError(
            f"checkpoint {name!r}: the file downloaded from {url} does not have the SHA-256 prefix "
            f"{hash_prefix!r} that its name carries ({err}); it was not kept"
        ) from err
    except OSError as err:  # URLError, HTTPError, timeouts, disk
        raise CheckpointNotFoundError(f"checkpoint {name!r}: cannot download {url} ({err}); {where}") from err
    return dst


def resolve_checkpoint(filename: str | os.PathLike) -> Path:
    """The local file for ``filename``: a path, or a remote name / URL in (or downloaded into)
    the hub cache.

    Raises:
        CheckpointNotFoundError: a missing file, or a remote one that could not be downloaded.
    """
    name = os.fspath(filename)
    if name.startswith(_SCHEMES + _URL):
        return _download(checkpoint_url(name), name)
    path = Path(name).expanduser()
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint file {name!r} does not exist")
    return path


def _numpy_globals() -> list[Any]:
    """What numpy scalars and arrays in a checkpoint's ``meta`` need (MMCV pickles some)."""
    core = getattr(np, "_core", None) or np.core
    found = [np.dtype, np.ndarray, core.multiarray.scalar, core.multiarray._reconstruct]
    found += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool", "uint8", "uint32")]
    return found


# What torch's weights-only unpickler says when a well-formed pickle holds objects it refuses
# (not when the bytes are no pickle at all: "Unsupported operand", "String is too long", ...).
_UNSAFE_MARKERS = (
    "GLOBAL ",
    "is blocked",
    "unrecognized function",
    "allowlisted",
    "add_safe_globals",
    "must be imported to load",
)


def _checkpoint_kind(path: Path) -> str | None:
    """``'zip'`` (``torch.save``), ``'pickle'`` (its legacy format, or a plain pickle of
    protocol 2+), ``'tar'`` (torch < 0.4) by the file's first bytes; None for anything else."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x80"):
        return "pickle"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def read_checkpoint(
    filename: str | os.PathLike, map_location: str | torch.device | None = "cpu", weights_only: bool = True
) -> Any:
    """Unpickle a checkpoint file (a path, remote name or URL).

    ``weights_only=True`` allows tensors, containers, numbers, strings and numpy values only;
    anything else raises :class:`UnsafeCheckpointError` naming the file and the object, and the
    file is loaded only with ``weights_only=False`` (do that only for files you trust).

    Raises:
        CheckpointNotFoundError: see :func:`resolve_checkpoint`.
        ValueError: the file is no PyTorch checkpoint (neither a zip archive nor a pickle by its
            first bytes: an image, a text file), or a corrupt or truncated one, whatever the
            unpickler raised (``KeyError``, ``EOFError``, ``UnpicklingError``, ``RuntimeError``).
        UnsafeCheckpointError: a well-formed checkpoint with objects a weights-only load refuses.
    """
    path = resolve_checkpoint(filename)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes), not a checkpoint")
    if _checkpoint_kind(path) is None:
        with open(path, "rb") as f:
            head = f.read(8)
        raise ValueError(
            f"{path}: not a PyTorch checkpoint: it starts with {head!r}, where a checkpoint is a zip "
            "archive (b'PK\\x03\\x04', torch.save) or a pickle (b'\\x80', torch.save's legacy format)"
        )
    try:
        if not weights_only:
            return torch.load(path, map_location=map_location, weights_only=False)
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if not weights_only or not any(m in str(err) for m in _UNSAFE_MARKERS):
            raise ValueError(
                f"{path}: not a PyTorch checkpoint, or a corrupt or truncated one ({_first_line(err)})"
            ) from err
        raise UnsafeCheckpointError(
            f"{path} holds objects that a weights-only load refuses ({_first_line(err)}). If you trust "
            "this file, load it with weights_only=False"
        ) from err
    except RuntimeError as err:
        if "deserialize object on" in str(err):  # map_location: a CUDA checkpoint on a CPU machine
            raise RuntimeError(f"{path}: {err}") from err
        raise ValueError(
            f"{path}: not a PyTorch checkpoint, or a corrupt or truncated one ({_first_line(err)})"
        ) from err
    except (OSError, MemoryError):
        raise
    except Exception as err:  # the unpickler raises KeyError, EOFError, IndexError ... on garbage
        raise ValueError(
            f"{path}: not a PyTorch checkpoint, or a corrupt or truncated one "
            f"({type(err).__name__}: {_first_line(err)})"
        ) from err


def _first_line(err: BaseException) -> str:
    """The gist of ``err``'s message (torch's run over many lines): the weights-only
    unpickler's own error where torch quotes it, else the first non-empty line."""
    text = str(err)
    if "WeightsUnpickler error: " in text:
        text = text.split("WeightsUnpickler error: ", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def extract_state_dict(checkpoint: Any, name: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict of an unpickled checkpoint: its ``state_dict`` (MMCV) or ``model`` entry,
    or the checkpoint itself; an ``mmcls://`` checkpoint's backbone keys, unprefixed."""
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    elif isinstance(checkpoint, dict) and "model" in checkpoint and isinstance(checkpoint["model"], dict):
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, dict):
        raise TypeError(f"{name}: no state dict in the checkpoint (got {type(checkpoint).__name__})")
    if name.startswith("mmcls://"):  # an mmcls checkpoint holds a whole classifier
        checkpoint = {k[9:]: v for k, v in checkpoint.items() if k.startswith("backbone.")}
    return checkpoint


#: buffers that hold no weights, only counters: the same shape in every model (a scalar), so
#: that they "fit" any checkpoint with BatchNorms in it; they never count as a fit.
BOOKKEEPING_BUFFERS = ("num_batches_tracked",)

#: a lenient load that fits under this share of the model's parameter elements is an error;
#: under ``MOSTLY_UNLOADED`` it warns that most of the model keeps its initial values.
MIN_LOADED_FRACTION = 0.1
MOSTLY_UNLOADED = 0.5


def _bookkeeping(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in BOOKKEEPING_BUFFERS


@dataclass
class StateDictMatch:
    """How a state dict fits a module: keys loaded, and those that did not fit.

    ``loaded_numel`` / ``total_numel``: the parameter elements that the fitting keys hold, and
    the module's (None where not computed); ``not_loaded``: the module's parameters left at their
    initial values (missing or shape-mismatched); ``counters``: how many of the ``loaded`` keys are
    bookkeeping buffers (``num_batches_tracked``), which fit any model with as many BatchNorms."""

    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: checkpoint (a, b) vs model (c, d)"
    loaded_numel: int | None = None
    total_numel: int | None = None
    not_loaded: list[str] = field(default_factory=list)
    counters: int = 0  # of ``loaded``: bookkeeping buffers (num_batches_tracked)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def loaded_fraction(self) -> float | None:
        """The share of the module's parameter elements that the checkpoint loads (None: unknown;
        1.0 for a module without parameters)."""
        if self.loaded_numel is None or self.total_numel is None:
            return None
        return self.loaded_numel / self.total_numel if self.total_numel else 1.0

    @property
    def mostly_unloaded(self) -> bool:
        """Under half of the module's parameter elements loaded (they keep their initial values)."""
        fraction = self.loaded_fraction
        return fraction is not None and fraction < MOSTLY_UNLOADED

    def not_loaded_modules(self, first: int = 6) -> str:
        """The modules whose parameters were not loaded, by the first two parts of their paths:
        ``backbone.layer1 (12 tensors), neck.lateral_convs (8 tensors), ...``."""
        groups: dict[str, int] = {}
        for key in self.not_loaded:
            parts = key.split(".")
            name = ".".join(parts[:2]) if len(parts) > 2 else parts[0]
            groups[name] = groups.get(name, 0) + 1
        names = [f"{g} ({n} tensor{'s' if n > 1 else ''})" for g, n in groups.items()]
        more = f", ... ({len(names) - first} more)" if len(names) > first else ""
        return ", ".join(names[:first]) + more

    def summary(self, first: int = 5) -> str:
        """``loaded N keys; M missing (a, b, ...); ...``: counts and the first keys of each kind,
        and, when not exact, the share of the parameters loaded and the modules left out."""

        def part(what: str, keys: list[str]) -> str:
            more = " ..." if len(keys) > first else ""
            return f"{len(keys)} {what}" + (f" ({', '.join(keys[:first])}{more})" if keys else "")

        kinds = (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("shape-mismatched", self.mismatched),
        )
        counters = f" ({self.counters} of them num_batches_tracked counters)" if self.counters else ""
        text = f"loaded {self.loaded} keys{counters}; " + "; ".join(part(w, k) for w, k in kinds)
        fraction = self.loaded_fraction
        if fraction is not None and not self.exact:
            text += f"; {_percent(fraction)} of the parameters loaded"
            if self.not_loaded:
                text += f", not loaded (initial values): {self.not_loaded_modules()}"
        return text


def _percent(fraction: float) -> str:
    """``42%``, ``0.4%``: never 0% or 100% for a share that is neither."""
    if 0 < fraction < 0.01:
        return f"{fraction * 100:.1g}%"
    if 0.99 < fraction < 1:
        return f"{fraction * 100:.1f}%"
    return f"{fraction * 100:.0f}%"


def load_state_dict(
    module: nn.Module,
    state_dict: dict[str, torch.Tensor],
    strict: bool = True,
    source: str = "checkpoint",
    min_loaded: float = MIN_LOADED_FRACTION,
) -> StateDictMatch:
    """Load ``state_dict`` into ``module`` (a leading ``module.`` of DDP is stripped).

    ``strict``: any missing, unexpected or shape-mismatched key raises
    :class:`CheckpointMismatchError` (nothing is loaded). Otherwise what fits is loaded and the
    rest reported in one warning (which says "most of ... is not loaded" and names the modules
    left at their initial values when under half of the parameters load). Even when not strict,
    a state dict that fits almost nothing raises :class:`CheckpointMismatchError`: one of which
    no key fits (``num_batches_tracked`` counters do not count), or of which the fitting
    parameters hold under ``min_loaded`` (a share in [0, 1), default 10%) of the module's
    parameter elements. ``source`` names the checkpoint in messages.
    """
    if isinstance(min_loaded, bool) or not isinstance(min_loaded, (int, float)) or not 0 <= min_loaded < 1:
        raise ValueError(f"min_loaded must be a share in [0, 1), got {min_loaded!r}")
    state_dict = OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state_dict.items())
    own = module.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
    ]
    bad = {line.split(":", 1)[0] for line in mismatched}
    fitting = OrderedDict((k, v) for k, v in state_dict.items() if k in own and k not in bad)
    params = {k: p.numel() for k, p in module.named_parameters() if k in own}
    report = StateDictMatch(
        loaded=len(fitting),
        missing=[k for k in own if k not in state_dict and not _bookkeeping(k)],
        unexpected=[k for k in state_dict if k not in own],
        mismatched=mismatched,
        loaded_numel=sum(n for k, n in params.items() if k in fitting),
        total_numel=sum(params.values()),
        not_loaded=[k for k in params if k not in fitting],
        counters=sum(1 for k in fitting if _bookkeeping(k)),
    )
    what = f"{source} does not fit {type(module).__name__}"
    if report.loaded == report.counters and own:
        counters = " (num_batches_tracked counters aside)" if report.counters else ""
        raise CheckpointMismatchError(f"{what}: not one key matches{counters}; {report.summary()}")
    fraction = report.loaded_fraction
    if not strict and fraction is not None and fraction < min_loaded:
        raise CheckpointMismatchError(
            f"{what}: almost nothing fits, only {_percent(fraction)} of its parameters "
            f"({report.loaded_numel} of {report.total_numel} elements; a partial load needs "
            f"{_percent(min_loaded)}, min_loaded) would be loaded, the rest would run from their "
            f"initial values; {report.summary()}"
        )
    if strict and not report.exact:
        raise CheckpointMismatchError(f"{what}: {report.summary()} (strict=False loads what fits)")
    module.load_state_dict(fitting, strict=False)
    if not report.exact:
        most = f"most of {type(module).__name__} is not loaded; " if report.mostly_unloaded else ""
        warnings.warn(f"{most}{what}: {report.summary()}", stacklevel=2)
    return report


def load_checkpoint(
    module: nn.Module,
    filename: str | os.PathLike,
    map_location: str | torch.device | None = "cpu",
    strict: bool = True,
    prefix: str | None = None,
    weights_only: bool = True,
    min_loaded: float = MIN_LOADED_FRACTION,
) -> dict[str, Any]:
    """Load a checkpoint (local file, ``torchvision://`` / ``open-mmlab://`` / ``mmcls://`` name or
    URL) into ``module`` (MMCV's ``load_checkpoint``, strict by default); returns the checkpoint
    (a dict with ``state_dict``). To see how it fitted, use :func:`read_checkpoint`,
    :func:`extract_state_dict` and :func:`load_state_dict`, which returns a :class:`StateDictMatch`.

    Args:
        prefix: load only keys starting with ``prefix + '.'``, with the prefix removed.
        strict / min_loaded / weights_only: see :func:`load_state_dict` and :func:`read_checkpoint`.
    """
    name = os.fspath(filename)
    checkpoint = read_checkpoint(name, map_location=map_location, weights_only=weights_only)
    state_dict = extract_state_dict(checkpoint, name)
    if prefix:
        p = prefix if prefix.endswith(".") else prefix + "."
        state_dict = {k[len(p) :]: v for k, v in state_dict.items() if k.startswith(p)}
        if not state_dict:
            raise KeyError(f"no key of {name} starts with {p!r}")
    load_state_dict(module, state_dict, strict=strict, source=name, min_loaded=min_loaded)
    return (
        checkpoint
        if isinstance(checkpoint, dict) and "state_dict" in checkpoint
        else {"state_dict": state_dict}
    )
