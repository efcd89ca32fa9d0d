"""Issue 15, "nothing wrong passes silently", the dataset side: each test feeds the bad input and
asserts the named error (type, and the file, line, key or argument it names) or the right result.

Empty datasets and ``classes`` typos; corners far outside the image; EXIF-rotated images; label
files without images, a missing ``img_prefix``; label files that are not UTF-8.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

import rbox_geometry as rg
from rdet_data import (
    ConcatDataset,
    DIORDataset,
    DOTADataset,
    EmptyDatasetError,
    HRSCDataset,
    RepeatDataset,
    YOLOOBBDataset,
)
from rdet_data.formats import DotaLabelError, LabelEncodingError, image_size, read_text_lines

LOAD = [dict(type="LoadImageFromFile")]
REAL = "data/real"


# -- 2. empty datasets, `classes` typos, the summary ---------------------------------------------


def test_a_training_set_left_empty_by_a_classes_typo_names_the_filter_and_counts(dota_dir):
    """MMRotate accepts this silently (0 iterations, checkpoints written): every object is of a
    class not in ``classes`` and every image is then filtered out."""
    ann_dir, img_dir = dota_dir
    with (
        pytest.warns(UserWarning, match=r"'shipp': did you mean 'ship'\?"),
        pytest.raises(EmptyDatasetError) as err,
    ):
        DOTADataset(str(ann_dir), [], classes=["shipp"], img_prefix=str(img_dir))
    message = str(err.value)
    assert f"no training samples from {ann_dir}" in message
    assert "all 4 images were left out by filter_empty_gt=True" in message
    assert "18 objects were dropped: 3 degenerate" in message and "15 other_class" in message
    assert "classes: shipp" in message and "ship (3)" in message  # what the label files name


def test_a_training_set_left_empty_by_the_difficulty_threshold_names_it(dota_dir):
    ann_dir, _ = dota_dir
    with pytest.raises(EmptyDatasetError, match=r"3 difficulty \(difficult > the `difficulty` threshold\)"):
        DOTADataset(str(ann_dir), [], classes=["harbor"], difficulty=1)  # the harbors are all difficult=2


def test_no_label_files_is_an_error_naming_the_folder(dota_dir, tmp_path):
    _, img_dir = dota_dir
    with pytest.raises(EmptyDatasetError, match=r"only 4 images: is ann_file the image folder\?") as err:
        DOTADataset(str(img_dir), [])  # ann_file given the images by mistake
    assert str(img_dir) in str(err.value) and "all 4 images were left out" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        EmptyDatasetError,
        match=r"no test samples from .*empty: it holds no label files \(\*\.txt\) and no images",
    ):
        DOTADataset(str(tmp_path / "empty"), [], test_mode=True)
    (tmp_path / "labels").mkdir()
    with pytest.raises(EmptyDatasetError, match=r"labels: it holds no label files \(\*\.txt\)"):
        YOLOOBBDataset(str(tmp_path / "labels"), [], classes=["a"], img_prefix=str(img_dir))


def test_classes_in_no_label_file_warn_with_the_closest_names(dota_dir):
    """MMRotate drops the misspelt class's objects silently."""
    ann_dir, _ = dota_dir
    with pytest.warns(
        UserWarning,
        match=r"1 of the 3 `classes` appear in no label file.*'storage-tnak': did you mean 'storage-tank'\?",
    ):
        ds = DOTADataset(str(ann_dir), [], classes=["ship", "plane", "storage-tnak"])
    s = ds.summary()
    assert s["unseen_classes"] == {"storage-tnak": ["storage-tank"]} and s["per_class"]["storage-tnak"] == 0
    assert "class 'storage-tnak' is in no label file (closest: storage-tank)" in str(s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert DOTADataset(str(ann_dir), [], classes=["ship", "plane"]).summary()["unseen_classes"] == {}
        DOTADataset(str(ann_dir), [])  # no override: nothing to warn about


def test_dior_classes_match_whatever_their_case(tmp_path, syn):
    root = syn.write_dior(tmp_path / "dior")
    args = (str(root / "ImageSets/Main/trainval.txt"), [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DIORDataset(*args, classes=["airplane", "expressway-service-area", "Vehicle"])
    with pytest.warns(UserWarning, match=r"'airplain': did you mean 'airplane'\?"):
        DIORDataset(*args, classes=["airplain", "vehicle"], filter_empty_gt=False)


def test_the_summary_the_trainer_logs(dota_dir):
    """``summary()``: a dict (objects per class, difficult, dropped by reason, filtered and missing
    images, unseen classes) whose ``str()`` is a table; the wrappers forward or merge it."""
    ann_dir, img_dir = dota_dir
    with pytest.warns(UserWarning):
        ds = DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), classes=["ship", "plane", "boat"])
    s = ds.summary()
    assert set(s) >= {"dataset", "images", "images_without_objects", "images_filtered", "images_missing",
                      "objects", "per_class", "difficult", "ignored", "dropped", "unseen_classes"}  # fmt: skip
    assert s["images"] == 3 and s["images_filtered"] == 1 and s["objects"] == 6
    assert s["per_class"] == {"ship": 3, "plane": 3, "boat": 0} and s["difficult"] == 3
    assert (
        s["dropped"]["other_class"] == 9
        and s["dropped"]["degenerate"] == 3
        and s["dropped"]["out_of_image"] == 0
    )
    assert RepeatDataset(ds, 2).summary() == s
    both = ConcatDataset([ds, ds]).summary()
    assert both["objects"] == 12 and both["unseen_classes"] == {"boat": []} and both["images_missing"] == 0
    text = str(s)
    assert "dropped: other_class" in text and "  ship" in text and "class 'boat' is in no label file" in text


# -- 5. corners far outside the image --------------------------------------------------------------


def test_dota_corners_far_outside_the_image_are_an_error_naming_file_and_line(dota_dir):
    """MMRotate keeps them (1e9 gives loss_bbox in the millions)."""
    ann_dir, img_dir = dota_dir
    with open(ann_dir / "P0001.txt", "a") as f:
        f.write("1e9 10 1e9 20 1000000010 20 1000000010 10 plane 0\n")
    with pytest.raises(
        DotaLabelError,
        match=r"P0001\.txt:7: corners 1e\+09 10 .* far outside the 400 x 300 px image \(allowed: x -400\.\.800",
    ):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir))
    with pytest.warns(UserWarning, match=r"P0001\.txt:7"):
        ds = DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), on_error="warn")
    assert ds.summary()["dropped"]["out_of_image"] == 1 and ds.summary()["objects"] == 15
    # slightly outside (the harbor crosses the right border at x = 410 of 400) stays, as in real DOTA
    assert ds.summary()["per_class"]["harbor"] == 3


