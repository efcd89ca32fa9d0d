"""Issue 15: nothing wrong passes silently. Each test feeds one kind of bad input and checks
the error (type, and the file:line, key or argument it names)."""

import math
import shutil

import numpy as np
import pytest

from rdet_eval import (
    DotaFileError,
    confusion_matrix,
    eval_dota_task1,
    eval_rbbox_map,
    eval_rbbox_map_coco,
    evaluate_dota_task1,
    merge_patch_results,
    merge_task1_patch_file,
    read_dota_objects,
    read_task1,
    write_task1,
)
from rdet_eval.dota_files import read_label_files
from rdet_eval.nms import nms_polygons, nms_rotated_np

EXAMPLE = "data/real/hukaixuan19970627_DOTA_devkit_YOLO/evaluation_example"
MERGE_INPUT = "data/real/hukaixuan19970627_DOTA_devkit_YOLO/ResultMerge_example/1.txt"
SQUARE = "0 0 10 0 10 10 0 10"


@pytest.fixture
def real_example(shared_dir, tmp_path):
    """A writable copy of the real Task1 example: results, labels, image list, classes."""
    base = shared_dir / EXAMPLE
    shutil.copytree(base / "result_classname", tmp_path / "res")
    return tmp_path / "res", base / "row_DOTA_labels", base / "imgnamefile.txt"


def _evaluate(res, labels, image_list, **kw):
    classes = ["harbor", "large-vehicle", "ship", "small-vehicle"]
    return evaluate_dota_task1(res, labels, classes=classes, image_list=image_list, **kw)


# -- item 3: every Task1 line has exactly 10 fields -------------------------------------------


def test_task1_lines_with_wrong_field_counts_are_named_even_when_the_total_fits(real_example):
    """One line loses a field, a later one gains one: the total stays 10 per line. Our earlier
    reader parsed all numbers in one pass and checked only that total, so the columns shifted
    in between and the mAP fell from 0.7146 to 0.7011 without a word. (The devkit builds a
    ragged array from such lines and fails inside numpy, naming no line.)"""
    res, labels, image_list = real_example
    # the stable tie order: one answer on every numpy (the devkit's order is 0.714606 on numpy 2)
    assert _evaluate(res, labels, image_list, sort="stable")["mAP"] == pytest.approx(0.714577, abs=1e-6)
    path = res / "Task1_large-vehicle.txt"
    lines = path.read_text().splitlines()
    lines[2] = " ".join(lines[2].split()[:-1])  # 9 fields
    lines[6] = lines[6] + " 7.0"  # 11 fields
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DotaFileError,
        match=r"Task1_large-vehicle\.txt:3: expected 'image score x1 y1 \.\.\. x4 y4' \(10 fields\), "
        r"got 9 \(and 1 more such lines\)",
    ):
        _evaluate(res, labels, image_list)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("P1 0.9 " + SQUARE + "\n\nP1 0.8 " + SQUARE + " 3\n", 3, r"got 11"),  # blank lines count
        ("P1 0.9 " + SQUARE + "\r\nP1 0.8 0 0 10 0 10 10 0\r\n", 2, r"got 9"),  # CRLF
        ("P1 0.9 " + SQUARE + "\rP1 0.8 0 0 10 0 10 10 0\r", 2, r"got 9"),  # lone CR
        ("P1 0.9 " + SQUARE + "\nP1\t0.8\t" + SQUARE.replace(" ", "\t") + "\t1", 2, r"got 11"),  # tabs
        ("P1 0.9 " + SQUARE + "\nP1 nan " + SQUARE + "\n", 2, r"score and coordinates must be finite"),
        ("P1 0.9 " + SQUARE + "\nP1 0.8 0 0 10 0 10 10 0 inf\n", 2, r"must be finite"),
        (
            "P1 0.9 " + SQUARE + "\nP1 0.8 0 0 10 0 10 1O 0 10\n",
            2,
            r"must be numbers, got '0\.8 0 0 10 0 10 1O",
        ),
        ("P1 0.9 " + SQUARE + "\nP1 0.8 0 0 10 0 10\x0110 0 10\n", 2, r"got 9"),  # a control byte is data
    ],
)
def test_task1_errors_name_the_line(tmp_path, text, line, message):
    """The devkit reads ``nan``/``inf`` as numbers and ranks a NaN score first; a mistyped
    digit (``1O``) raises a ValueError without a line number there."""
    path = tmp_path / "Task1_plane.txt"
    path.write_bytes(text.encode())
    with pytest.raises(DotaFileError, match=rf"Task1_plane\.txt:{line}: .*{message}"):
        read_task1(path)


