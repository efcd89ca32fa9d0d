"""A hand-written ONNX graph in the exported models' contract (input ``img``, outputs ``boxes``,
``scores``, ``score_factors``, metadata ``rdet``), so that the runtime is tested without torch."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

PIPELINE = {
    "img_scale": [64, 64],
    "keep_ratio": True,
    "interpolation": "bilinear",
    "mean": [10.0, 20.0, 30.0],
    "std": [2.0, 4.0, 5.0],
    "to_rgb": True,
    "size_divisor": 32,
    "pad_size": None,
    "pad_val": 0.0,
}


def write_model(
    path: Path,
    boxes: np.ndarray,
    scores: np.ndarray,
    factors: np.ndarray,
    input_hw: tuple[int, int] = (64, 64),
    post: dict | None = None,
    spec: dict | None = None,
) -> Path:
    """An ONNX model whose outputs are the given candidates (one image) plus 0 * mean(img), so
    that the input is really read; with the metadata of ``rdet export`` (or ``spec``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = input_hw
    _, c = scores.shape
    nodes = [
        helper.make_node("ReduceMean", ["img"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outputs = []
    for name, value in (("boxes", boxes[None]), ("scores", scores[None]), ("score_factors", factors[None])):
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_c"))
        nodes.append(helper.make_node("Add", [f"{name}_c", "z"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes,
        "fixed",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, h, w])],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if spec is None:
        spec = {
            "version": 1,
            "model": "Fixed",
            "num_classes": c,
            "classes": [f"c{i}" for i in range(c)],
            "input": {"name": "img", "batch": 1, "height": h, "width": w},
            "outputs": ["boxes", "scores", "score_factors"],
            "pipeline": PIPELINE,
            "postprocess": post or {"score_thr": 0.05, "iou_thr": 0.1, "max_per_img": 100},
        }
    entry = model.metadata_props.add()
    entry.key, entry.value = "rdet", json.dumps(spec)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def fixed_model(tmp_path: Path) -> Callable[..., Path]:
    """``fixed_model(boxes, scores, factors, **kw)`` -> path of a model in ``tmp_path``."""
    count = iter(range(1000))

    def make(boxes: np.ndarray, scores: np.ndarray, factors: np.ndarray | None = None, **kw: object) -> Path:
        f = np.ones(len(boxes), np.float32) if factors is None else factors
        return write_model(tmp_path / f"m{next(count)}.onnx", boxes, scores, f, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def pipeline() -> dict:
    """The test pipeline of the hand-written models: 64 px keep-ratio, padded to 32."""
    return dict(PIPELINE)
