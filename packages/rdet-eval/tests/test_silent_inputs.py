"""Input that used to pass silently: no ground truth at all, truthy strings for boolean options,
label lines without their class, files not in UTF-8 or with a BOM, unknown class names."""

from __future__ import annotations

import numpy as np
import pytest

from rdet_eval import (
    DOTA_V1_CLASSES,
    DotaFileError,
    eval_dota_task1,
    eval_rbbox_map,
    eval_rbbox_map_coco,
    evaluate_dota_task1,
    read_dota_objects,
    read_task1,
)
from rdet_eval.dota_files import read_label_files, read_task1_files

SQUARE = "0 0 10 0 10 10 0 10"
DETS = [np.array([[50.0, 50, 20, 10, 0.1, 0.9]]), np.zeros((0, 6))]
ANN = {"bboxes": np.array([[50.0, 50, 20, 10, 0.1]]), "labels": np.array([0])}
EMPTY = {"bboxes": np.zeros((0, 5)), "labels": np.zeros(0, np.int64)}
POLY = np.array([[0.0, 0, 10, 0, 10, 10, 0, 10, 0.9]])


def _files(tmp_path, labels: dict[str, bytes], results: dict[str, bytes]):
    (tmp_path / "labels").mkdir(exist_ok=True)
    (tmp_path / "res").mkdir(exist_ok=True)
    for image, data in labels.items():
        (tmp_path / "labels" / f"{image}.txt").write_bytes(data)
    for cls, data in results.items():
        (tmp_path / "res" / f"Task1_{cls}.txt").write_bytes(data)
    return tmp_path / "res", tmp_path / "labels"


# -- item 1: no ground truth at all is an error, not mAP 0.0 ----------------------------------


def test_no_ground_truth_in_any_image_raises():
    """MMRotate (and rdet before) returned mAP 0.0 when no class had an object: what
    ``rdet test --eval mAP`` printed for a test set whose label files were all empty."""
    with pytest.raises(ValueError, match=r"none of the 3 images of annotations has a ground-truth box"):
        eval_rbbox_map([DETS] * 3, [EMPTY] * 3, logger="silent")
    with pytest.raises(ValueError, match=r"none of the 2 images .* ground-truth box"):
        eval_rbbox_map_coco([DETS] * 2, [EMPTY] * 2)
    only_ignored = {**EMPTY, "bboxes_ignore": np.array([[80.0, 80, 20, 10, 0]]), "labels_ignore": [1]}
    with pytest.raises(ValueError, match=r"ground-truth box \(1 ignored only"):
        eval_rbbox_map([DETS], [only_ignored], logger="silent")
    # no detections either: still nothing to evaluate against
    with pytest.raises(ValueError, match=r"none of the 1 images"):
        eval_rbbox_map([[np.zeros((0, 6))] * 2], [EMPTY], logger="silent")


def test_a_class_without_objects_beside_others_keeps_mmrotates_behaviour():
    mean_ap, results = eval_rbbox_map([DETS, DETS], [ANN, EMPTY], logger="silent")
    assert results[1]["num_gts"] == 0 and mean_ap == pytest.approx(1.0)


def test_official_metric_without_ground_truth_raises(tmp_path):
    """Every AP was NaN, the mAP NaN, and only a warning said so."""
    with pytest.raises(ValueError, match=r"none of the 2 images of annotations holds an object"):
        eval_dota_task1([[POLY]] * 2, [{"polygons": np.zeros((0, 8)), "labels": []}] * 2)
    res, labels = _files(
        tmp_path,
        {"P1": b"imagesource:x\ngsd:1\n", "P2": b"", "P3": f"{SQUARE} plane 1\n".encode()},
        {c: b"" for c in ("plane", "ship")} | {"plane": f"P1 0.9 {SQUARE}\n".encode()},
    )
    with pytest.raises(
        ValueError,
        match=r"none of the 3 label files in .*labels holds an object that is not difficult \(1 difficult only",
    ):
        evaluate_dota_task1(res, labels, classes=["plane", "ship"])
    (labels / "P2.txt").write_bytes(f"{SQUARE} harbor 0\n".encode())  # another class: not evaluated
    with pytest.raises(ValueError, match=r"an object of the evaluated classes \(1 of other classes\)"):
        evaluate_dota_task1(res, labels, classes=["plane", "ship"])


# -- item 2: boolean options must be bools, numeric ones numbers in range ---------------------