def test_task1_reader_keeps_every_value_and_line_ending(tmp_path):
    """Blank lines, CRLF, tabs, exponents, signs: the values are float()'s, in file order."""
    path = tmp_path / "Task1_plane.txt"
    path.write_bytes(
        b"\r\nA 0.5 1 2 3 4 5 6 7 8\r\n\r\nB\t1e-3  -1.5 +2 .5 5. 1E2 0 0 0   \r\nA 0.25 " + b"1 " * 8
    )
    res = read_task1(path)
    assert res.images == ["A", "B", "A"]
    np.testing.assert_array_equal(res.scores, [0.5, 1e-3, 0.25])
    np.testing.assert_array_equal(res.polygons[1], [-1.5, 2, 0.5, 5, 100, 0, 0, 0])


def test_label_errors_name_the_file_and_its_own_line(tmp_path):
    """Several label files are read at once; an error still names the file and its line."""
    (tmp_path / "a.txt").write_text(f"imagesource:x\ngsd:1\n{SQUARE} plane 0\n")
    (tmp_path / "b.txt").write_bytes(
        f"imagesource:x\r\n{SQUARE} plane 0\r\n{SQUARE} plane 0 extra\r\n".encode()
    )
    with pytest.raises(
        DotaFileError, match=r"b\.txt:3: expected 'x1 y1 \.\.\. x4 y4 class \[difficult\]', got 11"
    ):
        read_label_files([tmp_path / "a.txt", tmp_path / "b.txt"])
    (tmp_path / "b.txt").write_text(f"{SQUARE} plane 0\n0 0 10 0 10 nan 0 10 ship 1\n")
    with pytest.raises(DotaFileError, match=r"b\.txt:2: coordinates must be finite"):
        read_label_files([tmp_path / "a.txt", tmp_path / "b.txt"])
    (tmp_path / "b.txt").write_text(f"{SQUARE} plane 0\n{SQUARE} ship yes\n")
    with pytest.raises(DotaFileError, match=r"b\.txt:2: difficult must be an integer, got 'yes'"):
        read_label_files([tmp_path / "a.txt", tmp_path / "b.txt"])
    (tmp_path / "b.txt").write_text(f"{SQUARE} plane\n\n{SQUARE} ship 2\n{SQUARE} ship 0\n")
    objs = read_dota_objects(tmp_path / "b.txt")
    assert objs.names == ["plane", "ship", "ship"] and objs.difficult.tolist() == [False, True, False]


# -- item 4: paths, labels, thresholds, lengths -----------------------------------------------


def test_results_folder_missing_misspelled_a_file_or_without_task1_files(tmp_path, real_example):
    """Each of these gave mAP 0.0 before (a glob over nothing finds no detections). The devkit
    opens ``Task1_<class>.txt`` per class and raises FileNotFoundError for the first missing one."""
    res, labels, image_list = real_example
    with pytest.raises(
        FileNotFoundError, match=r"results folder \(det_dir\) .*result_clasname does not exist"
    ):
        _evaluate(res.parent / "result_clasname", labels, image_list)
    with pytest.raises(NotADirectoryError, match=r"Task1_ship\.txt is a file, not a folder"):
        _evaluate(res / "Task1_ship.txt", labels, image_list)
    other = tmp_path / "other"
    other.mkdir()
    (other / "Task2_ship.txt").write_text("")
    (other / "task1_ship.txt").write_text("")
    with pytest.raises(
        FileNotFoundError,
        match=r"no Task1_<class>\.txt result files in .*other: it holds Task2_ship\.txt, task1_ship\.txt",
    ):
        _evaluate(other, labels, image_list)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty: it is empty"):
        _evaluate(tmp_path / "empty", labels, image_list)
    (res / "Task1_ship.txt").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"no result file for 1 of the 4 evaluated classes .*: Task1_ship\.txt"
    ):
        _evaluate(res, labels, image_list)
    with pytest.raises(FileNotFoundError, match=r"label folder \(ann_dir\) .*labelTxt does not exist"):
        evaluate_dota_task1(res, tmp_path / "labelTxt")


def _one_image(label=0, ignore_label=None):
    ann = {"bboxes": np.array([[50.0, 50, 20, 10, 0.1]]), "labels": np.array([label])}
    if ignore_label is not None:
        ann["bboxes_ignore"] = np.array([[80.0, 80, 20, 10, 0.0]])
        ann["labels_ignore"] = np.array([ignore_label])
    dets = [np.array([[50.0, 50, 20, 10, 0.1, 0.9]]), np.zeros((0, 6)), np.zeros((0, 6))]
    return dets, ann


