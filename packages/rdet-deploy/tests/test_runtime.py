"""rdet_deploy without torch: the pipeline, MMRotate's rotated NMS (golden), the detector on a
hand-written ONNX graph, and its errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from rdet_deploy import OnnxDetector, inference_detector, multiclass_nms_rotated, nms_rotated, prepare


@pytest.fixture(scope="module")
def golden_nms(shared_dir: Path) -> np.lib.npyio.NpzFile:
    return np.load(shared_dir / "golden" / "mmrotate-0.3.4" / "nms.npz")


@pytest.mark.parametrize("case", ["nms_0", "nms_1", "nms_2"])
def test_nms_rotated_is_mmcvs(golden_nms, case: str) -> None:  # type: ignore[no-untyped-def]
    g = golden_nms
    keep = nms_rotated(g[f"{case}/input/boxes"], g[f"{case}/input/scores"], float(g[f"{case}/input/iou_thr"]))
    np.testing.assert_array_equal(keep, g[f"{case}/output/keep"])


def test_multiclass_nms_rotated_is_mmrotates(golden_nms) -> None:  # type: ignore[no-untyped-def]
    g = golden_nms
    scores = g["multiclass/input/scores"]  # background column last, as the heads give it
    boxes, s, labels = multiclass_nms_rotated(
        g["multiclass/input/boxes"], scores[:, :-1], None, float(g["multiclass/input/score_thr"]),
        float(g["multiclass/input/iou_thr"]), int(g["multiclass/input/max_num"]),
    )  # fmt: skip
    ref = g["multiclass/output/dets"]
    np.testing.assert_array_equal(labels, g["multiclass/output/labels"])
    np.testing.assert_allclose(boxes, ref[:, :5], rtol=1e-6)
    np.testing.assert_allclose(s, ref[:, 5], rtol=1e-6)


def test_score_factors_multiply_after_the_threshold() -> None:
    boxes = np.array([[10, 10, 4, 4, 0], [50, 50, 4, 4, 0]], np.float32)
    scores = np.array([[0.5], [0.04]], np.float32)
    b, s, _ = multiclass_nms_rotated(boxes, scores, np.array([0.01, 10.0], np.float32), 0.05, 0.1, -1)
    # the first passes the threshold before its factor; the second is under it before its factor
    np.testing.assert_allclose(s, [0.005])
    np.testing.assert_array_equal(b, boxes[:1])


def test_prepare_resizes_normalises_and_pads(pipeline: dict) -> None:
    img = np.zeros((20, 40, 3), np.uint8)
    img[0, 0] = (1, 2, 3)  # BGR
    p = prepare(img, pipeline)
    assert p.img.shape == (3, 32, 64) and p.img.dtype == np.float32  # 40x20 -> 64x32, padded to 32
    assert p.img_shape == (32, 64) and p.ori_shape == (20, 40)
    np.testing.assert_allclose(p.scale_factor, [1.6, 1.6, 1.6, 1.6])
    resized = cv2.resize(img, (64, 32), interpolation=cv2.INTER_LINEAR).astype(np.float32)[..., ::-1]
    want = (resized - np.array([10, 20, 30])) / np.array([2, 4, 5])
    np.testing.assert_allclose(p.img.transpose(1, 2, 0), want, rtol=1e-6)
    padded = prepare(img, pipeline, pad_to=(64, 96))
    assert (
        padded.img.shape == (3, 64, 96) and not padded.img[:, 32:].any() and not padded.img[:, :, 64:].any()
    )
    with pytest.raises(ValueError, match="larger than the model's fixed input 16x16"):
        prepare(img, pipeline, pad_to=(16, 16))


def test_detector_rescales_thresholds_and_suppresses(
    fixed_model: Callable[..., Path], tmp_path: Path
) -> None:
    # candidates in network-input pixels: the image (32 x 16) is resized x2 to 64 x 32
    boxes = np.array(
        [[20, 10, 8, 4, 0.3], [21, 10, 8, 4, 0.3], [40, 20, 6, 6, -0.2], [5, 5, 2, 2, 0.0]], np.float32
    )
    scores = np.array([[0.9, 0.0], [0.8, 0.7], [0.01, 0.6], [0.02, 0.03]], np.float32)
    model = OnnxDetector(fixed_model(boxes, scores, input_hw=(32, 64)))
    assert model.CLASSES == ["c0", "c1"] and model.input_shape == (32, 64)
    img = np.full((16, 32, 3), 128, np.uint8)
    result = inference_detector(model, img)
    assert len(result) == 2 and all(r.dtype == np.float32 and r.shape[1:] == (6,) for r in result)
    # class 0: box 1 suppressed by box 0 (IoU > 0.1); boxes 2, 3 under score_thr
    np.testing.assert_allclose(result[0], [[10, 5, 4, 2, 0.3, 0.9]], rtol=1e-6)
    # class 1: boxes 1 and 2, best first; the angle is not rescaled
    np.testing.assert_allclose(result[1], [[10.5, 5, 4, 2, 0.3, 0.7], [20, 10, 3, 3, -0.2, 0.6]], rtol=1e-6)
    path = tmp_path / "img.png"
    cv2.imwrite(str(path), img)
    batch = inference_detector(model, [str(path), img])
    for r in batch:
        for a, b in zip(r, result):
            np.testing.assert_array_equal(a, b)
    post = {"score_thr": 0.05, "iou_thr": 0.1, "max_per_img": 2}
    capped = OnnxDetector(fixed_model(boxes, scores, input_hw=(32, 64), post=post))
    dets = capped.predict(img)[0]
    np.testing.assert_allclose(dets.scores, [0.9, 0.7])
    np.testing.assert_array_equal(dets.labels, [0, 1])


def test_errors_name_the_problem(fixed_model: Callable[..., Path], tmp_path: Path) -> None:
    boxes, scores = np.zeros((1, 5), np.float32), np.zeros((1, 1), np.float32)
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        OnnxDetector(tmp_path / "nope.onnx")
    with pytest.raises(ValueError, match="no 'rdet' metadata"):
        OnnxDetector(_no_meta(fixed_model, tmp_path))
    with pytest.raises(ValueError, match="metadata version 99"):
        OnnxDetector(fixed_model(boxes, scores, spec={"version": 99}))
    model = OnnxDetector(fixed_model(boxes, scores))  # input 64 x 64
    with pytest.raises(
        ValueError, match=r"resizes and pads to 32x64, the model was exported for 64x64: .*--shape 32 64"
    ):
        model.predict(np.zeros((16, 32, 3), np.uint8))
    padded = OnnxDetector(fixed_model(boxes, scores), pad_to_input=True)
    assert padded.prepare(np.zeros((16, 32, 3), np.uint8)).img.shape == (3, 64, 64)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        model.predict(str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="BGR HxWx3"):
        model.predict(np.zeros((8, 8), np.uint8))
    small = OnnxDetector(fixed_model(boxes, scores, input_hw=(32, 32)), pad_to_input=True)
    with pytest.raises(ValueError, match="resizes to 64x64 .* larger than the model's fixed input 32x32"):
        small.predict(np.zeros((16, 16, 3), np.uint8))


def _no_meta(fixed_model: Callable[..., Path], tmp_path: Path) -> Path:
    import onnx

    path = fixed_model(np.zeros((1, 5), np.float32), np.zeros((1, 1), np.float32))
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    out = tmp_path / "bare.onnx"
    onnx.save(proto, str(out))
    return out


def test_runtime_runs_where_torch_cannot_import(fixed_model: Callable[..., Path]) -> None:
    """A model run in a fresh interpreter in which ``import torch`` fails (a meta-path blocker):
    the runtime needs no torch. (.ci/run also runs these tests in a venv without torch.)"""
    import subprocess

    path = fixed_model(
        np.array([[20, 10, 8, 4, 0.3]], np.float32), np.array([[0.9]], np.float32), input_hw=(32, 64)
    )
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, Block())
import numpy as np
from rdet_deploy import OnnxDetector, inference_detector
result = inference_detector(OnnxDetector({str(path)!r}), np.zeros((16, 32, 3), np.uint8))
assert "torch" not in sys.modules
print(result[0].tolist())
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == str([[10.0, 5.0, 4.0, 2.0, 0.30000001192092896, 0.8999999761581421]])


@pytest.mark.parametrize("batch", [None, 1])
def test_dynamic_model_takes_every_size_padded_to_the_divisor(
    dynamic_model: Callable[..., Path], batch: int | None
) -> None:
    """A dynamic model (``rdet export --dynamic``, metadata version 2): images of two sizes in one
    call, each padded only to the pipeline's size divisor (no pad_to_input, which it ignores), run
    per padded size (a batch of any size, or one by one when the model says batch 1), and each
    detection goes back to its own image in original pixels."""
    model = OnnxDetector(dynamic_model(batch), pad_to_input=True)
    assert model.dynamic and model.input_shape is None and model.batch == batch and not model.pad_to_input
    assert model.inputs == ("img",)
    fed: list[tuple[int, ...]] = []
    session = model.session

    class Spy:
        def run(self, names, feeds):  # type: ignore[no-untyped-def]
            assert list(feeds) == ["img"]  # metadata version 2: no img_shape input
            fed.append(feeds["img"].shape)
            return session.run(names, feeds)

    model.session = Spy()
    rng = np.random.default_rng(0)
    wide, square, wide2 = (
        rng.integers(0, 255, s, dtype=np.uint8) for s in ((16, 32, 3), (40, 40, 3), (16, 32, 3))
    )
    prepared = [model.prepare(i) for i in (wide, square, wide2)]
    # keep-ratio to 64 px: 16 x 32 -> 32 x 64 (x2), 40 x 40 -> 64 x 64 (x1.6); padded to 32: as they are
    assert [p.img.shape for p in prepared] == [(3, 32, 64), (3, 64, 64), (3, 32, 64)]
    results = inference_detector(model, [wide, square, wide2])
    assert fed == (  # per padded size, in order of first appearance
        [(1, 3, 32, 64)] * 2 + [(1, 3, 64, 64)] if batch else [(2, 3, 32, 64), (1, 3, 64, 64)]
    )
    for p, (dets,) in zip(prepared, results):
        h, w = p.img.shape[1:]
        s = p.scale_factor[0]
        mean_score = 1 / (1 + np.exp(-p.img.astype(np.float64).mean()))
        want = [
            [w / 2 / s, h / 2 / s, w / 4 / s, h / 4 / s, 0.0, 0.9],
            [8 / s, 8 / s, 4 / s, 4 / s, 0.5, mean_score],
        ]
        want.sort(key=lambda r: -r[5])
        np.testing.assert_allclose(dets, want, rtol=1e-5)


@pytest.mark.parametrize(("batch", "dynamic"), [(None, True), (1, True), (2, False)])
def test_img_shape_is_fed_where_the_model_declares_it(
    shape_model: Callable[..., Path], fixed_model: Callable[..., Path], batch: int | None, dynamic: bool
) -> None:
    """Metadata version 3 declares the ``img_shape`` input: each image's size after resizing,
    before padding, goes in beside it (int64, one row per image, a fixed batch's filler rows
    copies), and the candidates the graph makes from it come back to that image."""
    model = OnnxDetector(shape_model(batch, dynamic), pad_to_input=True)
    assert model.inputs == ("img", "img_shape") and model.dynamic == dynamic
    fed: list[tuple[tuple[int, ...], list[list[int]]]] = []
    session = model.session

    class Spy:
        def run(self, names, feeds):  # type: ignore[no-untyped-def]
            assert feeds["img_shape"].dtype == np.int64
            fed.append((feeds["img"].shape, feeds["img_shape"].tolist()))
            return session.run(names, feeds)

    model.session = Spy()
    # keep-ratio to 64 px: 16 x 20 -> 51 x 64, 12 x 16 -> 48 x 64 (both padded to 64 x 64), 16 x 32 -> 32 x 64
    images = [np.zeros(s, np.uint8) for s in ((16, 20, 3), (12, 16, 3), (16, 32, 3))]
    prepared = [model.prepare(i) for i in images]
    assert [p.img_shape for p in prepared] == [(51, 64), (48, 64), (32, 64)]
    results = model.predict(images)
    if batch is None:  # per padded size, all at once
        assert fed == [((2, 3, 64, 64), [[51, 64], [48, 64]]), ((1, 3, 32, 64), [[32, 64]])]
    elif batch == 1:
        assert fed == [
            ((1, 3, 64, 64), [[51, 64]]),
            ((1, 3, 64, 64), [[48, 64]]),
            ((1, 3, 32, 64), [[32, 64]]),
        ]
    else:  # fixed 64 x 64, pad_to_input: one size, batches of two, the last filled with a copy
        assert fed == [((2, 3, 64, 64), [[51, 64], [48, 64]]), ((2, 3, 64, 64), [[32, 64], [32, 64]])]
    for p, dets in zip(prepared, results):
        (h, w), (sx, sy) = p.img_shape, p.scale_factor[:2]
        np.testing.assert_allclose(
            dets.boxes, [[w / 2 / sx, h / 2 / sy, w / 4 / sx, h / 4 / sy, 0]], rtol=1e-6
        )
        np.testing.assert_allclose(dets.scores, [0.9], rtol=1e-6)
    # metadata that declares an input the graph lacks (or one this runtime cannot feed) is refused
    boxes, scores = np.zeros((1, 5), np.float32), np.zeros((1, 1), np.float32)
    for inputs in (["img", "img_shape"], ["img", "img_meta"]):
        spec = {
            **model.spec,
            "inputs": inputs,
            "input": {"name": "img", "batch": 1, "height": 64, "width": 64},
        }
        with pytest.raises(
            ValueError, match=rf"metadata inputs \['img', '{inputs[1]}'\]: this rdet-deploy feeds"
        ):
            OnnxDetector(fixed_model(boxes, scores, spec=spec))
