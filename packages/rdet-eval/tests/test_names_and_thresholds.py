"""Repeated names and thresholds out of range that used to give a silently wrong answer:
NMS thresholds in merging, repeated images in ``image_list``, repeated or unusable class
names and repeated images in submissions, repeated class names and IoU thresholds in the
metrics, the confusion matrix's NMS and score thresholds."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from rdet_eval import (
    DOTA_V1_CLASSES,
    DOTA_V2_CLASSES,
    DOTA_V15_CLASSES,
    confusion_matrix,
    eval_dota_task1,
    eval_rbbox_map,
    eval_rbbox_map_coco,
    evaluate_dota_task1,
    merge_patch_results,
    merge_task1_patch_file,
    read_task1,
    write_submission,
    zip_submission,
)
from rdet_eval.nms import nms_polygons, nms_rotated_np

SQUARE = "0 0 10 0 10 10 0 10"
FAR = "100 100 110 100 110 110 100 110"
BOX = np.array([[50.0, 50, 20, 10, 0.1, 0.9]])
ANN = {"bboxes": np.array([[50.0, 50, 20, 10, 0.1]]), "labels": np.array([0])}
BAD_THRS = [-1, math.nan, 0, 1.5, "0.1", None]
BAD_MATCH = r"must be (in|a number in) \(0, 1\]"


# -- item 1: NMS thresholds in merging ---------------------------------------------------------


@pytest.mark.parametrize("thr", BAD_THRS)
def test_merge_nms_threshold_must_lie_in_0_1(tmp_path, thr):
    """At -1 or NaN no IoU is ``<= thr``: only the best detection of each class and image was
    kept, even among disjoint boxes (``rdet test --format-only --eval-options nms_thr=-1``
    wrote 10 lines instead of 252, exit 0)."""
    disjoint = [np.array([[50, 50, 20, 10, 0.1, 0.9], [500, 500, 20, 10, 0.1, 0.8]])]
    with pytest.raises(ValueError, match=r"nms_thr " + BAD_MATCH):
        merge_patch_results({"P1__1024__0___0": disjoint}, nms_thr=thr)
    src = tmp_path / "patches.txt"
    src.write_text(f"P1__1024__0___0 0.9 {SQUARE}\nP1__1024__0___0 0.8 {FAR}\n")
    with pytest.raises(ValueError, match=r"nms_thr " + BAD_MATCH):
        merge_task1_patch_file(src, tmp_path / "merged.txt", nms_thr=thr)
    assert not (tmp_path / "merged.txt").exists()
    polys = np.array([[0.0, 0, 10, 0, 10, 10, 0, 10], [100, 100, 110, 100, 110, 110, 100, 110]])
    with pytest.raises(ValueError, match=r"iou_thr " + BAD_MATCH):
        nms_polygons(polys, np.array([0.9, 0.8]), thr)
    with pytest.raises(ValueError, match=r"iou_thr " + BAD_MATCH):
        nms_rotated_np(disjoint[0][:, :5], disjoint[0][:, 5], thr)


def test_merge_keeps_disjoint_boxes_at_thresholds_in_range(tmp_path):
    disjoint = [np.array([[50, 50, 20, 10, 0.1, 0.9], [500, 500, 20, 10, 0.1, 0.8]])]
    for thr in (0.1, 1, np.float32(0.5)):
        assert len(merge_patch_results({"P1__1024__0___0": disjoint}, nms_thr=thr)["P1"][0]) == 2
    src = tmp_path / "patches.txt"
    src.write_text(f"P1__1024__0___0 0.9 {SQUARE}\nP1__1024__0___0 0.8 {FAR}\n")
    assert merge_task1_patch_file(src, tmp_path / "merged.txt", nms_thr=1.0) == {"P1": 2}


def test_merge_refuses_a_patch_given_twice():
    """Pairs (what ``rdet test`` passes) could name one patch twice: its detections counted
    twice, and at ``nms_thr=1`` every one of them was kept twice."""
    dets = [BOX]
    with pytest.raises(ValueError, match=r"patch_results repeats 'P1__1024__0___0' \(at 0, 2\)"):
        merge_patch_results(
            [("P1__1024__0___0", dets), ("P1__1024__512___0", dets), ("P1__1024__0___0", dets)]
        )


# -- item 2: an image listed twice in image_list ----------------------------------------------


def _files(tmp_path, labels: dict[str, str], results: dict[str, str]):
    (tmp_path / "labels").mkdir(exist_ok=True)
    (tmp_path / "res").mkdir(exist_ok=True)
    for image, text in labels.items():
        (tmp_path / "labels" / f"{image}.txt").write_text(text)
    for cls, text in results.items():
        (tmp_path / "res" / f"Task1_{cls}.txt").write_text(text)
    return tmp_path / "res", tmp_path / "labels"


def test_an_image_listed_twice_is_an_error_not_twice_its_objects(tmp_path):
    """Differs from the devkit: ``voc_eval`` reads a repeated ``imagesetfile`` line as one more
    image, adds its objects to ``npos`` again (its detections are matched once), and the
    recall of its classes is capped: mAP 0.7146 -> 0.6690 on the devkit's own example with
    ``P0003`` listed twice, without a word. rdet raises, naming the image (and, for a file,
    the line)."""
    res, labels = _files(
        tmp_path,
        {"P1": f"{SQUARE} plane 0\n", "P2": f"{FAR} plane 0\n"},
        {"plane": f"P1 0.9 {SQUARE}\nP2 0.8 {FAR}\n"},
    )
    ok = evaluate_dota_task1(res, labels, classes=["plane"], image_list=["P1", "P2"])
    assert ok["npos"] == {"plane": 2} and ok["mAP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"image_list repeats 'P2' \(at 1, 2\): give each once"):
        evaluate_dota_task1(res, labels, classes=["plane"], image_list=["P1", "P2", "P2"])
    listing = tmp_path / "images.txt"
    listing.write_text("P1\nP2\n\nP2 \n")
    with pytest.raises(ValueError, match=r"images\.txt:4: image 'P2' is listed again \(first on line 2\)"):
        evaluate_dota_task1(res, labels, classes=["plane"], image_list=listing)
    listing.write_text("P1\n\nP2\n")
    assert evaluate_dota_task1(res, labels, classes=["plane"], image_list=listing)["npos"] == {"plane": 2}


# -- item 3: write_submission's names ---------------------------------------------------------


def test_submission_refuses_an_image_given_twice(tmp_path):
    """Every detection of the image was written twice."""
    d = [BOX, np.zeros((0, 6))]
    with pytest.raises(ValueError, match=r"image_names repeats 'P1' \(at 0, 1\)"):
        write_submission(tmp_path / "sub", ["P1", "P1"], [d, d], ["plane", "ship"])
    assert not (tmp_path / "sub").exists()


def test_submission_refuses_a_class_given_twice(tmp_path):
    """The second class's rows replaced the first's in ``Task1_plane.txt``: class 0's
    detections were lost."""
    d = [BOX, np.zeros((0, 6))]
    with pytest.raises(ValueError, match=r"class_names repeats 'plane' \(at 0, 1\)"):
        write_submission(tmp_path / "sub", ["P1"], [d], ["plane", "plane"])


@pytest.mark.parametrize(
    ("name", "what", "dota"),
    [
        ("large\tvehicle", "whitespace", "large-vehicle"),
        (" small vehicle", "whitespace", "small-vehicle"),
        ("plane/jet", "a path separator", "plane-jet"),
        ("plane\\jet", "a path separator", "plane-jet"),
    ],
)
def test_submission_refuses_class_names_that_cannot_name_a_file(tmp_path, name, what, dota):
    """``a/b`` raised a bare FileNotFoundError; ``small vehicle`` wrote ``Task1_small
    vehicle.txt``, which the server reads as another class."""
    d = [np.zeros((0, 6)), BOX]
    with pytest.raises(
        ValueError,
        match=rf"class_names\[1\] {re.escape(repr(name))} holds {what} .* join words with '-' .* e\.g\. to '{dota}'",
    ):
        write_submission(tmp_path / "sub", ["P1"], [d], ["plane", name])
    with pytest.raises(ValueError, match=r"class_names\[0\] is empty"):
        write_submission(tmp_path / "sub", ["P1"], [d], ["", "plane"])
    with pytest.raises(TypeError, match=r"class_names\[1\] must be a class name \(str\), got int 3"):
        write_submission(tmp_path / "sub", ["P1"], [d], ["plane", 3])


def test_submission_takes_class_names_with_inner_spaces(tmp_path):
    """FAIR1M's ``Small Car``, DOTA8's ``small vehicle``: MMRotate writes ``Task1_Small Car.txt``
    (the class is only in the file name), and so does rdet."""
    files = write_submission(tmp_path / "sub", ["P1"], [[BOX, np.zeros((0, 6))]], ["Small Car", "plane"])
    assert [f.name for f in files] == ["Task1_Small Car.txt", "Task1_plane.txt"]
    assert read_task1(files[0]).images == ["P1"]


def test_submission_takes_every_dota_class_name(tmp_path):
    names = list(dict.fromkeys([*DOTA_V1_CLASSES, *DOTA_V15_CLASSES, *DOTA_V2_CLASSES]))
    results = [[BOX if c == 4 else np.zeros((0, 6)) for c in range(len(names))]]
    files = write_submission(tmp_path / "sub", ["P0001"], results, names)
    assert [f.name for f in files] == [f"Task1_{n}.txt" for n in names]
    assert read_task1(tmp_path / "sub" / f"Task1_{names[4]}.txt").images == ["P0001"]


def test_zip_submission_refuses_two_files_of_one_name(tmp_path):
    """Flat, both went in under one name (zipfile only warns) and the server read one."""
    for folder in ("a", "b"):
        write_submission(tmp_path / folder, ["P1"], [[BOX]], ["plane"])
    with pytest.raises(ValueError, match=r"repeats 'Task1_plane\.txt' \(at 0, 1\)"):
        zip_submission([tmp_path / "a/Task1_plane.txt", tmp_path / "b/Task1_plane.txt"], tmp_path / "s.zip")


# -- item 4: the other entry points ------------------------------------------------------------


def test_metrics_refuse_a_class_name_given_twice(tmp_path):
    """``eval_dota_task1`` keys its result by name: the first ``plane`` was dropped from the
    mAP (1.0 instead of 0.5 here); ``evaluate_dota_task1`` read one file twice."""
    poly = np.array([[0.0, 0, 10, 0, 10, 10, 0, 10, 0.9]])
    dets = [[poly, np.zeros((0, 9))]]
    anns = [{"polygons": np.vstack([poly[:, :8], poly[:, :8] + 100]), "labels": np.array([0, 1])}]
    assert eval_dota_task1(dets, anns, class_names=["plane", "ship"])["mAP"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"class_names repeats 'plane' \(at 0, 1\)"):
        eval_dota_task1(dets, anns, class_names=["plane", "plane"])
    res, labels = _files(tmp_path, {"P1": f"{SQUARE} plane 0\n"}, {"plane": f"P1 0.9 {SQUARE}\n"})
    with pytest.raises(ValueError, match=r"classes repeats 'plane' \(at 0, 1\)"):
        evaluate_dota_task1(res, labels, classes=["plane", "plane"])
    with pytest.raises(ValueError, match=r"dataset repeats 'plane' \(at 0, 1\)"):
        eval_rbbox_map([[BOX, BOX]], [ANN], dataset=["plane", "plane"], logger="silent")


def test_coco_map_refuses_a_threshold_given_twice():
    """``per_thr`` held 0.5 once, the per-class AP averaged it twice."""
    with pytest.raises(ValueError, match=r"iou_thrs repeats 0\.5 \(at 0, 1\)"):
        eval_rbbox_map_coco([[BOX]], [ANN], iou_thrs=(0.5, 0.5, 0.75))


@pytest.mark.parametrize("thr", [-1, math.nan, 1.5, "0.1"])
def test_confusion_matrix_nms_threshold(thr):
    """At -1 or NaN (truthy) MMRotate's tool ran NMS that kept one box per class."""
    gt = {"bboxes": np.array([[50.0, 50, 20, 10, 0.1], [500, 500, 20, 10, 0.1]]), "labels": np.array([0, 0])}
    dets = [[np.array([[50, 50, 20, 10, 0.1, 0.9], [500, 500, 20, 10, 0.1, 0.8]])]]
    with pytest.raises(ValueError, match=r"nms_iou_thr " + BAD_MATCH):
        confusion_matrix(dets, [gt], nms_iou_thr=thr)
    for off in (None, 0, 0.0):  # MMRotate's tool: a falsy threshold means no NMS
        assert confusion_matrix(dets, [gt], nms_iou_thr=off)[0, 0] == 2
    assert confusion_matrix(dets, [gt], nms_iou_thr=0.1)[0, 0] == 2


@pytest.mark.parametrize("thr", [math.nan, -0.1, 1.5, "0.3", None])
def test_confusion_matrix_score_threshold(thr):
    """A NaN ``score_thr`` left every detection out: every object counted as missed."""
    with pytest.raises(ValueError, match=r"score_thr must be (in|a number in) \[0, 1\]"):
        confusion_matrix([[BOX]], [ANN], score_thr=thr)