def test_annotation_labels_outside_the_classes_raise():
    """MMRotate's eval_rbbox_map selects ``labels == class_id`` for each class, so an object
    labelled 3 (of 3 classes) or -1 counts for no class and the mAP rises silently."""
    dets, ann = _one_image()
    _, bad = _one_image(label=3)
    with pytest.raises(
        ValueError, match=r"annotations\[1\]\['labels'\] has label 3, outside \[0, 3\) \(3 classes\)"
    ):
        eval_rbbox_map([dets, dets], [ann, bad], logger="silent")
    _, bad = _one_image(ignore_label=-1)
    with pytest.raises(
        ValueError, match=r"annotations\[0\]\['labels_ignore'\] has label -1, outside \[0, 3\)"
    ):
        eval_rbbox_map_coco([dets], [bad])
    _, bad = _one_image(label=3)
    with pytest.raises(ValueError, match=r"annotations\[0\]\['labels'\] has label 3, outside \[0, 3\)"):
        confusion_matrix([dets], [bad])  # MMRotate's tool counts label 3 as background
    poly = np.array([[0.0, 0, 10, 0, 10, 10, 0, 10, 0.9]])
    with pytest.raises(ValueError, match=r"annotations\[0\]\['labels'\] has label 2, outside \[0, 1\)"):
        eval_dota_task1([[poly]], [{"polygons": poly[:, :8], "labels": np.array([2])}])
    with pytest.raises(
        ValueError, match=r"annotations\[0\]\['labels'\] has label 0\.5, which is not a class index"
    ):
        eval_rbbox_map([dets], [{**ann, "labels": np.array([0.5])}], logger="silent")


def test_ignored_boxes_without_their_labels_raise():
    """MMRotate evaluates as if ``bboxes_ignore`` were absent when ``labels_ignore`` is: the
    detections of the ignored objects then count as false positives."""
    dets, ann = _one_image(ignore_label=1)
    del ann["labels_ignore"]
    with pytest.raises(ValueError, match=r"annotations\[0\] has 'bboxes_ignore' but no 'labels_ignore'"):
        eval_rbbox_map([dets], [ann], logger="silent")
    eval_rbbox_map([dets], [{**ann, "bboxes_ignore": np.zeros((0, 5))}], logger="silent")  # none to label


def test_confusion_matrix_refuses_detections_of_the_wrong_width():
    """It reshaped every array to (-1, 6): a (1, 12) array counted as two detections."""
    dets, ann = _one_image()
    wide = [np.zeros((1, 12)), *dets[1:]]
    with pytest.raises(ValueError, match=r"det_results\[0\]\[0\] must have shape \(k, 6\), got \(1, 12\)"):
        confusion_matrix([wide], [ann])
    with pytest.raises(ValueError, match=r"annotations\[0\]: 1 bboxes but 2 labels"):
        confusion_matrix([dets], [{**ann, "labels": np.array([0, 1])}])
    assert confusion_matrix([[np.zeros(0), *dets[1:]]], [ann])[0, -1] == 1  # an empty list is no detection


@pytest.mark.parametrize("thr", [0, -0.5, 1.5, math.nan, "0.5"])
def test_iou_thresholds_outside_0_1_raise(thr):
    """MMRotate takes any iou_thr: 0 matches every detection to some object, above 1 none."""
    dets, ann = _one_image()
    poly = np.array([[0.0, 0, 10, 0, 10, 10, 0, 10, 0.9]])
    match = r"must be (in|a number in) \(0, 1\], got"
    with pytest.raises(ValueError, match="iou_thr " + match):
        eval_rbbox_map([dets], [ann], iou_thr=thr, logger="silent")
    with pytest.raises(ValueError, match=r"iou_thrs\[1\] " + match):
        eval_rbbox_map_coco([dets], [ann], iou_thrs=(0.5, thr))
    with pytest.raises(ValueError, match="iou_thr " + match):
        eval_dota_task1([[poly]], [{"polygons": poly[:, :8], "labels": np.array([0])}], iou_thr=thr)
    with pytest.raises(ValueError, match="iou_thr " + match):
        evaluate_dota_task1("nowhere", "nowhere", iou_thr=thr)
    with pytest.raises(ValueError, match="tp_iou_thr " + match):
        confusion_matrix([dets], [ann], tp_iou_thr=thr)


