"""``python -m rbox_ops build`` precompiles the kernels into the cache; ``info`` shows the state."""

from __future__ import annotations

import argparse
import sys

import torch

from . import _backend, _build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rbox_ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser(
        "build", help="compile (or load from the cache) the CPU and, with CUDA torch, CUDA kernels"
    )
    b.add_argument("--no-cuda", action="store_true", help="build the CPU kernels only")
    b.add_argument("-v", "--verbose", action="store_true", help="show the compiler's output")
    sub.add_parser("info", help="torch, cache folder and the backend of each device")
    args = parser.parse_args(argv)
    if args.command == "build":
        cuda = False if args.no_cuda else None
        for kind, path in _backend.build(cuda=cuda, verbose=args.verbose).items():
            print(f"{kind}: {path}")
        return 0
    print(f"torch {torch.__version__} (cuda {torch.version.cuda}), cache {_build.cache_root()}")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        print(f"{dev}: {_backend.backend(dev)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
