"""Where does a C++ error crash on the GPU image? (issue 15: TORCH_CHECK from rbox_ops killed the
process with SIGSEGV on the H200 image, torch 2.11+cu130; it raises RuntimeError here.)

    python benchmarks/gpu_diag/diag.py BUILD_DIR

Builds ``diag_ext.cpp`` (small ops that throw, with the flags of rbox_ops' cpu library) into
BUILD_DIR, then runs each case in its own process and prints its exit status and last line:
torch's own C++ error (with and without CUDA initialised), a catch inside our library, a
TORCH_CHECK and a std::runtime_error thrown from it, a TORCH_CHECK with torch's backtrace
capture turned off, and an rbox_ops op with only the cpu library and with all three loaded.
How to read it: if torch's own error crashes too, the image is at fault (a preloaded unwinder or
second C++ runtime, TORCH_SHOW_CPP_STACKTRACES); if only ``no_backtrace`` survives, the crash is
in the backtrace torch records when it builds the error, not in the throw.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CASES = {
    "torch_own_error": "torch.zeros(2) @ torch.zeros(3)",
    "torch_own_error_after_cuda_init": (
        "torch.cuda.init() if torch.cuda.is_available() else None; torch.zeros(2) @ torch.zeros(3)"
    ),
    "catch_inside_our_so": "assert torch.ops.rbox_diag.catch_inside() == 1; print('caught inside')",
    "torch_check_from_our_so": "torch.ops.rbox_diag.throw_torch_check(torch.zeros(2))",
    "std_error_from_our_so": "torch.ops.rbox_diag.throw_std(torch.zeros(2))",
    "torch_check_no_backtrace": (
        "torch.ops.rbox_diag.no_backtrace(); torch.ops.rbox_diag.throw_torch_check(torch.zeros(2))"
    ),
    # a prebuilt extension's C++ error (torchvision's nms checks its sizes): if it raises while
    # ours crash, the libraries built on the image are at fault, not torch's error path
    "torchvision_prebuilt_check": (
        "import torchvision; torch.ops.torchvision.nms(torch.zeros(3, 4), torch.zeros(2), 0.5)"
    ),
    "rbox_op_cpu_lib_only": (
        "import rbox_ops; rbox_ops.build(cuda=False); "
        "torch.ops.rbox_ops.points_in_polygons(torch.zeros(2, 2), torch.zeros(3, 6))"
    ),
    "rbox_op_all_libs": (
        "import rbox_ops; rbox_ops.build(); "
        "torch.ops.rbox_ops.points_in_polygons(torch.zeros(2, 2), torch.zeros(3, 6))"
    ),
}
PRELUDE = "import sys, torch, faulthandler\nfaulthandler.enable()\ntorch.ops.load_library(sys.argv[1])\n"


def build(
    build_dir: Path,
    name: str = "rbox_diag_ext",
    ldflags: list[str] | None = None,
    namespace: str = "rbox_diag",
) -> Path:
    """Compile diag_ext.cpp into ``build_dir`` (its ops in ``torch.ops.<namespace>``); the library's path."""
    from torch.utils import cpp_extension

    build_dir.mkdir(parents=True, exist_ok=True)
    cpp_extension.load(
        name=name,
        sources=[str(Path(__file__).with_name("diag_ext.cpp"))],
        extra_cflags=["-O3", f"-DDIAG_NS={namespace}"],
        extra_ldflags=ldflags or [],
        build_directory=str(build_dir),
        is_python_module=False,
    )
    return build_dir / f"{name}.so"


def main() -> int:
    from rbox_ops._build import link_flags

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "gpu_out/diag_build")
    so = build(root / "plain")
    # linked as rbox_ops links its libraries: the C++ runtime torch loaded, by its path
    linked = build(root / "linked", "rbox_diag_ext_linked", link_flags(), "rbox_diag_linked")
    print("link_flags:", link_flags(), flush=True)
    # the same library from another file system (the checkout is a copied tree; /dev/shm is tmpfs)
    shm = Path("/dev/shm/rbox_diag_ext.so")
    shutil.copy(so, shm)
    runs = [(name, body, so) for name, body in CASES.items()]
    runs.append(("torch_check_from_our_so_in_shm", CASES["torch_check_from_our_so"], shm))
    linked_case = CASES["torch_check_from_our_so"].replace("rbox_diag.", "rbox_diag_linked.")
    runs.append(("torch_check_linked_runtime", linked_case, linked))

    def run(body: str, lib: Path) -> subprocess.CompletedProcess:
        code = f"{PRELUDE}try:\n    {body}\nexcept RuntimeError as e:\n    print('RuntimeError:', str(e).splitlines()[0])\n"
        return subprocess.run(
            [sys.executable, "-c", code, str(lib)], capture_output=True, text=True, timeout=120
        )

    with ThreadPoolExecutor(8) as pool:  # each case is its own process; they run side by side
        results = list(pool.map(lambda r: run(*r[1:]), runs))
    shm.unlink(missing_ok=True)
    crashed = 0
    for (name, _, _), r in zip(runs, results):
        tail = (r.stdout + r.stderr).strip().splitlines()[-1:]
        crashed += r.returncode != 0
        print(f"{name:34s} rc={r.returncode:4d}  {tail[0] if tail else ''}", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