def test_real_labels_of_thumbnails_are_out_of_image(shared_dir):
    """MMRotate's own test fixtures: labels of 1024-px patches beside 170-px / 285-px thumbnails
    (../shared/data/real/INDEX.md). MMRotate loads them silently, boxes off the pixels."""
    real = shared_dir / REAL / "open-mmlab_mmrotate"
    with pytest.raises(
        DotaLabelError, match=r"P2805__1024__0___0\.txt:1: corners .* far outside the 170 x 170 px image"
    ):
        DOTADataset(
            str(real / "1.x/tests/data/dota/labelTxt"),
            [],
            img_prefix=str(real / "1.x/tests/data/dota/images"),
        )
    with pytest.raises(DotaLabelError, match=r"P0004__1__0___0\.txt:1: .* the 285 x 294 px image"):
        DOTADataset(
            str(real / "main/tests/data/labelTxt"), [], img_prefix=str(real / "main/tests/data/images")
        )
    with pytest.warns(UserWarning, match="3 such object"):
        ds = DOTADataset(str(real / "main/tests/data/labelTxt"), [], img_prefix=str(real / "main/tests/data/images"),
                         on_error="warn", filter_empty_gt=False)  # fmt: skip
    assert ds.summary()["dropped"]["out_of_image"] == 3 and ds.summary()["objects"] == 1


