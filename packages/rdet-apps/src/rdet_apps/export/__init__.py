"""``export_onnx``: an rdet detector as an ONNX model of standard operators.

The graph (:class:`~rdet_apps.export.graph.ExportGraph`) takes padded normalised images
(N, 3, H, W) and outputs the candidates before NMS (``boxes``, ``scores``, ``score_factors``);
the file's metadata (``rdet``: JSON, :func:`~rdet_apps.export.spec.runtime_spec`) tells
``rdet_deploy`` the test pipeline and the NMS settings. Needs the ``export`` extra (onnx).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from rdet_apps.export.graph import OUTPUT_NAMES, ExportGraph, UnsupportedModelError, check_exportable
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
) -> dict[str, Any]:
    """Write ``model`` (from ``init_detector``: it has ``cfg``) to ``out`` as ONNX; returns the
    runtime spec stored in the file.

    Args:
        input_shape: the network input (H, W) in pixels; default: the test pipeline's largest
            padded image (:func:`~rdet_apps.export.spec.default_input_shape`). The runtime takes
            images whose pipeline output has this size (others: ``pad_to_input``).
        batch: images per run (two-stage models: 1).

    Raises:
        UnsupportedModelError / UnsupportedPipelineError: a part without exportable form.
        ImportError: onnx is not installed (the ``export`` extra).
    """
    onnx = _require_onnx()
    check_exportable(model)
    if not hasattr(model, "cfg"):
        raise ValueError("export_onnx needs a model from init_detector (model.cfg holds the test pipeline)")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if batch > 1 and hasattr(model, "roi_head"):
        raise UnsupportedModelError(f"{type(model).__name__}: a two-stage model exports with batch=1")
    spec_probe = runtime_spec(model, (1, 1), batch)
    if input_shape is None:
        input_shape = default_input_shape(spec_probe["pipeline"])
    h, w = (int(v) for v in input_shape)
    if h <= 0 or w <= 0:
        raise ValueError(f"input_shape must be positive (H, W), got {input_shape}")
    spec = runtime_spec(model, (h, w), batch)
    graph = ExportGraph(model, (h, w)).eval()
    device = next(model.parameters()).device
    dummy = torch.zeros(batch, 3, h, w, device=device)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _pure_torch_ops(), torch.no_grad(), _quiet_tracer():
        torch.onnx.export(
            graph,
            (dummy,),
            str(out),
            dynamo=False,
            opset_version=OPSET,
            input_names=["img"],
            output_names=list(OUTPUT_NAMES),
            do_constant_folding=True,
            # keep autograd Functions whole, so that their ONNX symbolic (NonMaxSuppression) is used
            autograd_inlining=False,
        )
    proto = onnx.load(str(out))
    custom = sorted({n.domain for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        raise UnsupportedModelError(f"the exported graph uses non-standard operator domains {custom}")
    entry = proto.metadata_props.add()
    entry.key, entry.value = SPEC_KEY, json.dumps(spec)
    onnx.save(proto, str(out))
    return spec


@contextlib.contextmanager
def _quiet_tracer() -> Iterator[None]:
    """The tracer warns at every Python-level shape test; the shapes are fixed by design here."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield
