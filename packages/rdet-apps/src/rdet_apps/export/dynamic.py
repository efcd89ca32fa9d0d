"""``export_onnx(dynamic=True)``: a graph that takes any input size.

The detector is traced for one image with free height and width (:func:`dynamic_axes`): the prior
grids and the per-level ``nms_pre`` cut (``rdet_models.heads.topk``) follow the input's traced
shape instead of being frozen at the traced size; the clamps read the ``img_shape`` input. The heads decode one
image at a time (Python loops over the batch, which tracing unrolls), so a dense model's free
batch is an ONNX ``Scan`` over the images around that one-image graph (:func:`scan_over_batch`):
images of one batch share a size, hence a candidate count, and run one after another inside the
graph. Oriented R-CNN keeps batch 1 (its proposal count differs per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_INPUTS",
    "IMAGE_OUTPUTS",
    "check_dynamic_graph",
    "dynamic_axes",
    "probe_shape",
    "scan_over_batch",
]

#: input names of the one-image graph inside the Scan (outer names: ``INPUT_NAMES``): the image
#: (1, 3, H, W) and its size before padding (1, 2)
IMAGE_INPUTS = ("image", "image_shape")
#: output names of the one-image graph inside the Scan (outer names: ``OUTPUT_NAMES``)
IMAGE_OUTPUTS = ("image_boxes", "image_scores", "image_score_factors")


def dynamic_axes(input_names: Sequence[str], output_names: Sequence[str]) -> dict[str, dict[int, str]]:
    """``torch.onnx.export``'s ``dynamic_axes``: the image input's (``input_names[0]``) H and W,
    the outputs' candidate count K (the ``img_shape`` input keeps its traced (N, 2))."""
    return {input_names[0]: {2: "height", 3: "width"}, **{name: {1: "candidates"} for name in output_names}}


def scan_over_batch(one_image: Any, input_names: Sequence[str], output_names: Sequence[str]) -> Any:
    """Wrap a one-image graph (inputs ``IMAGE_INPUTS``: (1, 3, H, W) and (1, 2); outputs
    ``IMAGE_OUTPUTS`` (1, K, ...)) into a model whose inputs ``input_names`` are (N, 3, H, W) and
    (N, 2) int64 and whose outputs ``output_names`` are (N, K, ...): an ONNX ``Scan`` runs the
    graph on each image and its ``img_shape`` row. The weights
    are initializers of the body itself: ONNX Runtime folds and pre-packs those, not ones read
    from the enclosing scope (measured on RetinaNet, 256 x 320, one thread: 33 ms an image
    against 54 ms with the weights outside; the fixed-size graph: 31 ms).

    Args:
        one_image: the traced ``onnx.ModelProto``.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = one_image.graph
    inner_in, inner_out = IMAGE_INPUTS, IMAGE_OUTPUTS
    got_in, got_out = [i.name for i in graph.input], [o.name for o in graph.output]
    if got_in != list(inner_in) or got_out != list(inner_out):
        raise ValueError(
            f"scan_over_batch: the one-image graph must have inputs {list(inner_in)} and outputs "
            f"{list(inner_out)}, got {got_in} and {got_out}"
        )
    axis = "rdet_scan_axis0"
    chw, hw = f"{inner_in[0]}_chw", f"{inner_in[1]}_hw"
    nodes = [
        helper.make_node("Unsqueeze", [chw, axis], [inner_in[0]], name="rdet_scan_unsqueeze"),
        helper.make_node("Unsqueeze", [hw, axis], [inner_in[1]], name="rdet_scan_unsqueeze_shape"),
    ]
    nodes += list(graph.node)
    rows = [f"{name}_row" for name in inner_out]
    nodes += [
        helper.make_node("Squeeze", [name, axis], [row], name=f"rdet_scan_squeeze_{i}")
        for i, (name, row) in enumerate(zip(inner_out, rows))
    ]
    dtype = graph.input[0].type.tensor_type.elem_type
    shape_dtype = graph.input[1].type.tensor_type.elem_type
    body = helper.make_graph(
        nodes,
        "one_image",
        [
            helper.make_tensor_value_info(chw, dtype, [3, "height", "width"]),
            helper.make_tensor_value_info(hw, shape_dtype, [2]),
        ],
        [helper.make_tensor_value_info(row, TensorProto.FLOAT, None) for row in rows],
        [*graph.initializer, numpy_helper.from_array(np.array([0], np.int64), axis)],
    )
    scan = helper.make_node(
        "Scan", list(input_names), list(output_names), name="rdet_batch", num_scan_inputs=2, body=body
    )
    out_shapes = (["batch", "candidates", 5], ["batch", "candidates", None], ["batch", "candidates"])
    outer = helper.make_graph(
        [scan],
        graph.name or "rdet",
        [
            helper.make_tensor_value_info(input_names[0], dtype, ["batch", 3, "height", "width"]),
            helper.make_tensor_value_info(input_names[1], shape_dtype, ["batch", 2]),
        ],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
            for name, shape in zip(output_names, out_shapes)
        ],
    )
    model = helper.make_model(
        outer, opset_imports=list(one_image.opset_import), producer_name=one_image.producer_name
    )
    model.ir_version = one_image.ir_version
    model.producer_version = one_image.producer_version
    return model


def probe_shape(traced: tuple[int, int], size_divisor: int | None) -> tuple[int, int]:
    """An (H, W) other than the traced one in both sides, multiples of ``size_divisor``: one step
    smaller in H and two in W where that leaves at least one step, else larger."""
    d = int(size_divisor or 32)
    h, w = traced
    return (h - d if h - d >= d else h + d), (w - 2 * d if w - 2 * d >= d else w + 2 * d)


def check_dynamic_graph(path: str | Path, shape: tuple[int, int], batch: int, model_name: str) -> None:
    """Run the exported graph at ``shape`` with ``batch`` images (zeros; a second input, the
    ``img_shape``, gets ``shape`` less one pixel per side): it must run and give (batch, K, 5),
    (batch, K, C), (batch, K). Skipped without onnxruntime.

    Raises:
        UnsupportedModelError: the graph kept a size of the traced input somewhere (ONNX Runtime
            fails or gives inconsistent shapes), naming the model and the size.
    """
    try:
        import onnxruntime as ort
    except ImportError:  # the export extra brings it; without it the check is left to the user
        return
    from rdet_apps.export.graph import UnsupportedModelError

    h, w = shape
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # no graph optimisation: a check run, and optimising a large graph takes seconds
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    feeds = {inputs[0].name: np.zeros((batch, 3, h, w), np.float32)}
    if len(inputs) > 1:
        dtype = np.int64 if inputs[1].type == "tensor(int64)" else np.float32
        feeds[inputs[1].name] = np.array([[h - 1, w - 1]] * batch, dtype)
    try:
        boxes, scores, factors = session.run(None, feeds)
    except Exception as e:  # ORT raises its own Fail / RuntimeException types
        first = str(e).strip().splitlines()[0][:300]
        raise UnsupportedModelError(
            f"{model_name}: the dynamic graph does not run at {batch}x3x{h}x{w} (a size of the traced input "
            f"stayed in the graph): {first}; export it without --dynamic"
        ) from e
    k = boxes.shape[1] if boxes.ndim == 3 else -1
    if boxes.shape != (batch, k, 5) or scores.shape[:2] != (batch, k) or factors.shape != (batch, k):
        raise UnsupportedModelError(
            f"{model_name}: the dynamic graph gives boxes {boxes.shape}, scores {scores.shape}, "
            f"score_factors {factors.shape} for a {batch}x3x{h}x{w} input; export it without --dynamic"
        )