def test_yolo_labels_in_pixels_are_an_error_naming_file_and_line(tmp_path, syn):
    """Ultralytics refuses values > 1 too; MMRotate has no YOLO reader. Without the check a box
    at 105 px became 105 * 400 = 42,000 px."""
    root = syn.write_yolo(tmp_path / "yolo")
    label = root / "labels/train/a.txt"
    with open(label, "a") as f:
        f.write("1 105 52 135 52 135 80 105 80\n")  # pixels, not x / W
    kw = dict(classes=str(root / "data.yaml"))
    with pytest.raises(
        DotaLabelError,
        match=r"a\.txt:6: corners 105 52 .* YOLO-OBB corners are x / width, y / height, 0\.\.1",
    ):
        YOLOOBBDataset(str(root / "labels/train"), [], **kw)
    with pytest.warns(UserWarning, match=r"a\.txt:6"):
        ds = YOLOOBBDataset(str(root / "labels/train"), [], on_error="warn", **kw)
    assert ds.summary()["dropped"]["out_of_image"] == 1 and ds.summary()["objects"] == 5  # 1.0x values kept


def test_hrsc_and_dior_objects_far_outside_name_file_and_object(tmp_path, syn):
    root = syn.write_hrsc(tmp_path / "hrsc")
    xml = root / "FullDataSet/Annotations/100000002.xml"
    xml.write_text(xml.read_text().replace("<mbox_cx>200.0</mbox_cx>", "<mbox_cx>1000000000.0</mbox_cx>"))
    d = str(root)
    with pytest.raises(DotaLabelError, match=r"100000002\.xml: object 2: corners .* the 400 x 300 px image"):
        HRSCDataset(d + "/ImageSets/trainval.txt", [], ann_subdir=d + "/FullDataSet/Annotations/")
    root = syn.write_dior(tmp_path / "dior")
    xml = root / "Annotations/Oriented Bounding Boxes/00001.xml"
    xml.write_text(xml.read_text().replace("<size><width>400</width>", "<size><width>40</width>"))
    with pytest.raises(DotaLabelError, match=r"00001\.xml: object 1: .* the 40 x 300 px image"):
        DIORDataset(str(root / "ImageSets/Main/trainval.txt"), [])


# -- 6. EXIF orientation ------------------------------------------------------------------------------


def test_exif_rotated_jpeg_size_is_the_loaded_images_shape(tmp_path, syn):
    """A JPEG stored 400 x 300 with Orientation 6 (turn 90 deg clockwise): OpenCV loads 300 x 400.
    The size must be that too, or the normalised YOLO corners land in the wrong place."""
    root = tmp_path / "yolo"
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    boxes = np.array([[80, 100, 60, 30, 0.0], [200, 300, 90, 40, 0.5], [150, 200, 50, 50, -0.3]])
    shown = syn.draw_image(300, 400, boxes)  # what a viewer shows: 300 wide, 400 high
    stored = cv2.rotate(shown, cv2.ROTATE_90_COUNTERCLOCKWISE)  # what the file holds: 400 x 300
    (root / "images/train/r.jpg").write_bytes(syn.exif_jpeg(stored, 6))
    polys = np.asarray(rg.obb2poly(boxes, "le90")) / np.array([300, 400] * 4)
    (root / "labels/train/r.txt").write_text(
        "".join(f"{k} " + " ".join(f"{v:.6f}" for v in p) + "\n" for k, p in enumerate(polys))
    )
    ds = YOLOOBBDataset(str(root / "labels/train"), LOAD, classes=["a", "b", "c"], version="le90")
    img = ds[0]["img"]
    assert (
        (ds.data_infos[0]["width"], ds.data_infos[0]["height"]) == (img.shape[1], img.shape[0]) == (300, 400)
    )
    np.testing.assert_allclose(ds.get_ann_info(0)["bboxes"][:, :4], boxes[:, :4], atol=0.05)
    for k, (cx, cy) in enumerate(boxes[:, :2].astype(int)):  # each box centre shows its fill colour
        colour = (int(80 + 40 * k) % 256, int(200 - 30 * k) % 256, 255)
        assert np.abs(img[cy, cx].astype(int) - colour).max() < 30


