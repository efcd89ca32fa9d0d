#!/usr/bin/env python3
"""Set up the development environment and run rdet's main job or its tests.

    python3 dev.py run      # set up (if needed), then train + evaluate + draw on the bundled default
    python3 dev.py test     # set up (if needed), then run every package's tests
    python3 dev.py wheels   # build every package and plugin as a wheel into dist/ (no dev set-up)

Set-up creates ``.venv`` beside this file (or reuses it) and installs every package under
``packages/`` and every plugin under ``plugins/`` in editable mode, with the CPU build of
PyTorch pinned. It records a fingerprint of what it installed and does nothing the next time
unless a ``pyproject.toml`` or this file changed, so both commands are quick when nothing did.
Only the standard library is used here: the machine needs nothing but Python 3.11 and pip.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("RDET_VENV", ROOT / ".venv"))
STAMP = VENV / ".rdet-setup-stamp"

# The CPU build of torch lies on disk for `pip install torch==2.13.0`; a bare `torch` pulls a
# multi-GB CUDA build. The packages themselves ask for a range (torch>=2.13, what the tests run on).
TORCH_PIN = "torch==2.13.0"
BUILD_TOOLS = ["hatchling>=1.18", "pip>=23"]
# matplotlib: the tests of the `plot` extras; shapely, opencv: cross-checks in rbox-geometry tests
DEV_TOOLS = [
    "pytest>=8",
    "pytest-benchmark>=4",
    "ruff>=0.6",
    "matplotlib>=3.5",
    "shapely>=2.0",
    "opencv-python-headless>=4.6",
    "httpx>=0.27",  # the serve tests' HTTP client
]


def _project_dirs() -> list[Path]:
    """Every installable project: packages in dependency order, then plugins."""
    order = [
        "rbox-geometry",
        "rdet-core",
        "rbox-ops-cuda",
        "rdet-eval",
        "rdet-deploy",
        "rdet-data",
        "rdet-models",
        "rdet-apps",
    ]
    packages = [ROOT / "packages" / name for name in order]
    extra = sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml") if p.parent not in packages)
    plugins = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    return [p for p in packages if (p / "pyproject.toml").exists()] + extra + plugins


def _fingerprint(projects: list[Path]) -> str:
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(sys.version.encode())
    for project in projects:
        digest.update(str(project.relative_to(ROOT)).encode())
        digest.update((project / "pyproject.toml").read_bytes())
    return digest.hexdigest()


#: extras the tests do not install, each a large tree of dependencies that no test needs: the
#: experiment trackers, whose hooks the tests drive through stand-in modules (rdet-apps'
#: test_logger_hooks_extra.py), and albumentations (rdet-data's test_albu.py, the same way)
NOT_INSTALLED_EXTRAS = frozenset({"wandb", "mlflow", "tensorboard", "albu"})


def _with_extras(project: Path) -> str:
    """``path[extra1,extra2]`` for every optional-dependency group of the project but
    :data:`NOT_INSTALLED_EXTRAS`, else ``path``."""
    with open(project / "pyproject.toml", "rb") as f:
        groups = tomllib.load(f).get("project", {}).get("optional-dependencies", {})
    extras = sorted(set(groups) - NOT_INSTALLED_EXTRAS)
    return f"{project}[{','.join(extras)}]" if extras else str(project)


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _pip(*args: str) -> None:
    cmd = [str(_venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    print("+", " ".join(cmd[3:]), flush=True)
    subprocess.run(cmd, check=True)


def setup() -> Path:
    """Create or refresh the virtual environment; return its python."""
    projects = _project_dirs()
    fingerprint = _fingerprint(projects)
    if STAMP.exists() and STAMP.read_text() == fingerprint and _venv_python().exists():
        return _venv_python()
    if not _venv_python().exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    _pip(*BUILD_TOOLS, TORCH_PIN, *DEV_TOOLS)
    # Every extra too (e2cnn for ReDet, onnx/onnxruntime for export, the web server...): the tests use them.
    editable = [arg for project in projects for arg in ("-e", _with_extras(project))]
    # No build isolation: hatchling is already in the venv, and C++ extensions (rbox-ops-cuda)
    # must compile against the torch installed here, not a fresh one in an isolated build env.
    _pip("--no-build-isolation", TORCH_PIN, *editable)
    STAMP.write_text(fingerprint)
    return _venv_python()


def wheels(out: Path) -> list[Path]:
    """Build a wheel of every package and plugin into ``out`` (pure-python wheels: rbox-ops-cuda
    ships its C++/CUDA sources and compiles them on first use). Needs only pip: the build
    backend (hatchling) goes into a small build venv of its own, not the dev set-up."""
    build_venv = ROOT / ".venv-build"
    python = build_venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(build_venv)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", *BUILD_TOOLS], check=True)
    out.mkdir(parents=True, exist_ok=True)
    projects = [str(p) for p in _project_dirs()]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), *projects], check=True)
    built = sorted(out.glob("*.whl"))
    for wheel in built:
        print(wheel.relative_to(ROOT) if wheel.is_relative_to(ROOT) else wheel)
    return built


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "setup", "wheels"}:
        print(__doc__.strip().split("\n\n")[0], file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "wheels":
        wheels(Path(rest[0]).resolve() if rest else ROOT / "dist")
        return 0
    python = str(setup())
    if command == "setup":
        return 0
    if command == "test":
        return subprocess.call([python, "-m", "pytest", *rest], cwd=ROOT)
    return subprocess.call([python, "-m", "rdet_apps", "demo", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
