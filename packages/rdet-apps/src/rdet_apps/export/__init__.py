"""``export_onnx``: an rdet detector as an ONNX model of standard operators.

The graph (:class:`~rdet_apps.export.graph.ExportGraph`) takes padded normalised images ``img``
(N, 3, H, W) and their sizes before padding ``img_shape`` (N, 2) int64 ``(H, W)`` (where the boxes
are clamped, as eager inference clamps them) and outputs the candidates before NMS (``boxes``,
``scores``, ``score_factors``);
the file's metadata (``rdet``: JSON, :func:`~rdet_apps.export.spec.runtime_spec`) tells
``rdet_deploy`` the test pipeline and the NMS settings. The input size is fixed, or free with
``dynamic=True`` (:mod:`rdet_apps.export.dynamic`). Needs the ``export`` extra (onnx).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from rdet_apps.export.dynamic import (
    IMAGE_INPUTS,
    IMAGE_OUTPUTS,
    check_dynamic_graph,
    dynamic_axes,
    probe_shape,
    scan_over_batch,
)
from rdet_apps.export.graph import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    ExportGraph,
    UnsupportedModelError,
    check_exportable,
)
from rdet_apps.export.spec import SPEC_KEY, UnsupportedPipelineError, default_input_shape, runtime_spec

__all__ = ["OPSET", "UnsupportedModelError", "UnsupportedPipelineError", "export_onnx"]

#: ONNX opset of the exported graphs (ONNX Runtime >= 1.11 runs it)
OPSET = 17


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError as e:
        raise ImportError("ONNX export needs the export extra: pip install 'rdet-apps[export]'") from e
    return onnx


@contextlib.contextmanager
def _pure_torch_ops() -> Iterator[None]:
    """rbox_ops' pure-torch implementations (plain tensor maths) instead of the compiled kernels,
    which an ONNX graph cannot hold."""
    old = os.environ.get("RBOX_OPS_BACKEND")
    os.environ["RBOX_OPS_BACKEND"] = "torch"
    try:
        yield
    finally:
        if old is None:
            del os.environ["RBOX_OPS_BACKEND"]
        else:
            os.environ["RBOX_OPS_BACKEND"] = old


def export_onnx(
    model: torch.nn.Module,
    out: str | os.PathLike,
    input_shape: tuple[int, int] | None = None,
    batch: int = 1,
    dynamic: bool = False,
) -> dict[str, Any]:
    """Write ``model`` (from ``init_detector``: it has ``cfg``) to ``out`` as ONNX; returns the
    runtime spec stored in the file.

    Args:
        input_shape: the network input (H, W) in pixels, multiples of the pipeline's
            ``size_divisor``; default: the test pipeline's largest padded image (:func:`~rdet_apps.export.spec.default_input_shape`). The runtime takes
            images whose pipeline output has this size (others: ``pad_to_input``). Dynamic: the
            size it is traced at.
        batch: images per run (two-stage models: 1). Dynamic: leave it at 1.
        dynamic: free input height and width (and batch, but for Oriented R-CNN: 1); the runtime
            then pads each image only to the pipeline's size divisor (``rdet_apps.export.dynamic``).
            The graph is run once at another size and batch before this returns (with onnxruntime).

    Raises:
        UnsupportedModelError / UnsupportedPipelineError: a part without exportable form (or, dynamic,
            a graph that does not run at another size).
        ValueError: ``input_shape`` not positive or not a multiple of the size divisor (names
            the size to use), ``batch`` < 1.
        ImportError: onnx is not installed (the ``export`` extra).
    """
    onnx = _require_onnx()
    check_exportable(model)
    if not hasattr(model, "cfg"):
        raise ValueError("export_onnx needs a model from init_detector (model.cfg holds the test pipeline)")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    two_stage = hasattr(model, "roi_head")
    if batch > 1 and two_stage:
        raise UnsupportedModelError(f"{type(model).__name__}: a two-stage model exports with batch=1")
    if dynamic and batch != 1:
        raise ValueError(
            f"batch={batch} with dynamic=True: a dynamic export takes any batch (two-stage models: 1); leave batch at 1"
        )
    spec_probe = runtime_spec(model, (1, 1), batch)
    if input_shape is None:
        input_shape = default_input_shape(spec_probe["pipeline"])
    h, w = (int(v) for v in input_shape)
    if h <= 0 or w <= 0:
        raise ValueError(f"input_shape must be positive (H, W), got {input_shape}")
    divisor = spec_probe["pipeline"]["size_divisor"]
    if divisor and (h % divisor or w % divisor):  # the pipeline pads every image to a multiple
        up = (-(-h // divisor) * divisor, -(-w // divisor) * divisor)
        raise ValueError(
            f"input_shape (--shape) {h} {w} is not a multiple of the test pipeline's size_divisor "
            f"{divisor}: its padded images could never fit; use {up[0]} {up[1]}"
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    num_imgs = 1 if dynamic else batch
    dummy = torch.zeros(num_imgs, 3, h, w, device=device)
    dummy_shape = torch.tensor([[h, w]] * num_imgs, dtype=torch.int64, device=device)
    inputs, outputs = list(INPUT_NAMES), list(OUTPUT_NAMES)
    if not dynamic:
        spec = runtime_spec(model, (h, w), batch)
        axes, graph = None, ExportGraph(model, (h, w))
    elif two_stage:  # batch 1: the proposal count differs per image
        spec = runtime_spec(model, (h, w), 1, dynamic=True)
        axes, graph = dynamic_axes(inputs, outputs), ExportGraph(model)
    else:  # one image traced, the batch a Scan around it
        spec = runtime_spec(model, (h, w), None, dynamic=True)
        inputs, outputs = list(IMAGE_INPUTS), list(IMAGE_OUTPUTS)
        axes, graph = dynamic_axes(inputs, outputs), ExportGraph(model)
    _trace(graph.eval(), (dummy, dummy_shape), out, inputs, outputs, axes)
    proto = onnx.load(str(out))
    custom = sorted({n.domain for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        raise UnsupportedModelError(f"the exported graph uses non-standard operator domains {custom}")
    _keep_shape_input(proto, inputs[1], num_imgs)
    if dynamic and not two_stage:
        proto = scan_over_batch(proto, INPUT_NAMES, OUTPUT_NAMES)
    entry = proto.metadata_props.add()
    entry.key, entry.value = SPEC_KEY, json.dumps(spec)
    onnx.save(proto, str(out))
    if dynamic:
        probe = probe_shape((h, w), spec["pipeline"]["size_divisor"])
        check_dynamic_graph(out, probe, 1 if two_stage else 2, type(model).__name__)
    return spec


def _keep_shape_input(proto: Any, name: str, batch: int) -> None:
    """Declare the ``img_shape`` input (``batch``, 2) int64 where the tracer dropped it: a head
    that clamps nothing (FCOS's coder, the point-set heads) leaves it unused, and every exported
    graph takes the same inputs."""
    from onnx import TensorProto, helper

    if name not in [i.name for i in proto.graph.input]:
        proto.graph.input.append(helper.make_tensor_value_info(name, TensorProto.INT64, [batch, 2]))


def _trace(
    graph: torch.nn.Module,
    dummy: tuple[torch.Tensor, ...],
    out: Path,
    input_names: list[str],
    output_names: list[str],
    axes: dict[str, dict[int, str]] | None,
) -> None:
    """``torch.onnx.export`` of ``graph`` on the inputs ``dummy`` (TorchScript tracer, opset
    ``OPSET``), with rbox_ops' pure-torch code; ``axes``: the dynamic axes (None: every size fixed)."""
    with _pure_torch_ops(), torch.no_grad(), _quiet_tracer():
        torch.onnx.export(
            graph,
            dummy,
            str(out),
            dynamo=False,
            opset_version=OPSET,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=axes,
            do_constant_folding=True,
            # keep autograd Functions whole, so that their ONNX symbolic (NonMaxSuppression) is used
            autograd_inlining=False,
        )


@contextlib.contextmanager
def _quiet_tracer() -> Iterator[None]:
    """The tracer warns at every Python-level shape test: by design here (fixed sizes, or checks
    and loops over the batch and the levels that a dynamic export keeps as traced)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield
