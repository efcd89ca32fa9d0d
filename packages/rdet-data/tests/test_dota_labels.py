"""DOTA labelTxt reading: real files from ../shared, and files written here with the same quirks."""

import numpy as np
import pytest

from rdet_data.formats import DotaLabelError, read_dota_labels

REAL = "data/real"


def test_real_crlf_file_with_header(shared_dir):
    path = shared_dir / REAL / "CAPTAIN-WHU_DOTA_devkit/example/labelTxt/P0706.txt"
    assert b"\r\n" in path.read_bytes()
    labels = read_dota_labels(path)
    assert labels.header == {"imagesource": "GoogleEarth", "gsd": "0.255589285596"}
    assert len(labels) == 538 - 2  # every line but the two header lines
    np.testing.assert_array_equal(labels.polygons[0], [1054, 1028, 1063, 1011, 1111, 1040, 1112, 1062])
    assert labels.names[0] == "ship" and labels.difficult[0] == 1 and labels.lines[0] == 3
    assert not any("\r" in n for n in labels.names)


def test_real_split_patch_without_header_with_difficult_2_and_zero_area(shared_dir):
    path = shared_dir / REAL / "hukaixuan19970627_DOTA_devkit_YOLO/DOTA_demo/labelTxt/P1478__1__853___962.txt"
    labels = read_dota_labels(path)
    assert labels.header == {}
    assert int((labels.difficult == 2).sum()) == 5
    np.testing.assert_array_equal(labels.polygons[1], [1, 187, 1, 187, 1, 219, 1, 219])  # zero area, kept


def test_real_empty_patch(shared_dir):
    labels = read_dota_labels(
        shared_dir / REAL / "open-mmlab_mmrotate/main/tests/data/labelTxt/P0004__1__0___1024.txt"
    )
    assert len(labels) == 0 and labels.polygons.shape == (0, 8)


def test_every_real_label_file_reads(shared_dir):
    files = sorted((shared_dir / REAL).rglob("labelTxt/*.txt"))
    assert len(files) >= 10
    total = sum(len(read_dota_labels(f)) for f in files)
    assert total > 1500


def test_written_file_with_every_quirk(tmp_path):
    path = tmp_path / "P9999.txt"
    path.write_bytes(
        b"imagesource:GF\r\ngsd:null\r\n"
        b"10 10 30 10 30 20 10 20 plane 0\r\n"
        b"1.5 2.5 3.5 2.5 3.5 8.0 1.5 8.0 small-vehicle 1\r\n"
        b"\r\n"
        b"1.0 187.0 1.0 187.0 1.0 219.0 1.0 219.0 small-vehicle 2\r\n"
        b"5 5 9 5 9 9 5 9 ship\r\n"
    )
    labels = read_dota_labels(path)
    assert labels.header == {"imagesource": "GF", "gsd": "null"}
    assert labels.names == ["plane", "small-vehicle", "small-vehicle", "ship"]
    assert labels.difficult.tolist() == [0, 1, 2, 0]  # a missing flag is 0
    assert labels.lines.tolist() == [3, 4, 6, 7]
    assert labels.polygons.dtype == np.float32 and labels.polygons[1, 0] == 1.5
    (tmp_path / "empty.txt").write_text("")
    assert len(read_dota_labels(tmp_path / "empty.txt")) == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("10 10 30 10 30 20 10 plane", r"bad\.txt:2: expected .* got 8"),
        ("10 10 30 x 30 20 10 20 plane 0", r"bad\.txt:2: the first 8 fields must be numbers"),
        ("10 10 30 10 30 20 10 20 plane hard", r"bad\.txt:2: difficult must be an integer"),
        ("10 10 30 10 30 nan 10 20 plane 0", r"bad\.txt:2: coordinates must be finite"),
        ("gsd:0.5", r"bad\.txt:2: expected"),  # a header line after the first object
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text("1 1 5 1 5 5 1 5 plane 0\n" + line + "\n")
    with pytest.raises(DotaLabelError, match=message):
        read_dota_labels(path)