@pytest.mark.parametrize("orientation", range(1, 9))
def test_image_size_reads_sizes_as_opencv_decodes_them(tmp_path, syn, orientation):
    img = syn.draw_image(50, 30, np.zeros((0, 5)))
    files = {"a.jpg": syn.exif_jpeg(img, orientation), "b.png": syn.exif_png(img, orientation),
             "c.png": syn.exif_png(img, orientation, after_idat=True)}  # fmt: skip
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image_size(tmp_path / name) == (decoded.shape[1], decoded.shape[0]), name
        assert image_size(tmp_path / name) == ((30, 50) if orientation >= 5 else (50, 30)), name


# -- 11. label files without images, a missing img_prefix ----------------------------------------


def test_label_without_image_is_found_at_construction(dota_dir):
    """MMRotate finds it when the sample is loaded: hours in, in a DataLoader worker."""
    ann_dir, img_dir = dota_dir
    (img_dir / "P0001.png").unlink()
    (img_dir / "P0002.png").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"DOTADataset: 2 of 3 images are not in img_prefix '.*images': P0001\.png, P0002\.png \(their labels: .*labelTxt\); on_error='warn' drops them",
    ):
        DOTADataset(str(ann_dir), LOAD, img_prefix=str(img_dir))
    with pytest.warns(UserWarning, match=r"2 of 3 images .*: dropped"):
        ds = DOTADataset(str(ann_dir), LOAD, img_prefix=str(img_dir), on_error="warn")
    assert (
        ds.img_ids == ["P0000"]
        and ds.summary()["images_missing"] == 2
        and ds[0]["img"].shape == (300, 400, 3)
    )
    assert (
        len(DOTADataset(str(ann_dir), [], img_prefix=str(img_dir))) == 3
    )  # a pipeline without images: no check


