"""Builder, loader, backend selection, fallback warning, nvcc compile check, fake kernels."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

import rbox_ops
from rbox_ops import _build
from rbox_ops._ops import ALL_OPS


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "RBOX_OPS_BACKEND"}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


def test_every_cu_file_compiles_with_nvcc(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH: the CUDA sources were not compile-checked")
    files = _build.cu_sources()
    assert len(files) == len(_build.OPS)

    def compile_one(src):
        cmd = [
            nvcc,
            "-std=c++17",
            "-O1",
            "-I",
            str(_build.CSRC),
            "-c",
            str(src),
            "-o",
            str(tmp_path / f"{src.stem}.o"),
        ]
        return src.name, subprocess.run(cmd, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(compile_one, files))
    failed = {name: r.stderr[-3000:] for name, r in results if r.returncode != 0}
    assert not failed, failed


def test_cuda_glue_compiles_with_nvcc(tmp_path):
    """The .cpp files of the CUDA library, against torch's headers (syntax and templates, no code)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH: the CUDA glue was not compile-checked")
    from torch.utils import cpp_extension

    includes = [*cpp_extension.include_paths(), str(_build.CSRC)]
    torch_include = Path(includes[0])
    if not (torch_include / "c10" / "cuda" / "impl" / "cuda_cmake_macros.h").exists():
        # a CPU-only torch ships the c10/cuda headers without this generated one
        stub = tmp_path / "include" / "c10" / "cuda" / "impl" / "cuda_cmake_macros.h"
        stub.parent.mkdir(parents=True)
        stub.write_text("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
        includes.append(str(tmp_path / "include"))
    glue = [s for s in _build.sources("cuda") if s.suffix == ".cpp"]
    assert len(glue) == len(_build.OPS)
    unity = tmp_path / "cuda_glue.cpp"  # one translation unit: the torch headers are parsed once
    unity.write_text("".join(f'#include "{s}"\n' for s in glue))
    cmd = [nvcc, "-std=c++20", "-Xcompiler", "-fsyntax-only", *(f"-I{i}" for i in includes), "-c", str(unity)]
    r = subprocess.run([*cmd, "-o", str(tmp_path / "cuda_glue.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


def test_schemas_are_declared_once_and_kernels_only_implement():
    schemas = _build.sources("schemas")
    assert [s.name for s in schemas] == ["schemas.cpp"]
    text = schemas[0].read_text()
    assert text.count("TORCH_LIBRARY(rbox_ops, m)") == 1
    for op in ALL_OPS:  # the ops with a folder, and those that another's kernels implement
        assert f'"{op}(' in text, op
    for kind in ("cpu", "cuda"):
        files = _build.sources(kind)
        assert files and schemas[0] not in files
        assert all(f.name.endswith("_cpu.cpp") == (kind == "cpu") for f in files), files
        for f in files:
            code = f.read_text()
            assert not any(s in code for s in ("m.def(", "TORCH_LIBRARY(", "TORCH_LIBRARY_FRAGMENT(")), f


def test_cuda_library_loads_without_the_cpu_one(monkeypatch):
    from rbox_ops import _backend

    loaded: list[str] = []
    monkeypatch.setattr(_backend, "_loaded", {})
    monkeypatch.setattr(_backend, "_reasons", {})
    monkeypatch.setattr(_backend, "_register_python_kernels", lambda: loaded.append("fake+autograd"))
    monkeypatch.setattr(_build, "load_library", lambda kind, verbose=False: loaded.append(kind))
    _backend._ensure("cuda")
    assert loaded == ["schemas", "fake+autograd", "cuda"]
    _backend._ensure("cpu")
    assert loaded == ["schemas", "fake+autograd", "cuda", "cpu"]
    # forcing cuda still runs the compiled kernels on CPU tensors: the cpu library loads for those
    loaded.clear()
    monkeypatch.setattr(_backend, "_loaded", {})
    monkeypatch.setenv("RBOX_OPS_BACKEND", "cuda")
    assert _backend._resolve("cuda") and loaded == ["schemas", "fake+autograd", "cuda"]
    assert _backend._resolve("cpu") and loaded[-1] == "cpu"


def test_schemas_library_alone_registers_every_op(built):
    """What a CUDA-only process sees before any kernel: every schema, fake kernels, autograd."""
    r = _run(
        """
        import torch
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.experimental.symbolic_shapes import ShapeEnv
        from rbox_ops import _backend, _build
        from rbox_ops._ops import ALL_OPS
        _backend._ensure("schemas")
        assert _backend._loaded == {"schemas": True}, _backend._loaded
        names = [n for op in ALL_OPS for n in (op, op + "_backward") if hasattr(torch.ops.rbox_ops, n)]
        schemas = (_build.CSRC / "schemas.cpp").read_text()  # every op, and its backward where declared
        assert names == [n for op in ALL_OPS for n in (op, op + "_backward") if f'"{n}(' in schemas], names
        assert "modulated_deform_conv2d_backward" in names  # deform_conv2d's folder registers it
        for name in names:
            assert not torch._C._dispatch_has_kernel_for_dispatch_key("rbox_ops::" + name, "CPU"), name
        with FakeTensorMode(shape_env=ShapeEnv()):  # nms has a data-dependent output size
            x, rois = torch.empty(2, 4, 16, 16, requires_grad=True), torch.empty(5, 6)
            out = torch.ops.rbox_ops.roi_align_rotated(x, rois, 7, 6, 0.25, 2, True, False)
            assert out.shape == (5, 4, 7, 6)
            assert torch.autograd.grad(out.sum(), x)[0].shape == x.shape
            assert torch.ops.rbox_ops.nms_rotated(torch.empty(9, 5), torch.empty(9), 0.5, None).dim() == 1
        _backend._ensure("cpu")
        assert all(torch._C._dispatch_has_kernel_for_dispatch_key("rbox_ops::" + n, "CPU") for n in names)
        """
    )
    assert r.returncode == 0, r.stderr


def test_import_compiles_nothing(tmp_path):
    r = _run(
        """
        import rbox_ops, rbox_ops._backend as b, os, sys
        assert b._loaded == {} and os.listdir(os.environ["RBOX_OPS_CACHE"]) == [], b._loaded
        """,
        RBOX_OPS_CACHE=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr


def test_import_is_light_and_compiling_says_so(tmp_path):
    """`import rbox_ops` does not import torch._dynamo (2 s); a first build announces itself on
    stderr (the compile itself is stubbed here: it takes a minute)."""
    r = _run(
        """
        import sys
        import rbox_ops
        assert "torch._dynamo" not in sys.modules
        from torch.utils import cpp_extension
        from rbox_ops import _build
        cpp_extension.load = lambda **kw: (_ for _ in ()).throw(RuntimeError("stub: no compile"))
        try:
            _build.load_library("cpu")
        except RuntimeError as e:
            assert "stub" in str(e), e
        """,
        RBOX_OPS_CACHE=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "rbox_ops: compiling the C++ kernels (cpu), once per torch version" in r.stderr


def test_ninja_beside_the_interpreter_is_found_without_path(monkeypatch):
    """A venv's ninja counts even when the venv is not activated (its bin not on PATH)."""
    if shutil.which("ninja", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("no ninja beside this interpreter")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    _build._put_ninja_on_path()
    assert shutil.which("ninja") is not None


def test_no_compiler_falls_back_with_one_warning(tmp_path):
    r = _run(
        """
        import warnings, torch, rbox_ops
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            b = torch.tensor([[0.0, 0, 2, 2, 0], [1.0, 0, 2, 2, 0]])
            iou = rbox_ops.box_iou_rotated(b, b)
            rbox_ops.nms_rotated(b, torch.rand(2), 0.5)
            rbox_ops.roi_align_rotated(torch.rand(1, 1, 4, 4), torch.tensor([[0, 2.0, 2, 2, 2, 0]]), 2)
        mine = [w for w in caught if "rbox_ops" in str(w.message)]
        assert len(mine) == 1, [str(w.message) for w in mine]
        assert "no C++ compiler" in str(mine[0].message), mine[0].message
        assert abs(iou[0, 1].item() - 1 / 3) < 1e-6
        assert rbox_ops.backend("cpu") == "torch"
        """,
        RBOX_OPS_CACHE=str(tmp_path),
        CXX="/nonexistent/c++",
    )
    assert r.returncode == 0, r.stderr


def test_forcing_an_unavailable_backend_is_an_error(tmp_path):
    r = _run(
        """
        import torch, rbox_ops
        try:
            rbox_ops.box_iou_rotated(torch.zeros(1, 5), torch.zeros(1, 5))
        except RuntimeError as e:
            assert "RBOX_OPS_BACKEND=cpu" in str(e) and "no C++ compiler" in str(e), e
        else:
            raise AssertionError("no error")
        """,
        RBOX_OPS_CACHE=str(tmp_path),
        CXX="/nonexistent/c++",
        RBOX_OPS_BACKEND="cpu",
    )
    assert r.returncode == 0, r.stderr


def test_forced_backends(built, monkeypatch):
    monkeypatch.setenv("RBOX_OPS_BACKEND", "torch")
    assert rbox_ops.backend("cpu") == "torch"
    monkeypatch.setenv("RBOX_OPS_BACKEND", "cpu")
    assert rbox_ops.backend("cpu") == "cpu"
    monkeypatch.setenv("RBOX_OPS_BACKEND", "gpu")
    with pytest.raises(ValueError, match="RBOX_OPS_BACKEND='gpu'"):
        rbox_ops.backend("cpu")
    if torch.version.cuda is None:
        monkeypatch.setenv("RBOX_OPS_BACKEND", "cuda")
        with pytest.raises(RuntimeError, match="RBOX_OPS_BACKEND=cuda.*CPU-only build"):
            rbox_ops.backend("cpu")


def test_cache_key_follows_the_sources(tmp_path, monkeypatch):
    def keys() -> dict[str, str]:
        return {kind: _build.build_key(kind) for kind in _build.KINDS}

    def change(path: str) -> None:
        (copy / path).write_text((copy / path).read_text() + "\n// changed\n")

    before = keys()
    assert before == keys() and len(set(before.values())) == 3
    copy = tmp_path / "csrc"
    shutil.copytree(_build.CSRC, copy)
    monkeypatch.setattr(_build, "CSRC", copy)
    assert keys() == before
    change("roi_align/roi_align_cuda.cu")  # a library follows its own sources only
    after = keys()
    assert after["cuda"] != before["cuda"] and after["cpu"] == before["cpu"]
    change("schemas.cpp")
    assert keys()["schemas"] != before["schemas"] and keys()["cpu"] == before["cpu"]
    change("common/rotated_geometry.h")  # and every header
    assert all(keys()[kind] != after[kind] for kind in _build.KINDS)


def test_library_is_cached(built):
    assert _build.library_path("cpu").exists()
    assert rbox_ops.backend("cpu") == "cpu"
    r = _run("import rbox_ops; print(rbox_ops.backend('cpu'))")  # loads the cached library, no compile
    assert r.returncode == 0 and r.stdout.strip() == "cpu", r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libstdc++ and /proc/self/maps: Linux")
def test_libraries_use_the_cpp_runtime_torch_loaded(built):
    """Each library links the libstdc++ that torch loaded, by path, and holds no copy of its
    stream code: on the H200 image a copy (a second, uninitialised C++ runtime) made every
    TORCH_CHECK that formats a size crash with SIGSEGV."""
    runtime = _build.loaded_libstdcxx()
    assert runtime is not None and Path(runtime).is_file() and Path(runtime).name.startswith("libstdc++.so")
    assert _build.link_flags() == [runtime]
    nm = shutil.which("nm")
    assert nm is not None, "nm (binutils) is installed wherever the libraries are compiled"
    for kind in ("schemas", "cpu"):
        so = _build.library_path(kind)
        needed = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
        assert "[libstdc++.so.6]" in needed, needed
        defined = subprocess.run([nm, "-C", "--defined-only", str(so)], capture_output=True, text=True).stdout
        # what libstdc++.so defines out of line (inline operators' local clones are normal)
        own = [line for line in defined.splitlines() if "std::codecvt" in line or "::_M_insert<" in line]
        assert not own, f"{so.name} holds libstdc++ code: {own[:3]}"
    # the behaviour that crashed there: a C++ error message that formats integers
    with pytest.raises(RuntimeError, match=r"polygons must have shape \(M, 8\), got \[3, 6\]"):
        torch.ops.rbox_ops.points_in_polygons(torch.zeros(2, 2), torch.zeros(3, 6))


def test_fake_kernels_trace(built):
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        b = torch.empty(7, 5)
        assert torch.ops.rbox_ops.box_iou_rotated(b, torch.empty(3, 5), 0, False).shape == (7, 3)
        x, rois = torch.empty(2, 4, 16, 16), torch.empty(5, 6)
        assert torch.ops.rbox_ops.roi_align_rotated(x, rois, 7, 6, 0.25, 2, True, False).shape == (5, 4, 7, 6)
        assert torch.ops.rbox_ops.roi_align(x, rois[:, :5], 7, 7, 0.25, 2, True).shape == (5, 4, 7, 7)


def test_torch_compile_and_export(built, monkeypatch):
    monkeypatch.delenv("RBOX_OPS_BACKEND", raising=False)
    x = torch.rand(2, 4, 16, 16, requires_grad=True)
    rois = torch.tensor([[0, 20.0, 24.0, 16.0, 8.0, 0.3], [1, 30.0, 24.0, 16.0, 8.0, -0.3]])
    b = torch.rand(10, 5) * 20 + 1

    def f(x, rois, b):
        return rbox_ops.roi_align_rotated(x, rois, 7, 0.25, 2).sum() + rbox_ops.box_iou_rotated(b, b).sum()

    ref = f(x, rois, b)
    (g_ref,) = torch.autograd.grad(ref, x)
    out = torch.compile(f, backend="aot_eager", fullgraph=True)(x, rois, b)
    (g,) = torch.autograd.grad(out, x)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(g, g_ref)

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = rbox_ops.RoIAlignRotated(out_size=7, sample_num=2, clockwise=True, spatial_scale=0.25)

        def forward(self, x, rois, boxes, scores):
            return self.pool(x, rois), rbox_ops.nms_rotated(boxes, scores, 0.5)[1]

    ep = torch.export.export(Head(), (x.detach(), rois, b, torch.rand(10)))
    assert "rbox_ops.roi_align_rotated" in ep.graph_module.code
    assert "rbox_ops.nms_rotated" in ep.graph_module.code


def test_cli_info(built):
    r = _run("import sys; from rbox_ops.__main__ import main; sys.exit(main(['info']))")
    assert r.returncode == 0 and "cpu: cpu" in r.stdout, r.stderr


def test_a_killed_build_leaves_no_library(tmp_path):
    """A build that dies half-way (here: the compiler step writes part of the library, then
    fails) leaves nothing at the library's path and no build folder: the next run builds again
    instead of loading a truncated ``.so``."""
    r = _run(
        """
        import os
        from pathlib import Path
        from torch.utils import cpp_extension
        from rbox_ops import _build

        def half_build(name, build_directory, **kw):
            Path(build_directory, name + ".so").write_bytes(b"\\x7fELF truncated")
            raise KeyboardInterrupt  # as Ctrl-C in the middle of the link

        cpp_extension.load = half_build
        try:
            _build.load_library("cpu")
        except KeyboardInterrupt:
            pass
        so = _build.library_path("cpu")
        assert not so.exists(), so
        assert os.listdir(so.parent) == [], os.listdir(so.parent)
        """,
        RBOX_OPS_CACHE=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
