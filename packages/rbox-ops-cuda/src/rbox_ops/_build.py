"""Compile the kernels with torch.utils.cpp_extension, cached by torch version and source hash.

One library per kind: ``schemas`` (every op's schema, ``csrc/schemas.cpp``), ``cpu`` (the
CPU kernels) and ``cuda`` (the CUDA kernels and their glue). The kernel libraries only
register implementations, so either loads alone once ``schemas`` is loaded. A library is
built once per (torch, python, sources, flags) and reused from ``$RBOX_OPS_CACHE`` (default
``~/.cache/rbox_ops``): a cached library loads without a compiler.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
from pathlib import Path

import torch

from ._ops import OPS

CSRC = Path(__file__).resolve().parent / "csrc"
# -ffp-contract=off: no FMA contraction where the host compiler would use one (aarch64, -march
# flags), so every build rounds the shared geometry as the x86-64 default does (the device code
# keeps its exact steps with mul_rn, common/rotated_geometry.h)
CXX_FLAGS = ("-O3", "-ffp-contract=off")
CUDA_FLAGS = ("-O3", "--expt-relaxed-constexpr")
KINDS = ("schemas", "cpu", "cuda")  # in load order: a kernel library needs the schemas first
_HEADER_SUFFIXES = (".h", ".cuh")


def sources(kind: str) -> list[Path]:
    """The translation units of a library: ``schemas.cpp``, or one (cpu) or two (cuda) per op."""
    if kind == "schemas":
        return [CSRC / "schemas.cpp"]
    names = {"cpu": ("{op}_cpu.cpp",), "cuda": ("{op}_cuda.cu", "{op}_cuda.cpp")}[kind]
    return [CSRC / op / n.format(op=op) for op in OPS for n in names]


def cxx_flags(kind: str) -> list[str]:
    """C++ flags of a library: the schema registration runs once at load, so it is not optimised."""
    return [] if kind == "schemas" else list(CXX_FLAGS)


def loaded_libstdcxx() -> str | None:
    """The path of the C++ runtime (``libstdc++.so.*``) mapped into this process, or None (not
    Linux, or a torch that does not use libstdc++)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.rstrip("\n").split(maxsplit=5)  # the path may hold spaces
                if len(fields) < 6 or fields[5].endswith(" (deleted)"):
                    continue
                if os.path.basename(fields[5]).startswith("libstdc++.so") and os.path.isfile(fields[5]):
                    return fields[5]
    except OSError:
        return None
    return None


def link_flags() -> list[str]:
    """Linker flags of every library: the C++ runtime that torch already loaded, by its path.

    Linked by path, the libraries use that shared runtime for every libstdc++ symbol, whatever
    the compiler driver adds after. On the H200 image (torch 2.11, g++ 13.3) the libraries
    otherwise came out with their own copy of libstdc++'s stream and locale code: a second,
    uninitialised C++ runtime in the process, and formatting an integer into an error message
    (``TORCH_CHECK(..., t.sizes())``) crashed with SIGSEGV in ``std::ostream::_M_insert<long>``.
    """
    runtime = loaded_libstdcxx()
    return [runtime] if runtime else []


def cu_sources() -> list[Path]:
    """Every ``.cu`` file (what the nvcc compile test checks)."""
    return [CSRC / op / f"{op}_cuda.cu" for op in OPS]