def test_a_missing_img_prefix_is_an_error_naming_it(dota_dir, tmp_path, monkeypatch):
    ann_dir, img_dir = dota_dir
    with pytest.raises(
        FileNotFoundError, match=r"img_prefix '.*imagse' is not a folder \(ann_file: .*labelTxt\)"
    ):
        DOTADataset(str(ann_dir), LOAD, img_prefix=str(img_dir.parent / "imagse"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        FileNotFoundError,
        match=r"3 of 3 images are not in the working directory .* \(img_prefix is not set\): P0000\.png",
    ):
        DOTADataset(str(ann_dir), LOAD)
    monkeypatch.chdir(img_dir)
    assert len(DOTADataset(str(ann_dir), LOAD)) == 3  # relative to the working directory, as MMRotate


def test_yolo_label_without_image_names_the_first_and_how_many(tmp_path, syn):
    root = syn.write_yolo(tmp_path / "yolo")
    for stem in ("b", "c"):
        (root / f"labels/train/{stem}.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n")
    kw = dict(classes=str(root / "data.yaml"))
    with pytest.raises(
        FileNotFoundError,
        match=r"2 of 3 label files in .*train have no image <stem>\.\* in img_prefix '.*images/train': b\.txt, c\.txt",
    ):
        YOLOOBBDataset(str(root / "labels/train"), [], **kw)
    with pytest.warns(UserWarning, match="dropped"):
        ds = YOLOOBBDataset(str(root / "labels/train"), [], on_error="warn", **kw)
    assert len(ds) == 1 and ds.summary()["images_missing"] == 2
    with pytest.raises(FileNotFoundError, match=r"YOLOOBBDataset: img_prefix '.*imgs' is not a folder"):
        YOLOOBBDataset(str(root / "labels/train"), [], img_prefix=str(root / "imgs"), **kw)


def test_real_label_files_without_images(shared_dir):
    """CAPTAIN-WHU's example: 7 label files, 2 images (INDEX.md)."""
    root = shared_dir / REAL / "CAPTAIN-WHU_DOTA_devkit/example"
    with pytest.raises(
        FileNotFoundError,
        match=r"5 of 7 images .*: P0770\.png, P1088\.png, P1234\.png, P2598\.png, P2709\.png \(",
    ):
        DOTADataset(str(root / "labelTxt"), LOAD, img_prefix=str(root / "images"))
    with pytest.warns(UserWarning, match="5 of 7"):
        ds = DOTADataset(str(root / "labelTxt"), LOAD, img_prefix=str(root / "images"), on_error="warn")
    assert ds.img_ids == ["P0706", "P1888"] and ds.summary()["objects"] == 600


# -- 14. label files that are not UTF-8 -------------------------------------------------------------


def test_non_utf8_label_file_names_file_and_line(dota_dir, tmp_path, syn):
    ann_dir, _ = dota_dir
    with open(ann_dir / "P0001.txt", "ab") as f:
        f.write("10 10 20 10 20 20 10 20 bôat 0\n".encode("latin-1"))
    with pytest.raises(
        LabelEncodingError, match=r"P0001\.txt:7: not UTF-8 text \(byte 0xf4 at byte offset \d+ of the file\)"
    ):
        DOTADataset(str(ann_dir), [])
    with pytest.warns(UserWarning, match=r"P0001\.txt:7: not UTF-8"):
        ds = DOTADataset(str(ann_dir), [], on_error="warn")
    assert ds.summary()["dropped"]["malformed_line"] == 1 and ds.summary()["objects"] == 15
    root = syn.write_yolo(tmp_path / "yolo")
    label = root / "labels/train/a.txt"
    label.write_bytes(label.read_text().encode("utf-16"))
    with pytest.raises(LabelEncodingError, match=r"a\.txt:1: a UTF-16 file"):
        YOLOOBBDataset(str(root / "labels/train"), [], classes=str(root / "data.yaml"))


def test_non_utf8_classes_and_id_lists_name_file_and_line(dota_dir, tmp_path, syn):
    ann_dir, _ = dota_dir
    classes = tmp_path / "classes.txt"
    classes.write_bytes("plane\nbôat\n".encode("latin-1"))
    with pytest.raises(LabelEncodingError, match=r"classes\.txt:2: not UTF-8"):
        DOTADataset(str(ann_dir), [], classes=str(classes))
    root = syn.write_hrsc(tmp_path / "hrsc")
    ids = root / "ImageSets/trainval.txt"
    ids.write_bytes(ids.read_bytes() + b"10000000\xe9\n")
    with pytest.raises(LabelEncodingError, match=r"trainval\.txt:3: not UTF-8"):
        HRSCDataset(str(ids), [], ann_subdir=str(root / "FullDataSet/Annotations"))


def test_read_text_lines_numbers_lines_as_universal_newlines(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfa\r\nb\rc\n\n\xff\n")
    lines, skipped = read_text_lines(path, errors="skip")
    assert lines == [(1, "a\r\n"), (2, "b\r"), (3, "c\n"), (4, "\n")]
    assert len(skipped) == 1 and skipped[0].startswith(
        f"{path}:5: not UTF-8 text (byte 0xff at byte offset 11"
    )
    with pytest.raises(LabelEncodingError, match=r"x\.txt:5:"):
        read_text_lines(path)


# -- bug hunt: YOLO class maps with gaps; HRSC boxes that le90 kept unchecked ---------------------------


@pytest.mark.parametrize("pyyaml", [True, False])
@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("names:\n  0: plane\n  2: ship\n", r"has no class index 1 \(indices must be 0\.\.n-1"),
        ("names:\n  1: plane\n  2: ship\n", r"has no class index 0"),
        ("names:\n  0: plane\n  1: ship\n  1: harbor\n", r"(class index 1|key 1) .*twice"),
        ("names: {0: plane, 2: ship}\n", r"has no class index 1"),
        ("names: []\n", r"lists no class"),
    ],
)
def test_yolo_names_with_gaps_or_duplicates_name_the_yaml(tmp_path, monkeypatch, names, message, pyyaml):
    """A missing index used to shift every later class: an object of class 1 became 'ship'."""
    from rdet_data.formats.yolo_obb import read_yolo_names

    if not pyyaml:
        monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # import yaml: ImportError
    path = tmp_path / "data.yaml"
    path.write_text("path: .\n" + names)
    with pytest.raises(ValueError, match=r"(?s)data\.yaml.*" + message):
        read_yolo_names(path)
    path.write_text("names:\n  1: ship\n  0: plane\n")  # out of order, no gap: fine
    assert read_yolo_names(path) == ["plane", "ship"]


