"""Datasets: every labelled real sample loads with the counts in its files; synthetic files cover the same paths."""

from __future__ import annotations

import numpy as np
import pytest

from rdet_data import (
    DIORDataset,
    DOTADataset,
    DOTAv2Dataset,
    DOTAv15Dataset,
    HRSCDataset,
    SARDataset,
    YOLOOBBDataset,
)
from rdet_data.formats import DotaLabelError

REAL = "data/real"


def _object_lines(folder) -> int:
    return sum(
        len(line.split()) >= 9 for f in sorted(folder.glob("*.txt")) for line in f.read_text().splitlines()
    )


@pytest.mark.parametrize(
    ("labels", "images", "files", "objects", "degenerate"),
    [
        ("CAPTAIN-WHU_DOTA_devkit/example/labelTxt", "CAPTAIN-WHU_DOTA_devkit/example/images", 7, 984, 0),
        (
            "hukaixuan19970627_DOTA_devkit_YOLO/DOTA_demo/labelTxt",
            "hukaixuan19970627_DOTA_devkit_YOLO/DOTA_demo/images",
            4,
            587,
            2,
        ),
        ("hukaixuan19970627_DOTA_devkit_YOLO/evaluation_example/row_DOTA_labels", "", 4, 429, 0),
        # images "": their PNGs are thumbnails the labels do not fit (see test_bad_input.py)
        ("open-mmlab_mmrotate/main/tests/data/labelTxt", "", 2, 4, 0),
        ("open-mmlab_mmrotate/1.x/tests/data/dota/labelTxt", "", 1, 4, 0),
    ],
)
def test_real_dota_counts_match_the_files(shared_dir, labels, images, files, objects, degenerate):
    folder = shared_dir / REAL / labels
    assert _object_lines(folder) == objects
    ds = DOTADataset(
        str(folder), [], img_prefix=str(shared_dir / REAL / images) if images else "", filter_empty_gt=False
    )
    s = ds.summary()
    assert s["images"] == files
    assert s["objects"] + s["dropped"]["degenerate"] == objects
    assert s["dropped"]["degenerate"] == degenerate
    assert sum(s["per_class"].values()) == s["objects"]
    for i in range(len(ds)):
        ann = ds.get_ann_info(i)
        assert ann["bboxes"].shape == (len(ann["labels"]), 5) and ann["bboxes"].dtype == np.float32
        assert ann["polygons"].shape == (len(ann["labels"]), 8)
        assert np.isfinite(ann["bboxes"]).all()


def test_real_split_patch_difficult_2_and_threshold(shared_dir):
    folder = shared_dir / REAL / "hukaixuan19970627_DOTA_devkit_YOLO/DOTA_demo/labelTxt"
    all_ = DOTADataset(str(folder), [], version="le90")
    easy = DOTADataset(str(folder), [], version="le90", difficulty=1)
    dropped = easy.summary()["dropped"]["difficulty"]
    assert dropped > 0
    assert easy.summary()["objects"] == all_.summary()["objects"] - dropped
    patch = all_.img_ids.index("P1478__1__853___962")
    assert (all_.get_ann_info(patch)["difficult"] == 2).sum() == 5 - 2  # 2 of the 5 truncated are zero-area


def test_real_empty_file_is_an_image_without_objects(shared_dir):
    folder = shared_dir / REAL / "open-mmlab_mmrotate/main/tests/data/labelTxt"
    kept = DOTADataset(str(folder), [], filter_empty_gt=False)
    assert len(kept) == 2 and kept.summary()["images_without_objects"] == 1
    train = DOTADataset(str(folder), [])
    assert len(train) == 1 and train.summary()["images_filtered"] == 1


def test_real_dota8(shared_dir):
    root = shared_dir / REAL / "ultralytics_hub_dota8/example_datasets/dota8"
    total = 0
    for split in ("train", "val"):
        ds = YOLOOBBDataset(
            str(root / "labels" / split), [], classes=str(root / "dota8.yaml"), version="le90"
        )
        assert len(ds) == 4 and ds.CLASSES[2] == "storage tank"
        total += ds.summary()["objects"] + ds.summary()["dropped"]["degenerate"]
        for i in range(len(ds)):
            assert ds.data_infos[i]["width"] == 1024
    assert total == 133
    # P1142__1024__0___824 has x4 = 1.04199 > 1: kept, in pixels
    ds = YOLOOBBDataset(str(root / "labels/train"), [], classes=str(root / "dota8.yaml"))
    ann = ds.get_ann_info(
        ds.data_infos.index(next(d for d in ds.data_infos if d["filename"].startswith("P1142")))
    )
    assert ann["polygons"][0, 6] == pytest.approx(1.04199 * 1024, abs=1e-2)


