"""Typed detections (anything with boxes, scores, labels, e.g. rdet_core's Detections) give
the same numbers and files as MMRotate's per-class lists, and bad ones are named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from rdet_eval import (
    DetectionArrays,
    DetectionsLike,
    confusion_matrix,
    eval_rbbox_map,
    eval_rbbox_map_coco,
    is_detections_like,
    merge_patch_results,
    write_submission,
)


@dataclass
class Dets:
    """Stands in for rdet_core.structures.Detections (rdet-eval's tests use only rdet-eval)."""

    boxes: Any
    scores: Any
    labels: Any


def typed(per_class: list[np.ndarray], reverse: bool = True) -> Dets:
    """Per-class arrays -> one typed set, classes concatenated last first (so the flattening
    has to restore the per-class order itself); rows keep their order within a class."""
    order = range(len(per_class) - 1, -1, -1) if reverse else range(len(per_class))
    rows = [np.asarray(per_class[c], np.float32).reshape(-1, 6) for c in order]
    labels = [np.full(len(r), c, np.int64) for c, r in zip(order, rows)]
    allrows = np.vstack(rows)
    return Dets(allrows[:, :5], allrows[:, 5], np.concatenate(labels))


def test_rdet_core_shape_satisfies_the_protocol():
    d = Dets(np.zeros((0, 5)), np.zeros(0), np.zeros(0, np.int64))
    assert isinstance(d, DetectionsLike) and is_detections_like(d)
    assert not is_detections_like([np.zeros((0, 6))])
    assert isinstance(DetectionArrays(np.zeros((0, 5)), np.zeros(0), np.zeros(0, np.int64)), DetectionsLike)


@pytest.mark.parametrize(("iou_thr", "voc07"), [(0.5, True), (0.5, False), (0.75, True), (0.75, False)])
def test_map_is_identical_for_typed_and_per_class_input(eval_map_case, iou_thr, voc07):
    dets, anns, names = eval_map_case
    kw = dict(iou_thr=iou_thr, use_07_metric=voc07, logger="silent")
    ref_map, ref = eval_rbbox_map(dets, anns, **kw)
    mean_ap, results = eval_rbbox_map([typed(d) for d in dets], anns, dataset=names, **kw)
    assert mean_ap == ref_map  # bit for bit, not approximately
    assert len(results) == len(ref) == len(names)
    for r, q in zip(results, ref):
        assert r["num_gts"] == q["num_gts"] and r["num_dets"] == q["num_dets"] and r["ap"] == q["ap"]
        np.testing.assert_array_equal(r["recall"], q["recall"])
        np.testing.assert_array_equal(r["precision"], q["precision"])


def test_scale_ranges_coco_and_class_count(eval_map_case):
    dets, anns, _ = eval_map_case
    t = [typed(d) for d in dets]
    ranges = [(0, 32), (32, 96), (96, 1e5)]
    ref, _ = eval_rbbox_map(dets, anns, scale_ranges=ranges, logger="silent")
    assert eval_rbbox_map(t, anns, scale_ranges=ranges, logger="silent")[0] == ref
    ref_coco, coco = eval_rbbox_map_coco(dets, anns), eval_rbbox_map_coco(t, anns, num_classes=len(dets[0]))
    assert coco["mAP"] == ref_coco["mAP"] and coco["per_thr"] == ref_coco["per_thr"]
    # without names or num_classes: classes up to the largest label seen (the mAP is the same)
    inferred = eval_rbbox_map(t, anns, logger="silent")
    assert inferred[0] == eval_rbbox_map(dets, anns, logger="silent")[0]
    with pytest.raises(ValueError, match="num_classes is 4"):
        eval_rbbox_map(dets, anns, num_classes=4, logger="silent")


def test_torch_like_arrays_are_read_through_their_own_methods():
    class Tensor:  # what a torch tensor offers, without torch
        def __init__(self, a):
            self.a = np.asarray(a)

        def detach(self):
            return self

        def cpu(self):
            return self

        def __array__(self, dtype=None, copy=None):
            return self.a if dtype is None else self.a.astype(dtype)

    gt = {"bboxes": np.array([[50, 50, 20, 10, 0.3]]), "labels": np.array([1])}
    d = Dets(Tensor([[50, 50, 20, 10, 0.3]]), Tensor([0.9]), Tensor([1]))
    assert eval_rbbox_map([d], [gt], num_classes=2, logger="silent")[0] == pytest.approx(1.0)


def test_bad_typed_detections_are_named():
    gt = {"bboxes": np.zeros((0, 5)), "labels": np.zeros(0, np.int64)}
    box = np.array([[50, 50, 20, 10, 0.3]])
    good = Dets(box, np.array([0.9]), np.array([0]))
    with pytest.raises(
        ValueError, match=r"det_results\[1\]\.scores must have shape \(1,\) to match its 1 boxes"
    ):
        eval_rbbox_map([good, Dets(box, np.array([0.9, 0.8]), np.array([0]))], [gt, gt], logger="silent")
    with pytest.raises(ValueError, match=r"det_results\[0\]\.labels must have shape \(1,\)"):
        eval_rbbox_map([Dets(box, np.array([0.9]), np.array([0, 1]))], [gt], logger="silent")
    with pytest.raises(ValueError, match=r"det_results\[0\]\.boxes must have shape \(K, 5\), got \(1, 6\)"):
        eval_rbbox_map([Dets(np.zeros((1, 6)), np.array([0.9]), np.array([0]))], [gt], logger="silent")
    with pytest.raises(ValueError, match=r"det_results\[0\] has label 2, but there are 2 classes"):
        eval_rbbox_map([Dets(box, np.array([0.9]), np.array([2]))], [gt], dataset=["a", "b"], logger="silent")
    with pytest.raises(ValueError, match="labels must be integer class indices"):
        eval_rbbox_map([Dets(box, np.array([0.9]), np.array([0.5]))], [gt], logger="silent")
    with pytest.raises(ValueError, match="labels must be >= 0"):
        eval_rbbox_map([Dets(box, np.array([0.9]), np.array([-1]))], [gt], logger="silent")
    with pytest.raises(ValueError, match=r"det_results\[0\] has a non-finite detection 0"):
        eval_rbbox_map([Dets(box, np.array([np.nan]), np.array([0]))], [gt], logger="silent")
    with pytest.raises(
        TypeError, match=r"det_results\[1\] is a per-class list but det_results\[0\] is detections"
    ):
        eval_rbbox_map([good, [box]], [gt, gt], logger="silent")


def test_confusion_matrix_submission_and_merge_take_typed_detections(eval_map_case, tmp_path):
    dets, anns, names = eval_map_case
    dets, anns = dets[:40], anns[:40]
    t = [typed(d) for d in dets]
    ref = confusion_matrix(dets, anns, score_thr=0.3, nms_iou_thr=0.5)
    np.testing.assert_array_equal(
        confusion_matrix(t, anns, score_thr=0.3, nms_iou_thr=0.5, num_classes=len(names)), ref
    )
    with pytest.raises(ValueError, match="give num_classes"):
        confusion_matrix(t, anns)

    images = [f"P{i:04d}" for i in range(len(dets))]
    a = write_submission(tmp_path / "a", images, dets, names)
    b = write_submission(tmp_path / "b", images, t, names)
    assert [f.read_bytes() for f in a] == [f.read_bytes() for f in b]

    patches = {f"P0001__1024__{100 * i}___0": d for i, d in enumerate(dets[:6])}
    ref_merged = merge_patch_results(patches, nms_thr=0.1)
    merged = merge_patch_results({k: typed(v) for k, v in patches.items()}, nms_thr=0.1)
    (m,) = merged.values()
    assert isinstance(m, DetectionArrays) and list(merged) == ["P0001"]
    rows = np.c_[m.boxes, m.scores]
    for c, ref_c in enumerate(ref_merged["P0001"]):
        np.testing.assert_array_equal(rows[m.labels == c], ref_c)
    with pytest.raises(ValueError, match=r"detections of patch 'P0001__1024__0___0'\.scores"):
        merge_patch_results({"P0001__1024__0___0": Dets(np.zeros((2, 5)), np.zeros(1), np.zeros(2, int))})