def test_an_iou_threshold_of_1_is_accepted():
    dets, ann = _one_image()
    mean_ap, _ = eval_rbbox_map([dets], [ann], iou_thr=1.0, logger="silent")
    assert 0.0 <= mean_ap <= 1.0


def test_results_and_dataset_of_different_lengths_raise():
    """MMRotate asserts the image counts (a bare AssertionError); for class names it indexes
    ``dataset[j]`` when printing: too few names are an IndexError, too many are ignored."""
    dets, ann = _one_image()
    with pytest.raises(ValueError, match=r"det_results has 1 images but annotations has 2"):
        eval_rbbox_map([dets], [ann, ann], logger="silent")
    with pytest.raises(ValueError, match=r"det_results has 2 images but annotations has 1"):
        eval_rbbox_map_coco([dets, dets], [ann])
    with pytest.raises(ValueError, match=r"det_results has 2 images but annotations has 1"):
        confusion_matrix([dets, dets], [ann])
    poly = np.array([[0.0, 0, 10, 0, 10, 10, 0, 10, 0.9]])
    with pytest.raises(ValueError, match=r"det_results has 1 images but annotations has 2"):
        eval_dota_task1([[poly]], [{"polygons": poly[:, :8], "labels": [0]}] * 2)
    with pytest.raises(ValueError, match=r"dataset has 4 class names but the detections have 3 classes"):
        eval_rbbox_map([dets], [ann], dataset=["a", "b", "c", "d"], logger="silent")
    with pytest.raises(ValueError, match=r"class_names has 2 names but det_results\[0\] has 1 classes"):
        eval_dota_task1([[poly]], [{"polygons": poly[:, :8], "labels": [0]}], class_names=["a", "b"])


# -- item 8: NaN in patch merging and NMS -----------------------------------------------------


