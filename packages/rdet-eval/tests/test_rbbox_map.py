import logging

import numpy as np
import pytest

from rdet_eval import eval_rbbox_map, eval_rbbox_map_coco


def box(cx, cy, w, h, a=0.0):
    return [cx, cy, w, h, a]


SETTINGS = [(thr, v) for thr in (0.5, 0.75) for v in (0, 1)]


@pytest.mark.parametrize(("iou_thr", "voc07"), SETTINGS)
def test_matches_mmrotate(eval_map_case, shared_dir, iou_thr, voc07):
    dets, anns, _ = eval_map_case
    z = np.load(shared_dir / "golden/mmrotate-0.3.4/eval_map.npz")
    key = f"result/map_iou{iou_thr}_voc07{voc07}"
    mean_ap, results = eval_rbbox_map(dets, anns, iou_thr=iou_thr, use_07_metric=bool(voc07), logger="silent")
    assert abs(mean_ap - float(z[f"{key}/mAP"])) < 1e-6
    np.testing.assert_allclose([r["ap"] for r in results], z[f"{key}/ap"], atol=1e-6)
    assert [r["num_gts"] for r in results] == z[f"{key}/num_gts"].tolist()
    assert [r["num_dets"] for r in results] == z[f"{key}/num_dets"].tolist()


def _image(gt, labels, dets_per_class, ignore=None, ignore_labels=None):
    ann = {"bboxes": np.array(gt, np.float32).reshape(-1, 5), "labels": np.array(labels, np.int64)}
    if ignore is not None:
        ann["bboxes_ignore"] = np.array(ignore, np.float32).reshape(-1, 5)
        ann["labels_ignore"] = np.array(ignore_labels, np.int64)
    return [np.array(d, np.float32).reshape(-1, 6) for d in dets_per_class], ann


def test_hand_made_cases():
    # image 0: a hit, a duplicate (fp), a detection on an ignored object (neither)
    d0, a0 = _image(
        [box(50, 50, 20, 10, 0.3)],
        [0],
        [[box(50, 50, 20, 10, 0.3) + [0.9], box(51, 50, 20, 10, 0.3) + [0.8], box(200, 200, 30, 30) + [0.7]]],
        ignore=[box(200, 200, 30, 30)],
        ignore_labels=[0],
    )
    # image 1: no objects at all, one false positive; one missed object in image 2
    d1, a1 = _image([], [], [[box(10, 10, 5, 5) + [0.95]]])
    d2, a2 = _image([box(30, 30, 10, 10)], [0], [[]])
    mean_ap, (res,) = eval_rbbox_map([d0, d1, d2], [a0, a1, a2], use_07_metric=False, logger="silent")
    assert res["num_gts"] == 2 and res["num_dets"] == 4
    # score order: 0.95 fp, 0.9 tp, 0.8 fp, 0.7 ignored -> precision 0, 1/2, 1/3; recall 0, 1/2, 1/2
    np.testing.assert_allclose(res["recall"], [0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(res["precision"], [0, 0.5, 1 / 3, 1 / 3], rtol=1e-6)
    assert mean_ap == pytest.approx(0.25)


def test_perfect_detections_and_classes_without_objects():
    dets, anns = [], []
    rng = np.random.default_rng(0)
    for _ in range(5):
        gt = np.c_[rng.uniform(20, 200, (4, 2)), rng.uniform(5, 30, (4, 2)), rng.uniform(-1, 1, 4)]
        labels = np.array([0, 0, 1, 1])
        per_class = [np.c_[gt[labels == c], rng.uniform(0.5, 1, (labels == c).sum())] for c in range(2)]
        per_class.append(np.zeros((0, 6)))  # class 2: no objects, no detections
        dets.append(per_class)
        anns.append({"bboxes": gt, "labels": labels})
    mean_ap, results = eval_rbbox_map(dets, anns, logger="silent")
    assert mean_ap == pytest.approx(1.0) and results[2]["num_gts"] == 0  # class 2 left out of the mean
    coco = eval_rbbox_map_coco(dets, anns)
    assert coco["mAP"] == pytest.approx(1.0) and len(coco["per_thr"]) == 10


def test_scale_ranges_work_where_mmrotate_raises():
    """MMRotate 0.3.4 raises NotImplementedError for scale_ranges; rdet computes per-range AP."""
    small, large = box(20, 20, 8, 8), box(100, 100, 80, 60)
    d0, a0 = _image([small, large], [0, 0], [[small + [0.9], large + [0.8]]])
    d1, a1 = _image([], [], [[box(50, 50, 10, 10) + [0.7]]])  # an image without objects: MMRotate raised
    mean_ap, (res,) = eval_rbbox_map(
        [d0, d1], [a0, a1], scale_ranges=[(0, 32), (32, 1e5)], use_07_metric=False, logger="silent"
    )
    assert res["num_gts"].tolist() == [1, 1]
    # the small range: tp (small), the large box out of range (neither), the 10x10 fp counts
    np.testing.assert_allclose(res["precision"][0], [1, 1, 0.5])
    np.testing.assert_allclose(res["precision"][1], [0, 1 / 1, 1 / 1])
    assert mean_ap == pytest.approx([1.0, 1.0])


def test_coco_thresholds_are_monotone(eval_map_case):
    dets, anns, _ = eval_map_case
    coco = eval_rbbox_map_coco(dets, anns)
    values = list(coco["per_thr"].values())
    assert all(a >= b for a, b in zip(values, values[1:])) and coco["mAP_50"] > coco["mAP_75"]
    assert coco["mAP_50"] == pytest.approx(
        eval_rbbox_map(dets, anns, use_07_metric=False, logger="silent")[0], abs=1e-9
    )


def test_bad_input_names_the_item():
    d, a = _image([box(5, 5, 2, 2)], [0], [[box(5, 5, 2, 2) + [0.5]]])
    bad = [np.array([[1, 2, 3, 4, 0, np.nan]], np.float32)]
    with pytest.raises(ValueError, match=r"det_results\[1\]\[0\] has a non-finite row"):
        eval_rbbox_map([d, bad], [a, a], logger="silent")
    with pytest.raises(ValueError, match=r"det_results\[0\]\[0\] must have shape \(k, 6\)"):
        eval_rbbox_map([[np.zeros((1, 5))]], [a], logger="silent")
    with pytest.raises(ValueError, match="2 images but annotations has 1"):
        eval_rbbox_map([d, d], [a], logger="silent")
    with pytest.raises(KeyError, match=r"annotations\[0\] has no 'labels'"):
        eval_rbbox_map([d], [{"bboxes": np.zeros((0, 5))}], logger="silent")


def test_printed_and_logged_table(eval_map_case, capsys, caplog):
    dets, anns, names = eval_map_case
    eval_rbbox_map(dets, anns, dataset=names)
    out = capsys.readouterr().out
    assert "| class" in out and "| class0" in out and "| mAP" in out and "0.405" in out
    with caplog.at_level(logging.INFO):
        eval_rbbox_map(dets, anns, dataset=names, logger=logging.getLogger("rdet.test"))
    assert "| mAP" in caplog.text


def test_a_class_with_detections_but_no_objects_anywhere():
    d, a = _image([box(5, 5, 2, 2)], [0], [[box(5, 5, 2, 2) + [0.5]], [box(50, 50, 9, 9) + [0.4]]])
    mean_ap, results = eval_rbbox_map([d], [a], logger="silent")
    assert results[1]["num_gts"] == 0 and results[1]["num_dets"] == 1 and mean_ap == pytest.approx(1.0)
