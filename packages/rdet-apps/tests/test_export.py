"""``rdet export`` and ``rdet_deploy``: the exported ONNX models (standard operators only) give
MMRotate 0.3.4's detections on the golden model cases; the exportable op forms equal rbox_ops'."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

#: golden model cases exported and run by rdet_deploy (every family the export supports)
EXPORT_CASES = (
    "retinanet_obb_le90",
    "rotated_fcos_le90",
    "rotated_atss_le90",
    "s2anet_le135",
    "r3det_oc",
    "oriented_rcnn_le90",
)


def match_detections(ref: np.ndarray, ours: np.ndarray) -> int:
    """Reference rows with one of ours at rotated IoU >= 0.99 and score within 1e-3 (as
    test_apis_inference.match_detections: zero-area rows match an equal box)."""
    from rbox_geometry import rbbox_overlaps

    if len(ref) == 0 or len(ours) == 0:
        return 0
    iou = rbbox_overlaps(ref[:, :5].astype(np.float64), ours[:, :5].astype(np.float64))
    same = np.abs(ref[:, None, :5] - ours[None, :, :5]).max(-1) <= 1e-3
    degenerate = (ref[:, 2] * ref[:, 3] <= 1e-14)[:, None]
    close = np.abs(ref[:, 5:6] - ours[None, :, 5]) <= 1e-3
    return int((((iou >= 0.99) | (degenerate & same)) & close).any(axis=1).sum())


@pytest.mark.parametrize("name", EXPORT_CASES)
def test_exported_model_matches_mmrotate(golden_case, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """MMRotate's config + checkpoint -> ONNX (standard domain only) -> rdet_deploy: per class
    98% of MMRotate's detections (IoU >= 0.99, score within 1e-3), counts within 2%."""
    import onnx
    from rdet_deploy import OnnxDetector, inference_detector

    from rdet_apps.apis import init_detector
    from rdet_apps.export import export_onnx

    case = golden_case(name)
    model = init_detector(case["config"], case["checkpoint"], cfg_options=case["overrides"])
    out = tmp_path / f"{name}.onnx"
    spec = export_onnx(model, out, input_shape=(256, 320))  # the case's image: 256 x 320, scale 1
    assert {n.domain for n in onnx.load(str(out)).graph.node} <= {"", "ai.onnx"}
    assert spec["model"] == type(model).__name__ and spec["num_classes"] == 15
    result = inference_detector(OnnxDetector(out), str(case["image"]))
    ref = case["result"]
    total = 0
    for c in range(15):
        r, o = ref[f"class{c:02d}"], result[c]
        assert o.dtype == np.float32 and o.shape[1:] == (6,)
        assert abs(len(o) - len(r)) <= 0.02 * len(r), f"class {c}: {len(o)} detections vs {len(r)}"
        if len(r):
            assert match_detections(r, o) >= 0.98 * len(r), f"class {c}"
        total += len(o)
    assert abs(total - case["num_detections"]) <= 0.02 * case["num_detections"]


def test_roi_align_formulation_is_rbox_ops() -> None:
    """The gather formulation of the two-stage RoI pooling, levels chosen per RoI, equals
    rbox_ops.roi_align_rotated on each RoI's own level (rois partly outside, rotated, tiny)."""
    from rbox_ops import roi_align_rotated
    from rdet_apps.export.ops import multilevel_roi_align_rotated

    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 3, 24, 20, generator=g), torch.randn(2, 3, 12, 10, generator=g)]
    scales = [1 / 4, 1 / 8]
    rois = torch.tensor(
        [[0, 30, 40, 20, 10, 0.3], [1, 70, 90, 60, 30, -1.2], [1, 2, 3, 4, 2, 0.0], [0, 75, 95, 50, 50, 2.0]]
    )
    levels = torch.tensor([0, 1, 0, 1])
    for aligned, clockwise in ((True, True), (False, False)):
        ours = multilevel_roi_align_rotated(feats, rois, levels, scales, (7, 6), 2, aligned, clockwise)
        for i, lvl in enumerate(levels.tolist()):
            ref = roi_align_rotated(feats[lvl], rois[i : i + 1], (7, 6), scales[lvl], 2, aligned, clockwise)
            torch.testing.assert_close(ours[i : i + 1], ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="sampling_ratio=0"):
        multilevel_roi_align_rotated(feats, rois, levels, scales, (7, 6), 0)


