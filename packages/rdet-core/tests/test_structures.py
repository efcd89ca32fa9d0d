import numpy as np
import pytest

from rdet_core.structures import (
    DetBatch,
    Detections,
    DetSample,
    GroundTruth,
    ImageMeta,
    detections_from_result,
    detections_to_result,
)


def _dets(k=5, seed=0):
    rng = np.random.default_rng(seed)
    boxes = rng.uniform(1, 100, (k, 5)).astype(np.float32)
    return Detections(boxes, rng.uniform(0, 1, k).astype(np.float32), rng.integers(0, 3, k))


def test_result_format_round_trip_keeps_order_within_classes():
    dets = _dets(20)
    result = detections_to_result(dets, num_classes=4)
    assert len(result) == 4 and all(r.shape[1] == 6 and r.dtype == np.float32 for r in result)
    assert result[3].shape == (0, 6)  # no class-3 detections: an empty (0, 6) array, as rbbox2result
    back = detections_from_result(result)
    order = np.argsort(dets.labels, kind="stable")
    np.testing.assert_array_equal(back.boxes, dets.boxes[order])
    np.testing.assert_array_equal(back.scores, dets.scores[order])
    np.testing.assert_array_equal(back.labels, dets.labels[order])


def test_result_format_errors():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        detections_to_result(Detections(np.zeros((1, 5)), np.zeros(1), np.array([2])), num_classes=2)
    with pytest.raises(ValueError, match=r"result\[1\] must have shape \(k, 6\)"):
        detections_from_result([np.zeros((0, 6)), np.zeros((2, 5))])
    assert len(detections_from_result([])) == 0


def test_shapes_are_checked_with_the_field_named():
    with pytest.raises(ValueError, match=r"Detections.boxes must have shape \(K, 5\), got \(3, 4\)"):
        Detections(np.zeros((3, 4)), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"Detections.scores must have shape \(3,\)"):
        Detections(np.zeros((3, 5)), np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"GroundTruth.labels must have shape \(2,\)"):
        GroundTruth(np.zeros((2, 5)), np.zeros(3))
    with pytest.raises(ValueError, match=r"DetBatch has 2 images but 1 metas"):
        DetBatch(np.zeros((2, 3, 8, 8)), [ImageMeta("a.png", (8, 8, 3), (8, 8, 3))])
    with pytest.raises(ValueError, match=r"DetSample, file a.png: image must be 3-D \(C, H, W\)"):
        DetSample(np.zeros((8, 8)), ImageMeta("a.png", (8, 8, 3), (8, 8, 3)))
    with pytest.raises(ValueError, match="flip_direction"):
        ImageMeta("a.png", (8, 8, 3), (8, 8, 3), flip=True, flip_direction="sideways")


def test_image_meta_defaults_and_mmrotate_view():
    meta = ImageMeta("P0001.png", (1024, 1024, 3), (512, 512, 3), scale_factor=0.5, extra={"patch": (0, 0)})
    assert meta.pad_shape == (512, 512, 3)
    np.testing.assert_array_equal(meta.scale_factor, np.full(4, 0.5, np.float32))
    mm = meta.as_mmrotate()
    assert mm["ori_shape"] == (1024, 1024, 3) and mm["patch"] == (0, 0) and mm["flip"] is False
    assert ImageMeta(None, (4, 6, 3), (8, 12, 3), scale_factor=(2.0, 2.0)).scale_factor.tolist() == [
        2,
        2,
        2,
        2,
    ]


def test_ground_truth_ignore_defaults_to_empty_and_subsets_work():
    gt = GroundTruth(np.ones((3, 5), np.float32), np.array([0, 1, 2]))
    assert gt.boxes_ignore.shape == (0, 5) and gt.labels_ignore.shape == (0,) and len(gt) == 3
    dets = _dets(10)
    high = dets[dets.scores > 0.5]
    assert len(high) == int((dets.scores > 0.5).sum())


def test_torch_tensors_work_too():
    torch = pytest.importorskip("torch")
    dets = Detections(torch.rand(4, 5), torch.rand(4), torch.tensor([0, 1, 1, 0]))
    result = detections_to_result(dets, 2)
    assert [r.shape for r in result] == [(2, 6), (2, 6)]
    batch = DetBatch(
        torch.zeros(2, 3, 16, 16),
        [ImageMeta(f"{i}.png", (16, 16, 3), (16, 16, 3)) for i in range(2)],
        [GroundTruth(torch.zeros(1, 5), torch.zeros(1, dtype=torch.long)) for _ in range(2)],
    )
    moved = batch.to("cpu")
    assert len(moved) == 2 and moved.gts[0].boxes_ignore.shape == (0, 5)
    assert dets.numpy().boxes.dtype == np.float32 and dets.to("cpu") is not None


def test_float_labels_must_be_whole_numbers_with_the_field_named():
    boxes = np.full((2, 5), 5, np.float32)
    # 1.7 used to pass and detections_to_result truncated it to class 1
    with pytest.raises(ValueError, match=r"Detections.labels must be whole class indices.*1.7"):
        Detections(boxes, np.ones(2, np.float32), np.array([0.0, 1.7]))
    with pytest.raises(ValueError, match=r"Detections.labels must be whole.*nan"):
        Detections(boxes, np.ones(2, np.float32), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match=r"Detections.labels must be integer class indices, got dtype"):
        Detections(boxes, np.ones(2, np.float32), np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"GroundTruth.labels must be whole class indices.*0.5"):
        GroundTruth(boxes, np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"GroundTruth.labels_ignore must be whole.*2.25"):
        GroundTruth(boxes, np.array([0, 1]), boxes[:1], np.array([2.25]))
    with pytest.raises(ValueError, match=r"GroundTruth.labels must be integer class indices, got dtype bool"):
        GroundTruth(boxes, np.array([True, False]))
    # whole-valued floats pass (the same rule as DetSample's), and convert exactly
    dets = Detections(boxes, np.ones(2, np.float32), np.array([0.0, 2.0]))
    assert [len(r) for r in detections_to_result(dets, 3)] == [1, 0, 1]
    assert GroundTruth(boxes, np.array([1.0, 0.0])).labels.tolist() == [1.0, 0.0]


def test_float_torch_labels_are_checked_too():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"Detections.labels must be whole class indices.*1.5"):
        Detections(torch.zeros(1, 5), torch.ones(1), torch.tensor([1.5]))
    with pytest.raises(
        ValueError, match=r"GroundTruth.labels must be integer class indices, got dtype torch.bool"
    ):
        GroundTruth(torch.zeros(1, 5), torch.tensor([True]))
    assert len(Detections(torch.zeros(1, 5), torch.ones(1), torch.tensor([1.0]))) == 1
