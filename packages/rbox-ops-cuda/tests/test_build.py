"""Builder, loader, backend selection, fallback warning, nvcc compile check, fake kernels."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import rbox_ops
from rbox_ops import _build


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


def test_import_compiles_nothing(tmp_path):
    r = _run(
        """
        import rbox_ops, rbox_ops._backend as b, os, sys
        assert b._loaded == {} and os.listdir(os.environ["RBOX_OPS_CACHE"]) == [], b._loaded
        """,
        RBOX_OPS_CACHE=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr


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
    key = _build.build_key("cpu")
    assert key == _build.build_key("cpu") and key != _build.build_key("cuda")
    copy = tmp_path / "csrc"
    shutil.copytree(_build.CSRC, copy)
    monkeypatch.setattr(_build, "CSRC", copy)
    assert _build.build_key("cpu") == key
    header = copy / "common" / "rotated_geometry.h"
    header.write_text(header.read_text() + "\n// changed\n")
    assert _build.build_key("cpu") != key


def test_library_is_cached(built):
    assert _build.library_path("cpu").exists()
    assert rbox_ops.backend("cpu") == "cpu"
    r = _run("import rbox_ops; print(rbox_ops.backend('cpu'))")  # loads the cached library, no compile
    assert r.returncode == 0 and r.stdout.strip() == "cpu", r.stderr


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