def test_nms_in_the_graph_is_onnx_nonmaxsuppression(tmp_path: Path) -> None:
    """nms_xyxy traces to the standard NonMaxSuppression and keeps what rbox_ops.nms keeps."""
    import onnx
    import onnxruntime as ort

    from rbox_ops import nms
    from rdet_apps.export.ops import nms_xyxy

    class Keep(torch.nn.Module):
        def forward(self, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            return nms_xyxy(boxes, scores, 0.5)

    g = torch.Generator().manual_seed(1)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=g) * 30], 1)
    scores = torch.rand(200, generator=g)
    path = tmp_path / "nms.onnx"
    torch.onnx.export(Keep(), (boxes, scores), str(path), dynamo=False, opset_version=17, autograd_inlining=False,
                      input_names=["boxes", "scores"], dynamic_axes={"boxes": [0], "scores": [0]})  # fmt: skip
    assert "NonMaxSuppression" in {n.op_type for n in onnx.load(str(path)).graph.node}
    (keep,) = ort.InferenceSession(str(path)).run(None, {"boxes": boxes.numpy(), "scores": scores.numpy()})
    np.testing.assert_array_equal(keep, nms(boxes, scores, 0.5)[1].numpy())


def test_export_command_and_its_errors(golden_case, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rdet_apps.cli import main

    case = golden_case("retinanet_obb_le90")
    options = [f"{k}={v}" for k, v in case["overrides"].items() if k != "data.test.pipeline.1.img_scale"]
    out = tmp_path / "m.onnx"
    args = ["export", str(case["config"]), str(case["checkpoint"]), "--out", str(out), "--shape", "96", "96"]
    assert main([*args, "--cfg-options", *options, "data.test.pipeline.1.img_scale=(96,96)"]) == 0
    from rdet_deploy import OnnxDetector

    model = OnnxDetector(out)
    assert model.input_shape == (96, 96) and model.spec["pipeline"]["img_scale"] == [96, 96]
    assert model.spec["postprocess"] == {
        "score_thr": 0.005,
        "iou_thr": 0.1,
        "max_per_img": 100,
        "angle_version": "le90",
    }
    assert len(model.CLASSES) == 15
    # a flip test-time augmentation has no exported form: a one-line error naming it
    bad = [*args, "--cfg-options", *options, "data.test.pipeline.1.flip=True"]
    assert main(bad) == 1
    with pytest.raises(
        ValueError, match=r"data.test.pipeline.1: flip test-time augmentation does not export"
    ):
        main(["--debug", *bad])
    # the pipeline pads to multiples of 32: a 100 x 5 input could never be fed
    odd = ["export", str(case["config"]), str(case["checkpoint"]), "--out", str(tmp_path / "odd.onnx")]
    with pytest.raises(
        ValueError,
        match=r"--shape\) 100 5 is not a multiple of the test pipeline's size_divisor 32: .*use 128 32",
    ):
        main(["--debug", *odd, "--shape", "100", "5", "--cfg-options", *options])
    assert not (tmp_path / "odd.onnx").exists()


def test_export_command_names_a_bad_batch(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from rdet_apps.cli import main
    from rdet_apps.commands.demo import CONFIG

    out = tmp_path / "m.onnx"
    assert main(["export", str(CONFIG), str(tmp_path / "c.pth"), "--out", str(out), "--batch", "0"]) == 1
    assert "--batch 0: must be positive" in capsys.readouterr().err and not out.exists()


#: variants without golden cases: (config, the golden case whose small-model overrides fit it)
VARIANTS = (
    ("csl/rotated_retinanet_obb_csl_gaussian_r50_fpn_fp16_1x_dota_le90.py", "retinanet_obb_le90"),
    ("rotated_fcos/rotated_fcos_csl_gaussian_r50_fpn_1x_dota_le90.py", "rotated_fcos_le90"),
    ("kfiou/r3det_kfiou_ln_r50_fpn_1x_dota_oc.py", "r3det_oc"),
    ("g_reppoints/g_reppoints_r50_fpn_1x_dota_le135.py", "rotated_reppoints_le135"),
)


@pytest.mark.parametrize(("config", "like"), VARIANTS)
def test_variants_export_to_their_eager_candidates(
    golden_case, shared_dir: Path, tmp_path: Path, config: str, like: str
) -> None:  # type: ignore[no-untyped-def]
    """CSL (angle classification), KFIoU and G-Rep heads: the ONNX graph's candidates are the eager
    graph's (rows compared as sets: equal scores at the nms_pre cut may pick other anchors)."""
    import onnxruntime as ort

    from rdet_apps.apis import init_detector
    from rdet_apps.export import export_onnx
    from rdet_apps.export.graph import ExportGraph

    overrides = dict(golden_case(like)["overrides"])
    overrides.pop("model.test_cfg.score_thr")
    overrides.pop("model.test_cfg.max_per_img")
    model = init_detector(shared_dir / "configs" / "mmrotate-0.3.4" / config, None, cfg_options=overrides)
    torch.manual_seed(0)
    model.init_weights()
    path = tmp_path / "m.onnx"
    export_onnx(model, path, input_shape=(128, 160))
    img = torch.randn(1, 3, 128, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        eager = [t[0].numpy() for t in ExportGraph(model, (128, 160)).eval()(img)]
    feeds = {"img": img.numpy(), "img_shape": np.array([[128, 160]], np.int64)}
    onnx_out = [t[0] for t in ort.InferenceSession(str(path)).run(None, feeds)]

    def rows(boxes: np.ndarray, scores: np.ndarray, factors: np.ndarray) -> np.ndarray:
        r = np.concatenate([boxes, scores, factors[:, None]], 1)
        return r[np.argsort(r[:, 0], kind="stable")]

    a, b = rows(*eager), rows(*onnx_out)
    assert a.shape == b.shape
    lo = np.searchsorted(b[:, 0], a[:, 0] - 1e-3, "left")
    hi = np.searchsorted(b[:, 0], a[:, 0] + 1e-3, "right")
    found = [np.isclose(b[i:j], row, rtol=1e-4, atol=1e-4).all(1).any() for row, i, j in zip(a, lo, hi)]
    assert np.mean(found) >= 0.99, f"{len(found) - sum(found)} of {len(a)} candidates differ"


def test_two_stage_graph_follows_the_proposal_count(golden_case, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Oriented R-CNN's graph keeps as many proposals as its NonMaxSuppression keeps on each input
    (not the count seen while tracing) and gives the eager graph's candidates."""
    import onnxruntime as ort

    from rdet_apps.apis import init_detector
    from rdet_apps.export import export_onnx
    from rdet_apps.export.graph import ExportGraph

    case = golden_case("oriented_rcnn_le90")
    overrides = {**case["overrides"], "model.test_cfg.rpn.nms.iou_threshold": 0.5}
    model = init_detector(case["config"], case["checkpoint"], cfg_options=overrides)
    export_onnx(model, tmp_path / "m.onnx", input_shape=(128, 160))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    graph = ExportGraph(model).eval()
    counts = set()
    for seed, hw in ((1, (128, 160)), (2, (100, 150))):  # the second clamped inside the padding
        img = torch.randn(1, 3, 128, 160, generator=torch.Generator().manual_seed(seed)) * seed
        shape = torch.tensor([hw])
        with torch.no_grad():
            eager = graph(img, shape)
        ours = session.run(None, {"img": img.numpy(), "img_shape": shape.numpy()})
        for e, o in zip(eager, ours):
            np.testing.assert_allclose(o, e.numpy(), rtol=1e-4, atol=1e-4)
        counts.add(ours[0].shape[1])
    assert len(counts) == 2, counts


def test_models_without_an_exportable_form_are_refused(tmp_path: Path) -> None:
    from rdet_apps.export import export_onnx
    from rdet_apps.export.graph import UnsupportedModelError

    class ReDet(torch.nn.Module):
        pass

    with pytest.raises(UnsupportedModelError, match="ReDet has no exportable form; these export: Rot"):
        export_onnx(ReDet(), tmp_path / "m.onnx")


@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed", "dynamic"])
@pytest.mark.parametrize("name", ["retinanet_obb_le90", "oriented_rcnn_le90"])
def test_unpadded_size_clamps_as_eager(golden_case, tmp_path: Path, name: str, dynamic: bool) -> None:  # type: ignore[no-untyped-def]
    """A 200 x 300 crop that the pipeline keeps (img_scale (300, 200)) and pads to 224 x 320: the
    graph clamps at the ``img_shape`` rdet_deploy feeds, (200, 300), not at the padded input, and
    gives eager ``inference_detector``'s detections: per class the same count, 98% matched. (Fed
    the padded size instead, several classes' counts differ on this crop.) The fixed export is
    exported at the padded size; the dynamic one traced at another."""
    import onnx
    from rdet_deploy import OnnxDetector
    from rdet_deploy import inference_detector as onnx_inference

    from rdet_apps.apis import inference_detector, init_detector
    from rdet_apps.export import export_onnx

    case = golden_case(name)
    overrides = {**case["overrides"], "data.test.pipeline.1.img_scale": (300, 200)}
    model = init_detector(case["config"], case["checkpoint"], cfg_options=overrides)
    out = tmp_path / "m.onnx"
    spec = export_onnx(model, out, input_shape=(192, 224) if dynamic else (224, 320), dynamic=dynamic)
    assert spec["version"] == 3 and spec["inputs"] == ["img", "img_shape"]
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ["img", "img_shape"]
    image = np.ascontiguousarray(cv2.imread(str(case["image"]), cv2.IMREAD_COLOR)[:200, :300])
    detector = OnnxDetector(out)
    assert detector.inputs == ("img", "img_shape")
    prepared = detector.prepare(image)
    assert prepared.img.shape == (3, 224, 320) and prepared.img_shape == (200, 300)
    ours = onnx_inference(detector, image)
    ref = inference_detector(model, image)
    total = 0
    for c, (r, o) in enumerate(zip(ref, ours)):
        assert len(o) == len(r), f"class {c}: {len(o)} detections vs eager's {len(r)}"
        if len(r):
            assert match_detections(r, o) >= 0.98 * len(r), f"class {c}"
        total += len(r)
    assert total > 20
    if not dynamic:
        _old_files_keep_working(out, tmp_path, detector, image)


def _old_files_keep_working(path: Path, tmp_path: Path, new: object, image: np.ndarray) -> None:
    """The version-3 file made into a version-1 one (``img`` alone; its ``img_shape`` a constant,
    the padded input size, as the graphs before version 3 clamped): rdet_deploy feeds it ``img``
    alone and gets what the version-3 graph gives when fed the padded size."""
    import json

    import onnx
    from onnx import numpy_helper
    from rdet_deploy import OnnxDetector

    proto = onnx.load(str(path))
    spec = json.loads(proto.metadata_props[0].value)
    h, w = spec["input"]["height"], spec["input"]["width"]
    del proto.graph.input[1]
    proto.graph.initializer.append(numpy_helper.from_array(np.array([[h, w]], np.int64), "img_shape"))
    spec["version"] = 1
    del spec["inputs"]
    proto.metadata_props[0].value = json.dumps(spec)
    old_path = tmp_path / "old.onnx"
    onnx.save(proto, str(old_path))
    old = OnnxDetector(old_path)
    assert old.inputs == ("img",)
    session = new.session  # type: ignore[attr-defined]

    class PaddedShape:
        def run(self, names, feeds):  # type: ignore[no-untyped-def]
            return session.run(names, {**feeds, "img_shape": np.array([[h, w]], np.int64)})

    new.session = PaddedShape()  # type: ignore[attr-defined]
    for a, b in zip(old.predict(image), new.predict(image)):  # type: ignore[attr-defined]
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.scores, b.scores)
        assert len(a.scores) > 20