def test_real_hrsc_xml(shared_dir):
    root = shared_dir / REAL / "open-mmlab_mmrotate/1.x/tests/data/hrsc"
    ds = HRSCDataset(
        str(root / "demo.txt"),
        [],
        ann_subdir=str(root / "FullDataSet/Annotations"),
        img_prefix=str(root / "FullDataSet/AllImages"),
        version="le90",
    )
    ann = ds.get_ann_info(0)
    np.testing.assert_allclose(
        ann["bboxes"][0], [341.2143, 443.3325, 778.4297, 178.2595, -1.122944], rtol=1e-6
    )
    assert ds.data_infos[0]["width"] == 1172 and ann["headers"].tolist() == [[143, 776]]
    wise = HRSCDataset(
        str(root / "demo.txt"), [], ann_subdir="FullDataSet/Annotations", classwise=True, version="oc"
    )
    assert wise.CLASSES[wise.get_ann_info(0)["labels"][0]] == "Kuznetsov"  # Class_ID 100000013
    assert len(wise.CLASSES) == 31 and ds.CLASSES == ("ship",)


def test_real_dior_xml(shared_dir):
    root = shared_dir / REAL / "open-mmlab_mmrotate/1.x/tests/data/dior"
    ds = DIORDataset(str(root / "demo.txt"), [], img_prefix=str(root / "JPEGImage"))
    assert len(ds) == 1 and ds.data_infos[0]["filename"] == "00001.jpg"
    ann = ds.get_ann_info(0)
    assert ds.CLASSES[ann["labels"][0]] == "golffield"
    # axis-aligned, 551 x 435 px: 'oc' as MMRotate's poly2obb_np gives it (theta = pi/2, w the
    # vertical side), no longer w, h swapped at theta = 4.4e-8 (float32 pi/2 wrapped)
    np.testing.assert_allclose(ann["bboxes"][0], [408.5, 454.5, 435, 551, np.pi / 2], atol=1e-3)


# -- synthetic -----------------------------------------------------------------------------------


def test_synthetic_dota(dota_dir, syn):
    ann_dir, img_dir = dota_dir
    ds = DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), version="le90", filter_empty_gt=False)
    s = ds.summary()
    assert s["images"] == 4 and s["images_without_objects"] == 1
    assert s["objects"] == 3 * 5 and s["dropped"]["degenerate"] == 3
    assert s["difficult"] == 3 * 3  # flags 1, 1 and 2 per image
    assert [s["per_class"][n] for n in syn.SYN_NAMES] == [3] * 5
    assert "small-vehicle" in str(s) and "dropped: degenerate" in str(s)
    assert ds.data_infos[0]["filename"] == "P0000.png"


def test_test_mode_reads_the_image_folder(dota_dir):
    _, img_dir = dota_dir
    ds = DOTADataset(str(img_dir), [], img_prefix=str(img_dir), test_mode=True)
    assert len(ds) == 4 and ds.get_ann_info(0)["bboxes"].shape == (0, 5)


def test_class_lists():
    assert len(DOTADataset.CLASSES) == 15 and DOTAv15Dataset.CLASSES[-1] == "container-crane"
    assert DOTAv2Dataset.CLASSES[-2:] == ("airport", "helipad") and SARDataset.CLASSES == ("ship",)


def test_classes_override_drops_and_counts_other_classes(dota_dir):
    ann_dir, _ = dota_dir
    ds = DOTADataset(str(ann_dir), [], classes=["ship", "plane"])
    assert ds.CLASSES == ("ship", "plane")
    assert ds.summary()["objects"] == 6 and ds.summary()["dropped"]["other_class"] == 9
    assert set(ds.get_ann_info(0)["labels"].tolist()) == {0, 1}


def test_malformed_line_is_an_error_naming_file_and_line(tmp_path, dota_dir):
    ann_dir, _ = dota_dir
    with open(ann_dir / "P0001.txt", "a") as f:
        f.write("10 10 20 10 20 x 10 20 plane 0\n")
    with pytest.raises(DotaLabelError, match=r"P0001\.txt:7: the first 8 fields must be numbers"):
        DOTADataset(str(ann_dir), [])
    with pytest.warns(UserWarning, match=r"P0001\.txt:7"):
        ds = DOTADataset(str(ann_dir), [], on_error="warn")
    assert ds.summary()["dropped"]["malformed_line"] == 1 and ds.summary()["objects"] == 15


