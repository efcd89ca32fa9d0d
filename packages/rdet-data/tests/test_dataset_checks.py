"""Dataset arguments checked at construction: wrappers' classes and counts, ``classes``,
``difficulty``, objects wholly outside their image. Each bad input is a named error; the valid
case next to it still builds."""

from __future__ import annotations

import numpy as np
import pytest

from rdet_data import (
    ClassBalancedDataset,
    ConcatDataset,
    DOTADataset,
    RepeatDataset,
    YOLOOBBDataset,
    build_dataset,
)
from rdet_data.datasets.checks import disjoint_from_image
from rdet_data.formats import DotaLabelError
from rdet_data.formats.yolo_obb import read_yolo_names

NAMES = ["plane", "ship", "storage-tank", "small-vehicle", "harbor"]


@pytest.fixture
def dota_cfg(dota_dir):
    ann_dir, img_dir = dota_dir
    return dict(
        type="DOTADataset", ann_file=str(ann_dir), img_prefix=str(img_dir), pipeline=[], classes=NAMES
    )


# -- 1. ConcatDataset: every part the same classes ---------------------------------------------------


def test_concat_of_parts_with_classes_in_another_order_is_an_error(dota_cfg):
    other = dict(dota_cfg, classes=NAMES[::-1])
    with pytest.raises(
        ValueError,
        match=r"datasets\[1\] has other classes than datasets\[0\] \(the same names in another order\)",
    ):
        build_dataset(dict(type="ConcatDataset", datasets=[dota_cfg, other]))
    with pytest.raises(
        ValueError, match=r"datasets\[0\]\.CLASSES = \['plane', .*datasets\[1\]\.CLASSES = \['harbor'"
    ):
        build_dataset([dota_cfg, other])  # the list-config path


def test_concat_of_parts_with_other_class_names_is_an_error(dota_cfg):
    other = dict(dota_cfg, classes=NAMES[:4])
    with pytest.raises(ValueError, match=r"ConcatDataset: datasets\[2\] has other classes .*\(other names\)"):
        ConcatDataset([build_dataset(dota_cfg), build_dataset(dota_cfg), build_dataset(other)])
    lists = dict(dota_cfg, ann_file=[dota_cfg["ann_file"]] * 2, classes=NAMES)
    assert len(build_dataset(lists)) == 2 * len(build_dataset(dota_cfg))  # a list ann_file: same classes


def test_concat_of_equal_classes_still_builds_and_evaluates_separately(dota_cfg):
    ds = build_dataset([dota_cfg, dict(dota_cfg)])
    assert isinstance(ds, ConcatDataset) and tuple(NAMES) == ds.CLASSES and ds.separate_eval

    def scorer(results, annotations, **kw):
        return float(len(annotations)), []

    n = len(ds.datasets[0])
    assert ds.evaluate([[]] * 2 * n, scorer=scorer) == {"0_mAP": float(n), "1_mAP": float(n)}
    with pytest.raises(ValueError, match="ConcatDataset: datasets is empty"):
        ConcatDataset([])


# -- 2. duplicate class names -------------------------------------------------------------------------


def test_a_class_named_twice_is_an_error(dota_dir, tmp_path):
    ann_dir, img_dir = dota_dir
    with pytest.raises(ValueError, match=r"DOTADataset: classes names 'plane' twice"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=["plane", "ship", "plane"])
    path = tmp_path / "classes.txt"
    path.write_text("plane\nship\nplane\n")
    with pytest.raises(ValueError, match=rf"classes in {path} names 'plane' twice"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=str(path))
    path.write_text("\n\n")
    with pytest.raises(ValueError, match=rf"DOTADataset: classes in {path} lists no class"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=str(path))
    with pytest.raises(ValueError, match=r"DOTADataset: classes lists no class"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=[])
    path.write_text("plane\nship\n")
    assert DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=str(path)).CLASSES == (
        "plane",
        "ship",
    )


def test_a_yolo_class_name_given_to_two_indices_is_an_error(tmp_path, syn):
    root = syn.write_yolo(tmp_path / "yolo")
    yaml = root / "data.yaml"
    assert read_yolo_names(yaml)[:2] == ["plane", "ship"]
    yaml.write_text("names:\n  0: plane\n  1: plane\n")
    with pytest.raises(ValueError, match=rf"{yaml}: 'names:' gives class 'plane' to indices 0 and 1"):
        YOLOOBBDataset(str(root / "labels/train"), [], classes=str(yaml))
    yaml.write_text("names: [plane, ship, plane]\n")
    with pytest.raises(ValueError, match=r"gives class 'plane' to indices 0 and 2"):
        read_yolo_names(yaml)


# -- 3. / 4. RepeatDataset times, ClassBalancedDataset oversample_thr -------------------------------


@pytest.mark.parametrize("times", [0, 0.5, -2, float("nan")])
def test_repeat_times_must_be_an_integer_of_at_least_1(dota_cfg, times):
    with pytest.raises(ValueError, match=r"RepeatDataset: times must be an integer >= 1, got"):
        build_dataset(dict(type="RepeatDataset", times=times, dataset=dota_cfg))


def test_repeat_times_of_another_type_is_a_type_error_and_2_0_is_2(dota_cfg):
    with pytest.raises(TypeError, match=r"RepeatDataset: times must be an integer >= 1, got str '3'"):
        build_dataset(dict(type="RepeatDataset", times="3", dataset=dota_cfg))
    one = build_dataset(dota_cfg)
    rep = RepeatDataset(one, 2.0)
    assert rep.times == 2 and len(rep) == 2 * len(one) and len(RepeatDataset(one, 3)) == 3 * len(one)