@pytest.mark.parametrize("value", ["Flase", "false", "False", "no", "0", 0, 1, None])
def test_use_07_metric_must_be_a_bool(tmp_path, value):
    """A string is truthy: ``use_07_metric='False'`` chose the VOC07 metric without a word."""
    match = rf"use_07_metric must be True or False, got \w+ {value!r}"
    with pytest.raises(TypeError, match=match):
        eval_rbbox_map([DETS], [ANN], use_07_metric=value, logger="silent")
    with pytest.raises(TypeError, match=match):
        eval_rbbox_map_coco([DETS], [ANN], use_07_metric=value)
    with pytest.raises(TypeError, match=match):
        eval_dota_task1([[POLY]], [{"polygons": POLY[:, :8], "labels": [0]}], use_07_metric=value)
    res, labels = _files(
        tmp_path, {"P1": f"{SQUARE} plane\n".encode()}, {"plane": f"P1 0.9 {SQUARE}\n".encode()}
    )
    with pytest.raises(TypeError, match=match):
        evaluate_dota_task1(res, labels, use_07_metric=value, classes=["plane"])


def test_use_07_metric_takes_numpy_bools():
    a, _ = eval_rbbox_map([DETS], [ANN], use_07_metric=np.bool_(False), logger="silent")
    b, _ = eval_rbbox_map([DETS], [ANN], use_07_metric=False, logger="silent")
    assert a == b


@pytest.mark.parametrize("value", [0, -1, 2.5, "4", True, None])
def test_nproc_must_be_a_positive_integer(value):
    """Accepted and unused; MMRotate hands it to multiprocessing.Pool, which refuses these."""
    with pytest.raises(ValueError, match=rf"nproc must be an integer >= 1, got .*{value!r}"):
        eval_rbbox_map([DETS], [ANN], nproc=value, logger="silent")
    eval_rbbox_map([DETS], [ANN], nproc=np.int32(1), logger="silent")


# -- item 3a: a label line without its class is an error; headers stay ------------------------


def test_a_label_line_without_its_class_raises(tmp_path):
    """The devkit (and rdet before) skipped lines of fewer than 9 fields: an object with its
    class missing vanished. rdet_data raises on the same line."""
    (tmp_path / "a.txt").write_text(f"imagesource:GoogleEarth\ngsd:0.146\n{SQUARE} plane 0\n")
    (tmp_path / "b.txt").write_text(
        f"imagesource: GoogleEarth\r\ngsd:null\r\n{SQUARE} ship 0\r\n{SQUARE}\r\n"
    )
    with pytest.raises(
        DotaFileError, match=r"b\.txt:4: expected 'x1 y1 \.\.\. x4 y4 class \[difficult\]', got 8 fields"
    ):
        read_label_files([tmp_path / "a.txt", tmp_path / "b.txt"])


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"{SQUARE} plane 0\ngsd:0.5\n", 2),  # a header after an object: not a header (rdet_data)
        (f"imagesource:x\n0 0 10 0 10 10 0\n{SQUARE} plane\n", 2),  # 7 fields, no ':'
        ("plane\n", 1),
        (f"\n\n{SQUARE} plane 0\n\n1 2\n", 5),  # blank lines count, and are skipped
    ],
)
def test_short_label_lines_other_than_headers_raise(tmp_path, text, line):
    (tmp_path / "a.txt").write_text(text)
    with pytest.raises(DotaFileError, match=rf"a\.txt:{line}: expected .* fields \(only 'key:value' lines"):
        read_dota_objects(tmp_path / "a.txt")


def test_header_lines_are_read_as_rdet_data_reads_them(tmp_path):
    (tmp_path / "a.txt").write_text(
        f"imagesource:GoogleEarth\n\ngsd:0.146\nsome key: a value\n{SQUARE} plane\n\n{SQUARE} ship 2\n"
    )
    objs = read_dota_objects(tmp_path / "a.txt")
    assert objs.names == ["plane", "ship"] and objs.difficult.tolist() == [False, True]
    assert read_label_files([tmp_path / "a.txt"]).line.tolist() == [5, 7]


# -- item 3b, 3c: encodings, BOM ---------------------------------------------------------------


def test_label_and_task1_files_not_in_utf8_name_the_file_and_line(tmp_path):
    """A bare UnicodeDecodeError (``'utf-8' codec can't decode byte 0xe9``) named neither."""
    (tmp_path / "a.txt").write_bytes(f"{SQUARE} plane\n".encode())
    (tmp_path / "b.txt").write_bytes(
        f"gsd:1\n{SQUARE} plane\n{SQUARE} h\xe9licopt\xe8re 0\n".encode("latin-1")
    )
    with pytest.raises(
        DotaFileError,
        match=r"b\.txt:3: not UTF-8 text \(byte 0xe9 at byte offset 53 of the file\): .*h.licopt",
    ):
        read_label_files([tmp_path / "a.txt", tmp_path / "b.txt"])
    task1 = tmp_path / "Task1_plane.txt"
    task1.write_bytes(f"P1 0.9 {SQUARE}\r\nimage_\xe9 0.8 {SQUARE}\r\n".encode("latin-1"))
    with pytest.raises(DotaFileError, match=r"Task1_plane\.txt:2: not UTF-8 text \(byte 0xe9"):
        read_task1(task1)
    task1.write_bytes(f"P1 0.9 {SQUARE}\n".encode("utf-16"))
    with pytest.raises(DotaFileError, match=r"Task1_plane\.txt:1: a UTF-16 file"):
        read_task1(task1)


