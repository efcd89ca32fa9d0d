"""``rdet export --dynamic``: a model exported once, at one input size, runs at other sizes (smaller
and larger, non-square, levels with fewer candidates than ``nms_pre``) and batches, and gives the
torch model's detections there."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rbox_geometry import rbbox_overlaps
from rdet_core.structures import Detections, ImageMeta, detections_to_result

#: the size every model is traced at; the runs below use other ones
TRACED = (192, 224)
#: (H, W) crops of the golden image: smaller and larger than TRACED, non-square. At 128 x 160 the
#: RetinaNet's stride-16 level has 8 * 10 * 9 = 720 anchors (< nms_pre 2000), its stride-8 one 2880
SMALL, LARGE = (128, 160), (256, 288)


def session(path: Path):  # type: ignore[no-untyped-def]
    """An ONNX Runtime session without graph optimisations (seconds faster to build for the
    point-set graphs; rdet_deploy's default optimised session runs in the command test)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def network_input(image: np.ndarray, spec: dict, shape: tuple[int, int], offset: int = 0) -> np.ndarray:
    """A (3, H, W) float32 input: the golden image's crop from row 0, column ``offset``,
    normalised as the test pipeline does (the image is at the pipeline's scale already)."""
    h, w = shape
    crop = image[:h, offset : offset + w].astype(np.float32)
    assert crop.shape[:2] == shape
    p = spec["pipeline"]
    if p["to_rgb"]:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    crop = (crop - np.asarray(p["mean"], np.float32)) / np.asarray(p["std"], np.float32)
    return np.ascontiguousarray(crop.transpose(2, 0, 1))


def eager_results(
    model: torch.nn.Module, imgs: np.ndarray, img_shape: tuple[int, int] | None = None
) -> list[list[np.ndarray]]:
    """The torch model's own detections (``detect``: its heads, its NMS) of a batch of network
    inputs, img_shape = ``img_shape`` (None: the input's size), per image per class (k, 6)."""
    h, w = img_shape or imgs.shape[2:]
    metas = [ImageMeta(filename=None, ori_shape=(h, w, 3), img_shape=(h, w, 3)) for _ in imgs]
    with torch.no_grad():
        dets = model.detect(torch.from_numpy(imgs), metas, rescale=True)
    return [detections_to_result(d, model.num_classes) for d in dets]


def onnx_results(sess, imgs: np.ndarray, spec: dict) -> list[list[np.ndarray]]:  # type: ignore[no-untyped-def]
    """The exported graph on a batch (``img_shape``: each input's whole size), then rdet_deploy's
    NMS (as ``OnnxDetector`` does)."""
    from rdet_deploy import multiclass_nms_rotated

    shapes = np.array([imgs.shape[2:]] * len(imgs), np.int64)
    boxes, scores, factors = sess.run(None, {"img": imgs, "img_shape": shapes})
    assert boxes.shape[0] == scores.shape[0] == factors.shape[0] == len(imgs)
    post = spec["postprocess"]
    out = []
    for b, s, f in zip(boxes, scores, factors):
        kept = multiclass_nms_rotated(b, s, f, post["score_thr"], post["iou_thr"], post["max_per_img"])
        out.append(detections_to_result(Detections(*kept), spec["num_classes"]))
    return out


def matched(ref: np.ndarray, ours: np.ndarray, ties: bool) -> int:
    """Reference rows with one of ours at rotated IoU >= 0.99 and score within 1e-3 (a zero-area
    row: an equal box, as test_export.match_detections); with ``ties`` also the other
    minimum-area rectangle of a point set (same score, area within 0.1%, centre within half the
    box's mean side; test_pointset_parity explains these near-ties)."""
    if len(ref) == 0 or len(ours) == 0:
        return 0
    iou = rbbox_overlaps(ref[:, :5].astype(np.float64), ours[:, :5].astype(np.float64))
    same = np.abs(ref[:, None, :5] - ours[None, :, :5]).max(-1) <= 1e-3
    degenerate = (ref[:, 2] * ref[:, 3] <= 1e-14)[:, None]
    score = np.abs(ref[:, 5:6] - ours[None, :, 5]) <= 1e-3
    ok = ((iou >= 0.99) | (degenerate & same)) & score
    if ties:
        reach = 0.5 * np.sqrt(ref[:, None, 2] * ref[:, None, 3])
        centre = np.hypot(ref[:, None, 0] - ours[None, :, 0], ref[:, None, 1] - ours[None, :, 1]) <= reach
        area = np.abs(ref[:, None, 2] * ref[:, None, 3] / (ours[None, :, 2] * ours[None, :, 3]) - 1) <= 1e-3
        ok |= score & centre & area
    return int(ok.any(axis=1).sum())


def assert_same_detections(
    ref: list[np.ndarray], ours: list[np.ndarray], where: str, ties: bool = False
) -> int:
    """Per class: counts within 2%, 98% of the reference's rows matched. Returns the total."""
    total = 0
    for c, (r, o) in enumerate(zip(ref, ours)):
        assert abs(len(o) - len(r)) <= 0.02 * len(r), f"{where}, class {c}: {len(o)} detections vs {len(r)}"
        if len(r):
            assert matched(r, o, ties) >= 0.98 * len(r), (
                f"{where}, class {c}: {matched(r, o, ties)} of {len(r)}"
            )
        total += len(r)
    return total


#: golden case -> rows are compared with near-ties of the minimum-area rectangle allowed
DYNAMIC_CASES = {
    "retinanet_obb_le90": False,
    "rotated_fcos_le90": False,
    "s2anet_le135": False,
    "rotated_reppoints_le135": True,
    "oriented_rcnn_le90": False,
}


@pytest.mark.parametrize("name", list(DYNAMIC_CASES))
def test_dynamic_model_matches_torch_at_other_sizes(golden_case, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """Exported once at TRACED; at a smaller and a larger non-square size (the dense models with
    a batch of two there) ONNX Runtime + rdet_deploy's NMS give the torch model's detections."""
    import onnx

    from rdet_apps.apis import init_detector
    from rdet_apps.export import export_onnx

    case = golden_case(name)
    model = init_detector(case["config"], case["checkpoint"], cfg_options=case["overrides"])
    path = tmp_path / f"{name}.onnx"
    spec = export_onnx(model, path, input_shape=TRACED, dynamic=True)
    two_stage = name == "oriented_rcnn_le90"
    inp = spec["input"]
    assert spec["version"] == 3 and inp["dynamic"] and inp["size_divisor"] == 32
    assert spec["inputs"] == ["img", "img_shape"]
    assert inp["traced_shape"] == list(TRACED) and inp["height"] is None and inp["width"] is None
    assert inp["batch"] == (1 if two_stage else None)
    proto = onnx.load(str(path))
    nodes = list(proto.graph.node)
    for node in nodes:  # the Scan's body too
        nodes += [n for a in node.attribute if a.type == onnx.AttributeProto.GRAPH for n in a.g.node]
    assert {n.domain for n in nodes} <= {"", "ai.onnx"} and len(nodes) > 100
    assert two_stage or [n.op_type for n in proto.graph.node] == ["Scan"]
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input]
    n = 1 if two_stage else "batch"
    assert dims == [[n, 3, "height", "width"], [n, 2]]
    assert proto.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64

    image = cv2.imread(str(case["image"]), cv2.IMREAD_COLOR)  # 256 x 320, at the pipeline's scale
    sess = session(path)
    counts = []
    for shape, offsets in ((SMALL, (0,)), (LARGE, (0,) if two_stage else (0, 32))):
        imgs = np.stack([network_input(image, spec, shape, o) for o in offsets])
        for i, (ref, ours) in enumerate(zip(eager_results(model, imgs), onnx_results(sess, imgs, spec))):
            counts.append(assert_same_detections(ref, ours, f"{shape}, image {i}", ties=DYNAMIC_CASES[name]))
    assert min(counts) > 0, counts


def test_dynamic_export_command_and_rdet_deploy_on_golden_image(golden_case, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`rdet export --dynamic` traced at TRACED; rdet_deploy without pad_to_input runs the golden
    image (256 x 320: larger) and MMRotate's detections come out; a cropped image in the same call
    is padded only to the size divisor (224 x 320) and gets the torch model's detections of that
    input, clamped at the crop's own 200 x 320 (the ``img_shape`` rdet_deploy feeds), as eager."""
    from rdet_deploy import OnnxDetector, inference_detector

    from rdet_apps.apis import init_detector
    from rdet_apps.cli import main
    from rdet_apps.serve.predictor import OnnxPredictor

    case = golden_case("retinanet_obb_le90")
    options = [f"{k}={v}" for k, v in case["overrides"].items() if k != "data.test.pipeline.1.img_scale"]
    options.append("data.test.pipeline.1.img_scale=(320,320)")  # a tuple, as the golden case's
    out = tmp_path / "m.onnx"
    args = ["export", str(case["config"]), str(case["checkpoint"]), "--cfg-options", *options]
    shape = ["--shape", *map(str, TRACED)]
    assert main([*args, "--out", str(out), "--dynamic", *shape]) == 0
    assert (
        "input img (N, 3, H, W), any size (rdet_deploy: padded to multiples of 32)" in capsys.readouterr().out
    )
    detector = OnnxDetector(out)
    assert detector.dynamic and detector.input_shape is None and detector.batch is None

    image = cv2.imread(str(case["image"]), cv2.IMREAD_COLOR)
    crop = np.ascontiguousarray(image[:200])  # stays 200 x 320 (scale 1)
    prepared = detector.prepare(crop)
    assert prepared.img.shape == (3, 224, 320) and prepared.img_shape == (200, 320)
    golden, cropped = inference_detector(detector, [str(case["image"]), crop])
    ref = case["result"]
    total = assert_same_detections([ref[f"class{c:02d}"] for c in range(15)], golden, "golden image")
    assert abs(total - case["num_detections"]) <= 0.02 * case["num_detections"]
    model = init_detector(case["config"], case["checkpoint"], cfg_options=case["overrides"])
    reference = eager_results(model, prepared.img[None], prepared.img_shape)[0]
    assert assert_same_detections(reference, cropped, "200 x 320 crop, padded to 224 x 320") > 0
    # rdet serve's predictor on the dynamic model: the same detections, no padding to a fixed size
    predictor = OnnxPredictor(out)
    assert predictor.dynamic and not predictor.detector.pad_to_input
    for served, direct in zip(predictor.predict([image, crop]), detector.predict([image, crop])):
        np.testing.assert_array_equal(served.boxes, direct.boxes)
        np.testing.assert_array_equal(served.scores, direct.scores)

    # --batch with --dynamic: the batch is dynamic already
    with pytest.raises(ValueError, match="batch=2 with dynamic=True"):
        main(["--debug", *args, "--out", str(out), "--dynamic", "--batch", "2"])


def test_a_graph_that_keeps_a_traced_size_is_refused(tmp_path: Path) -> None:
    """The export's own check: a graph whose reshape froze the traced size fails at another size,
    and that is an UnsupportedModelError naming the model and the size, not a silent export."""
    from rdet_apps.export.dynamic import check_dynamic_graph, probe_shape
    from rdet_apps.export.graph import UnsupportedModelError

    class Frozen(torch.nn.Module):
        def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            k = int(img.shape[2]) * int(img.shape[3])  # int(): a constant in the trace
            flat = img.mean(1).reshape(img.shape[0], k)
            return flat[..., None].expand(-1, -1, 5), flat[..., None].expand(-1, -1, 3), flat

    path = tmp_path / "frozen.onnx"
    torch.onnx.export(
        Frozen(), (torch.zeros(1, 3, 64, 96),), str(path), dynamo=False, opset_version=17,
        input_names=["img"], output_names=["boxes", "scores", "score_factors"],
        dynamic_axes={"img": {0: "batch", 2: "height", 3: "width"}},
    )  # fmt: skip
    check_dynamic_graph(path, (64, 96), 2, "Frozen")  # the traced size runs
    assert probe_shape((64, 96), 32) == (32, 32) and probe_shape((32, 64), 32) == (64, 128)
    with pytest.raises(UnsupportedModelError, match=r"Frozen: the dynamic graph does not run at 2x3x32x32"):
        check_dynamic_graph(path, probe_shape((64, 96), 32), 2, "Frozen")


def test_topk_helper_is_the_eager_branch_and_a_dynamic_k_when_traced() -> None:
    """rdet_models.heads.topk: eager, the heads' old branch (cut only above nms_pre, torch.topk);
    traced, always a cut with k = min(nms_pre, n) that follows n."""
    from rdet_models.heads.topk import needs_topk, topk_indices

    assert not needs_topk(5, 5) and needs_topk(6, 5) and not needs_topk(100, -1) and not needs_topk(100, 0)
    scores = torch.rand(50, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(topk_indices(scores, 7), scores.topk(7)[1], rtol=0, atol=0)

    def cut(s: torch.Tensor) -> torch.Tensor:
        assert needs_topk(s.shape[0], 7)  # traced: always
        return s[topk_indices(s, 7)]

    traced = torch.jit.trace(cut, (scores,), check_trace=False)
    for n in (3, 7, 50):
        s = scores[:n]
        torch.testing.assert_close(traced(s), s.sort(descending=True)[0][: min(n, 7)], rtol=0, atol=0)
