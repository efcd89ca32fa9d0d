"""Which implementation runs an op: compiled kernels ('cpu', 'cuda') or pure torch ('torch').

Nothing compiles at import. The first op call on a device (or ``build()``) loads the cached
library or compiles it; if that fails, ops on that device run the pure-torch code and ONE
warning per kind of library names the reason. ``RBOX_OPS_BACKEND=torch|cpu|cuda`` forces
a backend; forcing one that cannot load raises.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import warnings

import torch

from . import _build
from ._ops import ALL_OPS

BACKENDS = ("torch", "cpu", "cuda")
_lock = threading.RLock()
_loaded: dict[str, bool] = {}  # kind -> library loaded
_reasons: dict[str, str] = {}  # kind -> why it is not


def forced_backend() -> str | None:
    """The backend named by ``$RBOX_OPS_BACKEND`` (None when unset or 'auto')."""
    value = os.environ.get("RBOX_OPS_BACKEND", "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in BACKENDS:
        raise ValueError(f"RBOX_OPS_BACKEND={value!r}: expected one of {', '.join(BACKENDS)} or 'auto'")
    return value


def _register_python_kernels() -> None:
    for op in ALL_OPS:
        importlib.import_module(f"rbox_ops.{op}").register_kernels()


def _ensure(kind: str, verbose: bool = False) -> None:
    """Load the ``kind`` library (after the ``schemas`` one, which every kind needs), raising on failure.

    Loading ``schemas`` also registers the fake kernels and autograd (Python): the kernel
    libraries then only add implementations, so ``cuda`` loads without ``cpu`` and vice versa.
    Cached, failures included.
    """
    with _lock:
        if kind != "schemas":
            _ensure("schemas", verbose)
        if _loaded.get(kind):
            return
        if kind in _reasons:
            raise RuntimeError(_reasons[kind])
        try:
            _build.load_library(kind, verbose=verbose)
        except Exception as exc:
            text = str(exc).strip() or type(exc).__name__
            _reasons[kind] = text if len(text) < 2000 else text[:1000] + "\n...\n" + text[-1000:]
            raise RuntimeError(_reasons[kind]) from exc
        if kind == "schemas":
            _register_python_kernels()
        _loaded[kind] = True


def _resolve(device_type: str) -> bool:
    forced = forced_backend()
    if forced == "torch":
        return False
    if forced is not None:  # the forced library must load, whatever the device (and cpu for CPU tensors)
        for kind in dict.fromkeys((forced, "cpu" if device_type == "cpu" else forced)):
            try:
                _ensure(kind)
            except RuntimeError as exc:
                raise RuntimeError(
                    f"RBOX_OPS_BACKEND={forced}, but the compiled {kind} kernels are unavailable: {exc}"
                ) from exc
        # 'cpu': compiled on CPU tensors, torch elsewhere; 'cuda': compiled on CPU and CUDA tensors
        return device_type == "cpu" or (device_type == "cuda" and forced == "cuda")
    if device_type not in ("cpu", "cuda"):
        return False
    try:
        _ensure(device_type)
        return True
    except RuntimeError as exc:
        if not _reasons.get(f"warned-{device_type}"):
            _reasons[f"warned-{device_type}"] = "1"
            warnings.warn(
                f"rbox_ops: compiled {device_type} kernels are unavailable ({str(exc).splitlines()[0]}); "
                "using the pure-torch implementations (slower). rbox_ops.build() shows the full error.",
                RuntimeWarning,
                stacklevel=3,
            )
        return False


_decided: dict[tuple[str, str | None], bool] = {}


def use_compiled(device: torch.device) -> bool:
    """Whether ops on ``device`` run the compiled kernels (loads or builds them on first call)."""
    key = (device.type, os.environ.get("RBOX_OPS_BACKEND"))
    if key not in _decided:
        # Keep dynamo out of loading and compiling. torch.compiler.disable imports torch._dynamo
        # (2 s), so only apply it when dynamo is loaded (it is whenever something is compiling).
        resolve = torch.compiler.disable(_resolve) if "torch._dynamo" in sys.modules else _resolve
        _decided[key] = resolve(device.type)
    return _decided[key]


def backend(device: str | torch.device | None = None) -> str:
    """What runs ops on ``device`` (default: cuda if available, else cpu): 'cpu', 'cuda' or 'torch'.

    Resolving it loads (or compiles) the kernels, as the first op call would.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    return device.type if use_compiled(device) else "torch"


def build(cuda: bool | None = None, verbose: bool = False) -> dict[str, str]:
    """Compile (or load from the cache) the kernels now; raises with the compiler's message on failure.

    ``cuda=None`` builds the CUDA library when torch has CUDA. Returns {kind: library path}, kinds
    'schemas', 'cpu' and maybe 'cuda'.
    """
    if cuda is None:
        cuda = torch.version.cuda is not None
    kinds = _build.KINDS if cuda else ("schemas", "cpu")
    out = {}
    for kind in kinds:
        _ensure(kind, verbose=verbose)
        out[kind] = str(_build.library_path(kind))
    return out