def test_utf8_names_beyond_ascii_are_read(tmp_path):
    task1 = tmp_path / "Task1_plane.txt"
    task1.write_bytes(f"P1 0.9 {SQUARE}\nbild_ä 0.8 {SQUARE}\n".encode())
    assert read_task1(task1).images == ["P1", "bild_ä"]


def test_a_leading_bom_is_dropped(tmp_path):
    """A BOM stuck to the first field: ``coordinates must be numbers, got '\\ufeff0 ...'`` in a
    label file, an image name that is not the image's in a Task1 file."""
    bom = b"\xef\xbb\xbf"
    (tmp_path / "a.txt").write_bytes(f"{SQUARE} plane\n".encode())
    (tmp_path / "b.txt").write_bytes(bom + f"{SQUARE} ship 1\n{SQUARE} plane\n".encode())
    (tmp_path / "c.txt").write_bytes(bom + f"imagesource:x\n{SQUARE} ship\n".encode())
    labels = read_label_files([tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"])
    assert labels.polygons.tolist() == [[0, 0, 10, 0, 10, 10, 0, 10]] * 4
    assert labels.line.tolist() == [1, 1, 2, 2]
    (tmp_path / "Task1_plane.txt").write_bytes(bom + f"P1 0.9 {SQUARE}\nP2 0.8 {SQUARE}\n".encode())
    (tmp_path / "Task1_ship.txt").write_bytes(bom + f"P1 0.7 {SQUARE}\n".encode())
    res = read_task1_files([tmp_path / "Task1_plane.txt", tmp_path / "Task1_ship.txt"])
    assert res.images == ["P1", "P2"] and res.image_code.tolist() == [0, 1, 0]
    assert read_task1(tmp_path / "Task1_ship.txt").images == ["P1"]
    (tmp_path / "Task1_ship.txt").write_bytes(bom)  # a file that is only a BOM: no detection
    assert read_task1(tmp_path / "Task1_ship.txt").images == []


# -- item 3d: unknown class names in the labels ------------------------------------------------


def test_unknown_classes_in_the_labels_raise_with_the_default_classes(tmp_path):
    """The devkit evaluates each class's objects and ignores the rest; with the default classes
    (DOTA v1.0's, as rdet_data's DOTADataset) an object of another class is an error."""
    lines = f"imagesource:x\n{SQUARE} plane 0\n{SQUARE} Small-Vehicle 0\n{SQUARE} container-crane 0\n"
    res, labels = _files(
        tmp_path, {"P1": lines.encode()}, {c: f"P1 0.9 {SQUARE}\n".encode() for c in DOTA_V1_CLASSES}
    )
    with pytest.raises(
        DotaFileError,
        match=r"P1\.txt:3: class 'Small-Vehicle' is not an evaluated class \(did you mean 'small-vehicle'",
    ):
        evaluate_dota_task1(res, labels)
    (labels / "P1.txt").write_text(lines.replace("Small-Vehicle", "small-vehicle"))
    with pytest.raises(
        DotaFileError,
        match=r"P1\.txt:4: unknown class 'container-crane', not one of DOTA v1\.0's classes \(plane, ",
    ):
        evaluate_dota_task1(res, labels)


def test_a_class_name_differing_only_in_case_raises_with_given_classes(tmp_path):
    """``Ship`` for ``ship``: every ship was dropped and only 'AP is NaN' warned."""
    res, labels = _files(
        tmp_path,
        {
            "P1": f"{SQUARE} plane 0\n".encode(),
            "P2": f"{SQUARE} harbor 0\n20 20 30 20 30 30 20 30 Ship 0\n".encode(),
        },
        {"plane": f"P1 0.9 {SQUARE}\n".encode(), "ship": f"P2 0.8 {SQUARE}\n".encode()},
    )
    with pytest.raises(
        DotaFileError, match=r"P2\.txt:2: class 'Ship' .*did you mean 'ship'.*classes: plane, ship"
    ):
        evaluate_dota_task1(res, labels, classes=["plane", "ship"])
    (labels / "P2.txt").write_text(f"{SQUARE} harbor 0\n20 20 30 20 30 30 20 30 ship 0\n")
    # a subset of classes, as the devkit: harbor is not evaluated
    out = evaluate_dota_task1(res, labels, classes=["plane", "ship"])
    assert out["npos"] == {"plane": 1, "ship": 1} and out["ap"]["plane"] == pytest.approx(1.0)