def test_yolo_dataset_with_a_gap_in_names_is_an_error(tmp_path, syn):
    root = syn.write_yolo(tmp_path / "y")
    (root / "data.yaml").write_text(
        "names:\n  0: plane\n  2: ship\n  3: storage tank\n  4: small vehicle\n  5: harbor\n"
    )
    with pytest.raises(ValueError, match=r"data\.yaml: 'names:' has no class index 1"):
        YOLOOBBDataset(str(root / "labels/train"), [], classes=str(root / "data.yaml"))


def _hrsc_with(tmp_path, syn, old: str, new: str) -> str:
    """The synthetic HRSC set with ``old`` replaced by ``new`` in 100000002.xml; its ImageSets file."""
    root = syn.write_hrsc(tmp_path / "hrsc")
    xml = root / "FullDataSet/Annotations/100000002.xml"
    text = xml.read_text()
    assert old in text
    xml.write_text(text.replace(old, new, 1))
    return str(root / "ImageSets/trainval.txt")


@pytest.mark.parametrize("version", ["le90", "oc", "le135"])
def test_hrsc_boxes_with_a_side_under_2px_are_dropped_in_every_version(tmp_path, syn, version):
    ids = _hrsc_with(tmp_path, syn, "<mbox_h>40.0</mbox_h>", "<mbox_h>0.5</mbox_h>")
    ds = HRSCDataset(ids, [], ann_subdir="FullDataSet/Annotations", version=version)
    assert ds.summary()["dropped"]["degenerate"] == 1 and ds.summary()["objects"] == 4
    assert np.isfinite(ds.get_ann_info(1)["bboxes"]).all()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("<mbox_w>90.0</mbox_w>", "<mbox_w>nan</mbox_w>", r"object 2 <mbox_w> must be finite: 'nan'"),
        ("<mbox_cx>200.0</mbox_cx>", "<mbox_cx>inf</mbox_cx>", r"object 2 <mbox_cx> must be finite"),
        (
            "<mbox_ang>0.5</mbox_ang>",
            "<mbox_ang>-64.3</mbox_ang>",
            r"object 2 <mbox_ang> -64.3 is not an angle in radians",
        ),
        ("<mbox_h>40.0</mbox_h>", "<mbox_h>-40</mbox_h>", r"object 2 <mbox_h> must be >= 0"),
        ("<Img_SizeWidth>400</Img_SizeWidth>", "<Img_SizeWidth>0</Img_SizeWidth>", r"the image size 0 x 300"),
    ],
)
def test_hrsc_non_finite_or_out_of_range_values_name_file_and_object(tmp_path, syn, old, new, message):
    from rdet_data.formats.xml_labels import AnnotationError

    ids = _hrsc_with(tmp_path, syn, old, new)
    for version in ("le90", "oc"):
        with pytest.raises(AnnotationError, match=r"100000002\.xml: " + message):
            HRSCDataset(ids, [], ann_subdir="FullDataSet/Annotations", version=version)


def test_hrsc_le90_boxes_in_canonical_form(tmp_path, syn):
    """In-range boxes are kept as written (MMRotate); others become le90's form (w >= h, [-pi/2, pi/2))."""
    ids = _hrsc_with(tmp_path, syn, "<mbox_w>90.0</mbox_w><mbox_h>40.0</mbox_h><mbox_ang>0.5</mbox_ang>",
                     "<mbox_w>40.0</mbox_w><mbox_h>90.0</mbox_h><mbox_ang>2.0</mbox_ang>")  # fmt: skip
    ds = HRSCDataset(ids, [], ann_subdir="FullDataSet/Annotations", version="le90")
    boxes = ds.get_ann_info(1)["bboxes"]
    np.testing.assert_allclose(boxes[0], [80, 60, 60, 30, 0.0])  # as written
    np.testing.assert_allclose(boxes[1], [200, 150, 90, 40, 2.0 - np.pi / 2], rtol=1e-6)
    assert rg.angles.in_range(boxes, "le90").all()