@pytest.mark.parametrize("thr", [0, -1, 1.5, 1e9, float("nan"), float("inf")])
def test_oversample_thr_must_be_in_0_1(dota_cfg, thr):
    with pytest.raises(ValueError, match=r"ClassBalancedDataset: oversample_thr must be in \(0, 1\], got"):
        build_dataset(dict(type="ClassBalancedDataset", oversample_thr=thr, dataset=dota_cfg))


def test_oversample_thr_of_another_type_is_a_type_error_and_valid_ones_work(dota_cfg):
    with pytest.raises(TypeError, match=r"ClassBalancedDataset: oversample_thr must be a number"):
        build_dataset(dict(type="ClassBalancedDataset", oversample_thr="0.1", dataset=dota_cfg))
    one = build_dataset(dota_cfg)
    assert len(ClassBalancedDataset(one, 1)) >= len(one) and len(ClassBalancedDataset(one, 1e-3)) == len(one)


# -- 5. classes of the wrong type, a class name instead of a file -----------------------------------


def test_classes_of_the_wrong_type_name_classes(dota_dir, dota_cfg):
    ann_dir, img_dir = dota_dir
    with pytest.raises(TypeError, match=r"^DOTADataset: classes must be class names \(strings\)"):
        build_dataset(dict(dota_cfg, classes=["plane", None]))  # the builder names the type once
    with pytest.raises(TypeError, match=r"classes must be class names \(strings\), got 1 \(int\)"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=[1, 2])
    with pytest.raises(
        TypeError, match=r"classes must be a list of names or the path of a file of names, got int 5"
    ):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=5)


def test_a_single_class_name_as_a_string_says_to_give_a_list(dota_dir):
    ann_dir, img_dir = dota_dir
    with pytest.raises(
        FileNotFoundError,
        match=r"classes='plane' is not a file of class names .* a single class name must be given as a list: "
        r"classes=\['plane'\]",
    ):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes="plane")
    with pytest.raises(FileNotFoundError, match=r"classes='/nope/classes\.txt' is not a file"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes="/nope/classes.txt")
    ds = DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=("plane",))
    assert ds.CLASSES == ("plane",) and ds.summary()["objects"] == 3


# -- 6. difficulty ------------------------------------------------------------------------------------


def test_difficulty_must_be_a_number(dota_dir):
    ann_dir, img_dir = dota_dir
    with pytest.raises(TypeError, match=r"difficulty must be a number .* got str '1'"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), difficulty="1")
    with pytest.raises(TypeError, match=r"^DOTADataset: difficulty must be a number .* got str '1'"):
        build_dataset(dict(type="DOTADataset", ann_file=str(ann_dir), pipeline=[], difficulty="1"))
    with pytest.raises(ValueError, match=r"DOTADataset: difficulty must be a number, got nan"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), difficulty=float("nan"))
    easy = DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), difficulty=1)
    assert easy.summary()["dropped"]["difficulty"] == 3


# -- 7. objects wholly outside their image --------------------------------------------------------


def test_disjoint_from_image():
    polys = np.array(
        [
            [1.1, 1.1, 1.5, 1.1, 1.5, 1.5, 1.1, 1.5],  # right of and below the image
            [-0.5, 0.2, -0.1, 0.2, -0.1, 0.4, -0.5, 0.4],  # left of it
            [0.9, 0.9, 1.2, 0.9, 1.2, 1.2, 0.9, 1.2],  # crosses the corner: kept
            [1.0, 0.5, 1.2, 0.5, 1.2, 0.6, 1.0, 0.6],  # touches the border: kept
        ]
    )
    assert disjoint_from_image(polys, 1.0, 1.0).tolist() == [True, True, False, False]


def test_a_yolo_object_wholly_outside_the_image_is_out_of_image(tmp_path, syn):
    """It was kept as the box (520, 390, 160, 120) of a 400 x 300 image: no pixel of it in the image."""
    root = syn.write_yolo(tmp_path / "yolo")
    with open(root / "labels/train/a.txt", "a") as f:
        f.write("0 1.1 1.1 1.5 1.1 1.5 1.5 1.1 1.5\n")
    kw = dict(classes=str(root / "data.yaml"))
    with pytest.raises(DotaLabelError, match=r"a\.txt:6: corners 1\.1 1\.1 .* lie wholly outside the image"):
        YOLOOBBDataset(str(root / "labels/train"), [], **kw)
    with pytest.warns(UserWarning, match=r"a\.txt:6"):
        ds = YOLOOBBDataset(str(root / "labels/train"), [], on_error="warn", **kw)
    assert ds.summary()["dropped"]["out_of_image"] == 1 and ds.summary()["objects"] == 5


def test_a_dota_object_wholly_outside_the_image_names_file_and_line(dota_dir):
    ann_dir, img_dir = dota_dir
    with open(ann_dir / "P0001.txt", "a") as f:
        f.write("410 10 450 10 450 40 410 40 plane 0\n")  # right of the 400-px image, within the margin
    with pytest.raises(
        DotaLabelError, match=r"P0001\.txt:7: corners 410 10 .* lie wholly outside the 400 x 300 px image"
    ):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir))
    with pytest.warns(UserWarning, match=r"P0001\.txt:7"):
        ds = DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), on_error="warn")
    assert ds.summary()["dropped"]["out_of_image"] == 1 and ds.summary()["objects"] == 15
    assert ds.summary()["per_class"]["harbor"] == 3  # the harbor crossing the border (x 410 of 400) stays