def test_unknown_class_is_an_error(dota_dir):
    ann_dir, _ = dota_dir
    with open(ann_dir / "P0002.txt", "a") as f:
        f.write("10 10 20 10 20 20 10 20 container-crane 0\n")
    with pytest.raises(ValueError, match=r"P0002\.txt:7: unknown class 'container-crane'"):
        DOTADataset(str(ann_dir), [])
    assert DOTAv15Dataset(str(ann_dir), []).summary()["per_class"]["container-crane"] == 1


def test_missing_image_is_an_error_naming_it(dota_dir):
    """At construction now (test_bad_input.py has the details); an undecodable image as well,
    as its size bounds the corners; one that breaks after construction, when loaded."""
    ann_dir, img_dir = dota_dir
    (img_dir / "P0001.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 4 images .*: P0001\.png"):
        DOTADataset(str(ann_dir), [dict(type="LoadImageFromFile")], img_prefix=str(img_dir), test_mode=True)
    (img_dir / "P0002.png").write_bytes(b"not a png")
    with pytest.raises(FileNotFoundError, match=r"P0002\.png"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), test_mode=True)
    (ann_dir / "P0001.txt").unlink()
    (ann_dir / "P0002.txt").unlink()
    ds = DOTADataset(str(ann_dir), [dict(type="LoadImageFromFile")], img_prefix=str(img_dir), test_mode=True)
    (img_dir / "P9000.png").write_bytes(b"not a png")
    with pytest.raises(FileNotFoundError, match=r"P9000\.png"):
        ds[ds.img_ids.index("P9000")]


def test_synthetic_hrsc(tmp_path, syn):
    root = syn.write_hrsc(tmp_path / "hrsc")
    d = str(root)
    ds = HRSCDataset(d + "/ImageSets/trainval.txt", [], ann_subdir=d + "/FullDataSet/Annotations/",
                     img_subdir=d + "/FullDataSet/AllImages/", img_prefix=d + "/FullDataSet/AllImages/")  # fmt: skip
    assert ds.summary()["objects"] == 5 and ds.data_infos[0]["filename"] == "100000001.bmp"
    assert ds.flag.tolist() == [1, 1]  # 400 x 300: landscape
    wise = HRSCDataset(
        d + "/ImageSets/trainval.txt", [], ann_subdir=d + "/FullDataSet/Annotations/", classwise=True
    )
    assert wise.summary()["dropped"]["other_class"] == 1  # Class_ID 100000021 is not an HRSC class
    assert wise.get_ann_info(1)["labels"].tolist() == [12, 0]


def test_synthetic_dior_and_yolo(tmp_path, syn):
    root = syn.write_dior(tmp_path / "dior")
    ds = DIORDataset(
        str(root / "ImageSets/Main/trainval.txt"), [], img_prefix=str(root / "JPEGImages-trainval")
    )
    ann = ds.get_ann_info(0)
    assert ann["labels"].tolist() == [0, 6]  # Expressway-Service-area matched case-insensitively
    assert ann["labels_ignore"].tolist() == [18] and ds.summary()["ignored"] == 1
    y = syn.write_yolo(tmp_path / "yolo")
    ds = YOLOOBBDataset(str(y / "labels/train"), [], classes=str(y / "data.yaml"), version="le90")
    assert ds.img_prefix.endswith("images/train") and ds.summary()["objects"] == 5
    np.testing.assert_allclose(ds.get_ann_info(0)["bboxes"][:, :4], syn.SYN_BOXES[:, :4], atol=0.05)
    (y / "labels/train/a.txt").write_text("7 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n")
    with pytest.raises(ValueError, match=r"a\.txt:1: class index 7 >= 5"):
        YOLOOBBDataset(str(y / "labels/train"), [], classes=str(y / "data.yaml"))


def test_evaluate_takes_an_injected_scorer(dota_dir):
    ann_dir, _ = dota_dir
    ds = DOTADataset(str(ann_dir), [], version="le90")
    with pytest.raises(RuntimeError, match="scorer"):
        ds.evaluate([[]] * len(ds))
    calls = []

    def scorer(results, annotations, **kw):
        calls.append(kw)
        return 0.25, []

    assert ds.evaluate([[]] * len(ds), scorer=scorer) == {"mAP": 0.25}
    assert calls[0]["iou_thr"] == 0.5 and calls[0]["dataset"] == ds.CLASSES
    out = ds.evaluate([[]] * len(ds), scorer=scorer, iou_thr=[0.5, 0.75])
    assert out == {"mAP": 0.25, "AP50": 0.25, "AP75": 0.25}
