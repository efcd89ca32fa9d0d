"""``rdet env``: versions, devices, the ops backend and plugins: what a bug report needs."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import platform
import sys

HELP = "print versions of python, torch and rdet's packages, CUDA, the ops backend and plugins"

PACKAGES = (
    "rbox-geometry",
    "rbox-ops-cuda",
    "rdet-core",
    "rdet-data",
    "rdet-eval",
    "rdet-models",
    "rdet-apps",
)
THIRD_PARTY = ("torch", "numpy", "opencv-python-headless", "shapely")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def collect() -> dict[str, str]:
    """``name -> value`` lines of the environment report."""
    info = {"python": sys.version.split()[0], "platform": platform.platform()}
    info.update({dist: _version(dist) for dist in (*THIRD_PARTY, *PACKAGES)})
    try:
        import torch

        info["cuda available"] = str(torch.cuda.is_available())
        info["torch cuda"] = str(torch.version.cuda)
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["cuda available"] = "torch not installed"
    try:
        ops = importlib.import_module("rbox_ops")
        backend = getattr(ops, "backend", None)
        info["rbox_ops backend"] = (
            backend() if callable(backend) else "n/a (this rbox-ops-cuda has no compiled ops yet)"
        )
    except ImportError as e:
        info["rbox_ops backend"] = f"unavailable: {e}"
    from rdet_apps.commands.plugins import import_registries
    from rdet_core import list_plugins

    import_registries()
    rows = list_plugins(load=False)
    third = sorted({f"{r.distribution} {r.version}" for r in rows if r.status != "built-in"})
    info["registered names"] = str(sum(r.status == "built-in" for r in rows))
    info["plugins"] = ", ".join(third) or "none"
    return info


def run(args: argparse.Namespace) -> int:
    info = collect()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key.ljust(width)}  {value}")
    return 0