def cache_root() -> Path:
    """``$RBOX_OPS_CACHE``, else ``$XDG_CACHE_HOME/rbox_ops``, else ``~/.cache/rbox_ops``."""
    if os.environ.get("RBOX_OPS_CACHE"):
        return Path(os.environ["RBOX_OPS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rbox_ops"


def build_key(kind: str) -> str:
    """Hash of everything a library depends on: its sources and every header, torch, python, flags
    (the linked C++ runtime's path too).

    A kernel library's key does not follow ``schemas.cpp``, nor the other kind's sources: each
    library is rebuilt only when what it compiles changes.
    """
    h = hashlib.sha256()
    parts = (kind, torch.__version__, str(torch.version.cuda), sys.version, sys.platform, platform.machine())
    for part in (*parts, repr(cxx_flags(kind)), repr(CUDA_FLAGS), repr(link_flags()), repr(OPS)):
        h.update(part.encode() + b"\0")
    own = set(sources(kind))
    files = (p for p in CSRC.rglob("*") if p.suffix in _HEADER_SUFFIXES or p in own)
    for f in sorted(files):
        h.update(str(f.relative_to(CSRC)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def library_path(kind: str) -> Path:
    """Where the library of this kind lives in the cache (it may not exist yet)."""
    name = f"rbox_ops_{kind}_{build_key(kind)}"
    return cache_root() / name / f"{name}.so"


def _put_ninja_on_path() -> None:
    """torch looks for ``ninja`` on PATH; the ninja that pip installed beside this interpreter (a
    venv's ``bin``, not activated) or inside the ``ninja`` package counts too."""
    if shutil.which("ninja") is not None:
        return
    folders = [os.path.dirname(sys.executable)]
    try:
        import ninja  # the PyPI package: its binary lives in ninja.BIN_DIR

        folders.append(ninja.BIN_DIR)
    except (ImportError, AttributeError):
        pass
    for folder in folders:
        if shutil.which("ninja", path=folder) is not None:
            os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")
            return


def cannot_build(kind: str) -> str | None:
    """Why this machine cannot compile the ``kind`` library, or None if it may."""
    _put_ninja_on_path()
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        return f"no C++ compiler ({os.environ.get('CXX', 'c++')}) on PATH"
    from torch.utils import cpp_extension

    if not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    if kind == "cuda":
        if torch.version.cuda is None:
            return f"torch {torch.__version__} is a CPU-only build"
        if cpp_extension.CUDA_HOME is None:
            return "no CUDA toolkit found (set CUDA_HOME or put nvcc on PATH)"
    return None


def load_library(kind: str, verbose: bool = False) -> Path:
    """Load the ``kind`` library from the cache, compiling it first if needed. Raises on failure.

    A build happens in a private folder beside the library's (``<name>.build-<pid>``) and the
    finished library is moved into place with one rename: a build killed half-way (Ctrl-C, an
    out-of-memory kill, a lost machine) leaves no truncated ``.so`` that a later run would load
    (and crash on); two processes building at once each finish their own copy, and the last
    rename wins.
    """
    so = library_path(kind)
    if not so.exists():
        _build_into(so, kind, verbose)
    torch.ops.load_library(str(so))
    return so


def _build_into(so: Path, kind: str, verbose: bool) -> None:
    """Compile the ``kind`` library in a private folder and rename it to ``so``."""
    reason = cannot_build(kind)
    if reason is not None:
        raise RuntimeError(reason)
    from torch.utils import cpp_extension

    so.parent.mkdir(parents=True, exist_ok=True)
    if not verbose:
        what = "CUDA" if kind == "cuda" else "C++"
        print(
            f"rbox_ops: compiling the {what} kernels ({kind}), once per torch version, into {so.parent.parent} "
            "(about a minute; later runs load them from there)",
            file=sys.stderr,
            flush=True,
        )
    work = so.parent / f"{so.stem}.build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        # cpp_extension also loads what it built (from ``work``): the rename below keeps the
        # file (same inode), so loading ``so`` afterwards finds the library already loaded
        cpp_extension.load(
            name=so.stem,
            sources=[str(s) for s in sources(kind)],
            extra_cflags=cxx_flags(kind),
            extra_cuda_cflags=list(CUDA_FLAGS),
            extra_ldflags=link_flags(),
            extra_include_paths=[str(CSRC)],
            build_directory=str(work),
            is_python_module=False,
            verbose=verbose,
        )
        os.replace(work / so.name, so)
    finally:
        shutil.rmtree(work, ignore_errors=True)