def test_merge_file_with_a_nan_score_raises_and_writes_nothing(shared_dir, tmp_path):
    """The devkit's ResultMerge reads ``nan`` as a score, writes ``nan`` lines, and its NMS
    (``scores.argsort()[::-1]``) puts NaN first, so a NaN box suppresses valid ones."""
    lines = (shared_dir / MERGE_INPUT).read_text().splitlines()
    fields = lines[4].split()
    fields[1] = "nan"
    lines[4] = " ".join(fields)
    src = tmp_path / "1.txt"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(DotaFileError, match=r"1\.txt:5: score and coordinates must be finite, got 'nan "):
        merge_task1_patch_file(src, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()
    src.write_text("P0770__1__0___0 0.9 " + SQUARE + "\nnot_a_patch 0.9 " + SQUARE + "\n")
    with pytest.raises(DotaFileError, match=r"1\.txt:2: 'not_a_patch' is not a patch name"):
        merge_task1_patch_file(src, tmp_path / "out.txt")


def test_nms_refuses_non_finite_scores_and_boxes():
    """With the devkit's order a NaN-scored polygon is kept first and suppresses the valid,
    overlapping one (kept: [1] instead of [0])."""
    polys = np.array([[0.0, 0, 10, 0, 10, 10, 0, 10], [1.0, 1, 11, 1, 11, 11, 1, 11]])
    assert np.asarray([0.9, np.nan]).argsort()[::-1][0] == 1  # the devkit's order: NaN first
    with pytest.raises(ValueError, match=r"nms_polygons: 1 of 2 detections are not finite, the first is 1"):
        nms_polygons(polys, np.array([0.9, np.nan]), 0.1)
    boxes = np.array([[5.0, 5, 10, 10, 0], [6, 6, 10, 10, np.inf]])
    with pytest.raises(ValueError, match=r"nms_rotated_np: 1 of 2 detections are not finite, the first is 1"):
        nms_rotated_np(boxes, np.array([0.9, 0.8]), 0.1)


def test_merge_patch_results_refuses_nan_rows():
    good = np.array([[100.0, 100, 40, 20, 0.2, 0.9]])
    bad = np.array([[10.0, 10, 4, 2, 0.0, np.nan]])
    with pytest.raises(
        ValueError, match=r"patch 'P1__1024__0___0', class 1: 1 of 1 rows are not finite, the first is row 0"
    ):
        merge_patch_results({"P1__1024__50___0": [good, np.zeros((0, 6))], "P1__1024__0___0": [good, bad]})
    polys = np.array([[0.0, 0, 10, 0, 10, 10, 0, np.nan, 0.5]])
    with pytest.raises(ValueError, match=r"patch 'P2__1__0___0', class 0: 1 of 1 rows are not finite"):
        merge_patch_results({"P2__1__0___0": [polys]})


def test_write_task1_refuses_non_finite_values(tmp_path):
    """The devkit and MMRotate format ``nan`` into the submission file."""
    with pytest.raises(ValueError, match=r"row 1 \(image 'P2'\) is not finite: score nan"):
        write_task1(tmp_path / "Task1_plane.txt", [("P1", 0.5, [0] * 8), ("P2", float("nan"), [0] * 8)])


# -- annotations: shape and finiteness; scale_ranges ------------------------------------------


def test_non_finite_or_misshapen_annotation_boxes_raise_naming_the_key_and_row():
    """A NaN object matched nothing and the mAP came out 0.0; (n, 4) boxes were a numpy
    ``cannot reshape`` error naming no annotation."""
    dets, ann = _one_image(ignore_label=0)
    nan_gt = {**ann, "bboxes": np.array([[50.0, 50, 20, 10, 0.1], [np.nan, 10, 4, 2, 0]]), "labels": [0, 0]}
    with pytest.raises(
        ValueError, match=r"annotations\[1\]\['bboxes'\] has a non-finite row 1: \[nan, 10\.0"
    ):
        eval_rbbox_map([dets, dets], [ann, nan_gt], logger="silent")
    with pytest.raises(ValueError, match=r"annotations\[0\]\['bboxes'\] has a non-finite row 1"):
        eval_rbbox_map_coco([dets], [nan_gt])
    with pytest.raises(ValueError, match=r"annotations\[0\]\['bboxes'\] has a non-finite row 1"):
        confusion_matrix([dets], [nan_gt])
    inf_ignored = {**ann, "bboxes_ignore": np.array([[np.inf, 80, 20, 10, 0.0]])}
    with pytest.raises(
        ValueError, match=r"annotations\[0\]\['bboxes_ignore'\] has a non-finite row 0: \[inf"
    ):
        eval_rbbox_map([dets], [inf_ignored], logger="silent")
    four = {**ann, "bboxes": np.array([[50.0, 50, 20, 10]])}
    with pytest.raises(
        ValueError, match=r"annotations\[0\]\['bboxes'\] must have shape \(n, 5\), got \(1, 4\)"
    ):
        eval_rbbox_map([dets], [four], logger="silent")
    with pytest.raises(
        ValueError, match=r"annotations\[0\]\['bboxes'\] must have shape \(n, 5\), got \(1, 4\)"
    ):
        confusion_matrix([dets], [four])
    ten = {**ann, "bboxes_ignore": np.zeros(10), "labels_ignore": [0, 0]}  # was read as 2 boxes
    with pytest.raises(
        ValueError, match=r"annotations\[0\]\['bboxes_ignore'\] must have shape \(n, 5\), got \(10,\)"
    ):
        eval_rbbox_map([dets], [ten], logger="silent")
    poly = np.array([[0.0, 0, 10, 0, 10, 10, 0, 10, 0.9]])
    bad_poly = poly[:, :8].copy()
    bad_poly[0, 3] = np.nan
    with pytest.raises(ValueError, match=r"annotations\[0\]\['polygons'\] has a non-finite row 0"):
        eval_dota_task1([[poly]], [{"polygons": bad_poly, "labels": np.array([0])}])


def test_empty_annotations_of_any_shape_are_no_objects():
    dets, ann = _one_image()
    empty = {"bboxes": np.zeros((0,)), "labels": np.zeros(0, np.int64)}
    mean_ap, results = eval_rbbox_map([dets, dets], [ann, empty], logger="silent")
    assert results[0]["num_gts"] == 1 and results[0]["num_dets"] == 2
    assert mean_ap == pytest.approx(1.0)


@pytest.mark.parametrize(
    "ranges", [[(10, 1)], [(5, 5)], [(-32, 5)], [(0, math.nan)], [(0,)], [("0", 32)], []]
)
def test_scale_ranges_without_min_below_max_raise(ranges):
    """MMRotate-style ``(min, max)`` pairs: (10, 1) counted no object in any range, silently;
    a negative min squared into a wrong area bound."""
    dets, ann = _one_image()
    with pytest.raises(ValueError, match=r"scale_ranges(\[0\] must| is empty)"):
        eval_rbbox_map([dets], [ann], scale_ranges=ranges, logger="silent")


def test_scale_ranges_accept_an_open_upper_end():
    dets, ann = _one_image()
    mean_ap, _ = eval_rbbox_map([dets], [ann], scale_ranges=[(0, 12), (12, math.inf)], logger="silent")
    assert mean_ap == [0.0, pytest.approx(1.0)]
