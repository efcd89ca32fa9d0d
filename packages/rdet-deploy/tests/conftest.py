"""Hand-written ONNX graphs in the exported models' contract (input ``img``, version 3 also
``img_shape``; outputs ``boxes``, ``scores``, ``score_factors``; metadata ``rdet``), so that the
runtime is tested without torch."""

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


def write_dynamic_model(path: Path, batch: int | None = None) -> Path:
    """A dynamic model (metadata version 2, ``rdet export --dynamic``'s contract): input ``img``
    (N, 3, H, W) of any size; per image two candidates of one class, both read from the input:
    box 0 ``(W/2, H/2, W/4, H/4, 0)`` with score 0.9 (where the input's size shows), box 1
    ``(8, 8, 4, 4, 0.5)`` with score sigmoid(mean of the image) (which image it was)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: list, dtype: type = np.float32) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value, dtype), name)

    inits = [
        const("idx_h", [2], np.int64), const("idx_w", [3], np.int64), const("idx_n", [0], np.int64),
        const("half", [0.5]), const("quarter", [0.25]), const("zero", [0.0]), const("axis0", [0], np.int64),
        const("box1", [[8, 8, 4, 4, 0.5]]), const("tail_boxes", [2, 5], np.int64),
        const("row0", [[[0.9]]]), const("tail_scores", [1, 1], np.int64), const("col", [-1, 1, 1], np.int64),
        const("ones", [1.0, 1.0]), const("tail_factors", [2], np.int64),
    ]  # fmt: skip
    node = helper.make_node
    nodes = [
        node("Shape", ["img"], ["shape"]),
        node("Cast", ["shape"], ["shape_f"], to=TensorProto.FLOAT),
        node("Gather", ["shape_f", "idx_h"], ["h"]),
        node("Gather", ["shape_f", "idx_w"], ["w"]),
        node("Gather", ["shape", "idx_n"], ["n"]),
        node("Mul", ["w", "half"], ["cx"]),
        node("Mul", ["h", "half"], ["cy"]),
        node("Mul", ["w", "quarter"], ["bw"]),
        node("Mul", ["h", "quarter"], ["bh"]),
        node("Concat", ["cx", "cy", "bw", "bh", "zero"], ["box0"], axis=0),
        node("Unsqueeze", ["box0", "axis0"], ["box0_row"]),
        node("Concat", ["box0_row", "box1"], ["two_boxes"], axis=0),
        node("Concat", ["n", "tail_boxes"], ["boxes_shape"], axis=0),
        node("Expand", ["two_boxes", "boxes_shape"], ["boxes"]),
        node("ReduceMean", ["img"], ["mean"], axes=[1, 2, 3], keepdims=0),
        node("Sigmoid", ["mean"], ["mean_score"]),
        node("Reshape", ["mean_score", "col"], ["score1"]),
        node("Concat", ["n", "tail_scores"], ["row0_shape"], axis=0),
        node("Expand", ["row0", "row0_shape"], ["score0"]),
        node("Concat", ["score0", "score1"], ["scores"], axis=1),
        node("Concat", ["n", "tail_factors"], ["factors_shape"], axis=0),
        node("Expand", ["ones", "factors_shape"], ["score_factors"]),
    ]
    graph = helper.make_graph(
        nodes,
        "dynamic",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", 2, 5]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 2, 1]),
            helper.make_tensor_value_info("score_factors", TensorProto.FLOAT, ["batch", 2]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    spec = {
        "version": 2,
        "model": "Dynamic",
        "num_classes": 1,
        "classes": ["c0"],
        "input": {
            "name": "img",
            "batch": batch,
            "height": None,
            "width": None,
            "dynamic": True,
            "size_divisor": PIPELINE["size_divisor"],
            "traced_shape": [64, 64],
        },
        "outputs": ["boxes", "scores", "score_factors"],
        "pipeline": PIPELINE,
        "postprocess": {"score_thr": 0.05, "iou_thr": 0.1, "max_per_img": 100},
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = "rdet", json.dumps(spec)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_shape_model(path: Path, batch: int | None = None, dynamic: bool = True) -> Path:
    """A model of metadata version 3 (inputs ``img`` and ``img_shape`` (N, 2) int64, the
    image's size before padding): per image one candidate of one class,
    ``(w/2, h/2, w/4, h/4, 0)`` with score 0.9, ``(h, w)`` its own ``img_shape`` row, so that what
    the runtime fed shows. Fixed (``dynamic=False``): input 64 x 64, batch ``batch``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: list, dtype: type = np.float32) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value, dtype), name)

    inits = [
        const("i0", [0], np.int64), const("i1", [1], np.int64), const("coef_w", [[0.5, 0, 0.25, 0, 0]]),
        const("coef_h", [[0, 0.5, 0, 0.25, 0]]), const("axis1", [1], np.int64), const("score", [0.9]),
        const("zero", [0.0]),
    ]  # fmt: skip
    node = helper.make_node
    nodes = [
        node("Cast", ["img_shape"], ["hw"], to=TensorProto.FLOAT),
        node("Gather", ["hw", "i0"], ["h"], axis=1),  # (N, 1)
        node("Gather", ["hw", "i1"], ["w"], axis=1),
        node("Mul", ["w", "coef_w"], ["from_w"]),  # (N, 5): w/2 at 0, w/4 at 2
        node("Mul", ["h", "coef_h"], ["from_h"]),  # h/2 at 1, h/4 at 3
        node("Add", ["from_w", "from_h"], ["box"]),
        node("Unsqueeze", ["box", "axis1"], ["boxes_raw"]),  # (N, 1, 5)
        node("ReduceMean", ["img"], ["m"], keepdims=0),
        node("Mul", ["m", "zero"], ["z"]),
        node("Add", ["boxes_raw", "z"], ["boxes"]),
        node("Mul", ["h", "zero"], ["zeros"]),  # (N, 1)
        node("Add", ["zeros", "score"], ["score_factors_raw"]),
        node("Unsqueeze", ["score_factors_raw", "axis1"], ["scores"]),  # (N, 1, 1)
        node("Div", ["score_factors_raw", "score"], ["score_factors"]),
    ]
    n = "batch" if batch is None else batch
    hw = ["height", "width"] if dynamic else [64, 64]
    graph = helper.make_graph(
        nodes,
        "shape",
        [
            helper.make_tensor_value_info("img", TensorProto.FLOAT, [n, 3, *hw]),
            helper.make_tensor_value_info("img_shape", TensorProto.INT64, [n, 2]),
        ],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [n, 1, 5]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [n, 1, 1]),
            helper.make_tensor_value_info("score_factors", TensorProto.FLOAT, [n, 1]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    inp: dict = {"name": "img", "batch": batch, "height": None, "width": None, "dynamic": True,
                 "size_divisor": PIPELINE["size_divisor"], "traced_shape": [64, 64]}  # fmt: skip
    if not dynamic:
        inp = {"name": "img", "batch": batch, "height": 64, "width": 64, "dynamic": False}
    spec = {
        "version": 3,
        "model": "Shape",
        "num_classes": 1,
        "classes": ["c0"],
        "input": inp,
        "inputs": ["img", "img_shape"],
        "outputs": ["boxes", "scores", "score_factors"],
        "pipeline": PIPELINE,
        "postprocess": {"score_thr": 0.05, "iou_thr": 0.1, "max_per_img": 100},
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = "rdet", json.dumps(spec)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def shape_model(tmp_path: Path) -> Callable[..., Path]:
    """``shape_model(batch, dynamic)`` -> path of a ``write_shape_model`` in ``tmp_path``."""
    return lambda batch=None, dynamic=True: write_shape_model(
        tmp_path / f"shape_{batch}_{dynamic}.onnx", batch, dynamic
    )


@pytest.fixture
def dynamic_model(tmp_path: Path) -> Callable[[int | None], Path]:
    """``dynamic_model(batch)`` -> path of a ``write_dynamic_model`` in ``tmp_path`` (batch None: any)."""
    return lambda batch=None: write_dynamic_model(tmp_path / f"dynamic_{batch}.onnx", batch)
