"""Readers that said nothing about bad input: each case is now an error naming the file and the
line, object or argument (DOTA labelTxt, HRSC2016 XML, LoadImageFromFile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rdet_data.formats import AnnotationError, DotaLabelError, read_dota_labels, read_hrsc_xml

REAL = "data/real"
SQUARE = "10 10 60 10 60 60 10 60"


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# -- DOTA: class names that are a configured class spelled differently ------------------------


def test_misspelled_class_names_are_found_with_file_line_and_the_class_meant(tmp_path):
    from rdet_data.formats import misspelled_class_names

    path = write(
        tmp_path / "P0001.txt",
        "imagesource:GoogleEarth",
        "gsd:0.1",
        f"{SQUARE} plane 0",
        f"{SQUARE} ship 0",  # a DOTA class left out of the override: another class, not a typo
        f"{SQUARE} Plane 0",
        f"{SQUARE} small_vehicle 1",
    )
    labels = read_dota_labels(path)
    mask, message = misspelled_class_names(labels, ["plane", "small-vehicle"])
    assert mask.tolist() == [False, False, True, True]
    assert message.startswith(f"{path}:5: class 'Plane' is not in `classes`; did you mean 'plane'?")
    assert "2 such object(s)" in message and "'small_vehicle'" in message
    # the override written with spaces (DOTA8's names) against DOTA's hyphenated names
    mask, message = misspelled_class_names(labels, ["small vehicle", "plane"])
    assert mask.tolist() == [False, False, True, True]
    assert f"{path}:5:" in message
    # a genuine subset: nothing is a near miss
    mask, message = misspelled_class_names(labels, ["plane", "Plane", "small_vehicle"])
    assert not mask.any() and message is None


def test_dota_dataset_with_classes_override_refuses_a_misspelled_class(tmp_path):
    from rdet_data.datasets.dota import DOTADataset

    ann = tmp_path / "labelTxt"
    ann.mkdir()
    write(ann / "P0001.txt", f"{SQUARE} plane 0", f"{SQUARE} Plane 0", f"{SQUARE} ship 0")
    with pytest.raises(DotaLabelError, match=r"P0001\.txt:2: class 'Plane' .* did you mean 'plane'"):
        DOTADataset(str(ann), [], classes=["plane"])
    write(ann / "P0001.txt", f"{SQUARE} plane 0", f"{SQUARE} ship 0")
    ds = DOTADataset(str(ann), [], classes=["plane"])  # a subset: ship is dropped and counted
    assert ds.summary()["dropped"]["other_class"] == 1


# -- DOTA: header lines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "10 10 60 10 60 60 10 60:plane",  # 8 tokens: was taken for a header
        "10 10 60 10 60 60 10:60 plane",
        ":plane",
        "10:plane 1",
    ],
)
def test_a_line_with_a_colon_that_is_not_word_colon_value_is_an_error(tmp_path, line):
    path = write(tmp_path / "bad.txt", line, f"{SQUARE} plane 0")
    with pytest.raises(DotaLabelError, match=r"bad\.txt:1: "):
        read_dota_labels(path)


def test_a_class_name_with_a_colon_is_an_error(tmp_path):
    path = write(tmp_path / "bad.txt", "10 10 20 10 20 20 10 20 30:plane")  # 9 tokens, 30 lost
    with pytest.raises(DotaLabelError, match=r"bad\.txt:1: class name '30:plane' holds ':'"):
        read_dota_labels(path)


def test_word_colon_value_headers_still_read(tmp_path, shared_dir):
    path = write(
        tmp_path / "P0001.txt",
        "imagesource:GF",
        "gsd:None",
        "acquisition dates:2016-01-01",
        "source_2 : x",
        f"{SQUARE} plane 0",
    )
    labels = read_dota_labels(path)
    assert labels.header == {
        "imagesource": "GF",
        "gsd": "None",
        "acquisition dates": "2016-01-01",
        "source_2": "x",
    }
    assert labels.names == ["plane"] and labels.lines.tolist() == [5]
    headers = {}
    for f in sorted((shared_dir / REAL).rglob("labelTxt/*.txt")):
        headers.update(read_dota_labels(f).header)
    assert set(headers) == {"imagesource", "gsd"}


# -- DOTA: difficult -----------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["-1", "3", "7"])
def test_difficult_outside_0_1_2_is_an_error(tmp_path, flag):
    path = write(tmp_path / "bad.txt", f"{SQUARE} plane 0", f"{SQUARE} plane {flag}")
    with pytest.raises(DotaLabelError, match=rf"bad\.txt:2: difficult must be 0, 1 or 2 .* got {flag}"):
        read_dota_labels(path)
    labels = read_dota_labels(path, errors="skip")  # on_error='warn': skipped and reported
    assert len(labels) == 1 and "bad.txt:2:" in labels.skipped[0]


def test_real_difficult_values_are_0_1_2(shared_dir):
    flags = np.concatenate(
        [read_dota_labels(f).difficult for f in (shared_dir / REAL).rglob("labelTxt/*.txt")]
    )
    assert set(flags.tolist()) == {0, 1, 2}


# -- HRSC2016 -------------------------------------------------------------------------------------


def hrsc_xml(
    width: str = "400", objects: tuple[str, ...] = ("<Class_ID>100000013</Class_ID>",), difficult="0"
) -> str:
    obj = (
        "<HRSC_Object>{}<truncated>0</truncated><difficult>" + difficult + "</difficult>"
        "<mbox_cx>100</mbox_cx><mbox_cy>100</mbox_cy><mbox_w>80</mbox_w><mbox_h>20</mbox_h>"
        "<mbox_ang>0.3</mbox_ang></HRSC_Object>"
    )
    return (
        f"<HRSC_Image><Img_ID>100000001</Img_ID><Img_SizeWidth>{width}</Img_SizeWidth>"
        f"<Img_SizeHeight>300</Img_SizeHeight><HRSC_Objects>"
        + "".join(obj.format(o) for o in objects)
        + "</HRSC_Objects></HRSC_Image>"
    )


def hrsc_root(tmp_path: Path, xml: str) -> Path:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "100000001.xml").write_text(xml)
    (tmp_path / "trainval.txt").write_text("100000001\n")
    return tmp_path


@pytest.mark.parametrize(
    ("class_id", "found"),
    [("", "no <Class_ID>"), ("<Class_ID>10000013</Class_ID>", "<Class_ID> '10000013'"),
     ("<Class_ID>100000034</Class_ID>", "<Class_ID> '100000034'"), ("<Class_ID></Class_ID>", "no <Class_ID>")],
)  # fmt: skip
def test_hrsc_classwise_missing_or_malformed_class_id_is_an_error(tmp_path, class_id, found):
    from rdet_data.datasets.hrsc import HRSCDataset

    xml = hrsc_xml(objects=("<Class_ID>100000013</Class_ID>", class_id))
    root = hrsc_root(tmp_path, xml)
    with pytest.raises(AnnotationError, match=rf"100000001\.xml: object 2 has {found}; classwise=True"):
        HRSCDataset(str(root / "trainval.txt"), [], ann_subdir="Annotations", classwise=True)
    with pytest.warns(UserWarning, match=r"object 2 has"):
        ds = HRSCDataset(
            str(root / "trainval.txt"), [], ann_subdir="Annotations", classwise=True, on_error="warn"
        )
    assert ds.get_ann_info(0)["labels"].tolist() == [12]
    assert ds.summary()["dropped"]["malformed_line"] == 1
    ds = HRSCDataset(str(root / "trainval.txt"), [], ann_subdir="Annotations")  # one class: ids unused
    assert ds.summary()["objects"] == 2


def test_hrsc_classwise_ids_21_and_23_are_dropped_as_mmrotate_does(tmp_path):
    from rdet_data.datasets.hrsc import HRSCDataset

    ids = (
        "<Class_ID>100000013</Class_ID>",
        "<Class_ID>100000021</Class_ID>",
        "<Class_ID>100000023</Class_ID>",
    )
    root = hrsc_root(tmp_path, hrsc_xml(objects=ids))
    ds = HRSCDataset(str(root / "trainval.txt"), [], ann_subdir="Annotations", classwise=True)
    assert ds.summary()["dropped"]["other_class"] == 2 and ds.get_ann_info(0)["labels"].tolist() == [12]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"difficult": "1.7"}, r"object 1 <difficult> must be an integer, got '1\.7'"),
        ({"difficult": "2"}, r"object 1 <difficult> must be 0 or 1, got 2"),
        ({"difficult": "-1"}, r"object 1 <difficult> must be 0 or 1, got -1"),
        ({"width": "1172.9"}, r"the image <Img_SizeWidth> must be an integer, got '1172\.9'"),
    ],
)
def test_hrsc_non_integer_or_out_of_range_fields_are_errors(tmp_path, kwargs, message):
    path = tmp_path / "100000001.xml"
    path.write_text(hrsc_xml(**kwargs))
    with pytest.raises(AnnotationError, match=rf"100000001\.xml: {message}"):
        read_hrsc_xml(path)


def test_hrsc_integral_values_written_as_floats_still_read(tmp_path):
    path = tmp_path / "100000001.xml"
    path.write_text(hrsc_xml(width="400.0", difficult="1.0"))
    labels = read_hrsc_xml(path)
    assert labels.width == 400 and labels.difficult.tolist() == [1]


def test_real_hrsc_xml_reads(shared_dir):
    xml = read_hrsc_xml(
        shared_dir / REAL / "open-mmlab_mmrotate/1.x/tests/data/hrsc/FullDataSet/Annotations/100000006.xml"
    )
    assert xml.width == 1172 and xml.class_ids == ["100000013"] and xml.difficult.tolist() == [0]


# -- LoadImageFromFile ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"channel_order": "rbg"}, "channel_order"), ({"channel_order": "RGB"}, "channel_order"),
     ({"color_type": "colour"}, "color_type"), ({"color_type": None}, "color_type")],
)  # fmt: skip
def test_load_image_checks_its_arguments_at_construction(kwargs, argument):
    from rdet_data.transforms.loading import LoadImageFromFile, LoadImageFromWebcam

    for cls in (LoadImageFromFile, LoadImageFromWebcam):
        with pytest.raises(
            ValueError, match=rf"{cls.__name__}: {argument} must be one of .*'(bgr|color)'.* got"
        ):
            cls(**kwargs)


def test_load_image_accepts_mmcv_values(tmp_path):
    import cv2

    from rdet_data.transforms.loading import LoadImageFromFile, imread

    img = np.zeros((4, 5, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    cv2.imwrite(str(tmp_path / "a.png"), img)
    for color_type in (
        "color",
        "grayscale",
        "unchanged",
        "color_ignore_orientation",
        "grayscale_ignore_orientation",
    ):
        for order in ("bgr", "rgb"):
            LoadImageFromFile(color_type=color_type, channel_order=order)
    out = LoadImageFromFile(channel_order="rgb")(
        {"img_prefix": str(tmp_path), "img_info": {"filename": "a.png"}}
    )
    assert out["img"][0, 0].tolist() == [0, 0, 255]
    with pytest.raises(ValueError, match=r"imread: channel_order must be one of"):
        imread(str(tmp_path / "a.png"), channel_order="rbg")
