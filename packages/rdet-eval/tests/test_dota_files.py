"""The DOTA readers read all files of a kind as one text (issue 16, item 5): the same values,
names, lines and errors as a plain line-by-line reader (``bytes.split`` and ``float``)."""

import os

import numpy as np
import pytest

from rdet_eval import DotaFileError, dota_files, eval_dota_task1, evaluate_dota_task1, read_task1
from rdet_eval.dota_files import read_label_files, read_task1_files
from rdet_eval.matching import best_overlaps_by_class

BREAKS = ["\n", "\r\n", "\r"]


def _lines(data: bytes) -> list[bytes]:
    """Universal newlines, as the readers (and Python's text mode) split lines."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")


def _reference_task1(paths):
    """A line-by-line Task1 reader: (file, line, image, score, polygon) of each detection."""
    rows = []
    for f, path in enumerate(paths):
        for k, line in enumerate(_lines(path.read_bytes())):
            fields = line.split()
            if fields:
                rows.append((f, k + 1, fields[0].decode(), float(fields[1]), [float(v) for v in fields[2:]]))
    return rows


def _number(rng, value):
    """``value`` written one of the ways a results file may hold it."""
    kind = rng.integers(0, 6)
    if kind == 0:
        return repr(float(value))  # up to 17 significant digits
    if kind == 1:
        return f"{value:.{rng.integers(0, 7)}f}"
    if kind == 2:
        return f"{value:.3e}"
    if kind == 3:
        return f"{value:+.2f}"
    if kind == 4:
        return str(round(value))
    return f"{value:.12f}"


def _write_odd_task1(folder, rng, classes, images):
    """Result files with every line ending, tabs, runs of blanks, blank lines, a missing
    final newline, images in any order; -> their detections per image per class (k, 9)."""
    folder.mkdir(parents=True, exist_ok=True)
    dets = [[np.zeros((0, 9)) for _ in classes] for _ in images]
    for c, cls in enumerate(classes):
        text = ""
        for _ in range(int(rng.integers(0, 60))):
            i = int(rng.integers(0, len(images)))
            cx, cy = rng.uniform(0, 300, 2)
            w, h = rng.uniform(5, 40, 2)
            poly = np.array([cx - w, cy - h, cx + w, cy - h, cx + w, cy + h, cx - w, cy + h])
            poly += rng.normal(0, 0.5, 8)
            words = [images[i], _number(rng, rng.uniform(0, 1))] + [_number(rng, v) for v in poly]
            score, values = float(words[1]), [float(v) for v in words[2:]]
            dets[i][c] = np.vstack([dets[i][c], [*values, score]])
            sep = lambda: " " * int(rng.integers(1, 3)) if rng.random() < 0.8 else "\t"  # noqa: E731
            text += (sep() if rng.random() < 0.1 else "") + "".join(w + sep() for w in words)[:-1]
            text += BREAKS[int(rng.integers(0, 3))] + ("\n" if rng.random() < 0.05 else "")
        if text and rng.random() < 0.3:
            text = text.rstrip("\r\n")  # no final line break
        (folder / f"Task1_{cls}.txt").write_bytes(text.encode())
    return dets


def _write_odd_labels(folder, rng, classes, images):
    """Label files with headers, difficult 0, 1, 2 or absent, every line ending; -> the
    annotations per image."""
    folder.mkdir(parents=True, exist_ok=True)
    anns = []
    for image in images:
        polys, labels, difficult = [], [], []
        text = "imagesource:GoogleEarth\r\ngsd:0.146343590398\r\n" if rng.random() < 0.7 else ""
        for _ in range(int(rng.integers(0, 8))):
            cx, cy = rng.uniform(0, 300, 2)
            w, h = rng.uniform(5, 40, 2)
            poly = [cx - w, cy - h, cx + w, cy - h, cx + w, cy + h, cx - w, cy + h]
            words = [_number(rng, v) for v in poly]
            label = int(rng.integers(0, len(classes)))
            flag = rng.choice(["0", "1", "2", ""])
            text += " ".join([*words, classes[label], flag]).rstrip() + BREAKS[int(rng.integers(0, 3))]
            polys.append([float(v) for v in words])
            labels.append(label)
            difficult.append(flag in ("1", "2"))
        (folder / f"{image}.txt").write_bytes(text.encode())
        anns.append(
            {
                "polygons": np.reshape(polys, (-1, 8)),
                "labels": np.array(labels),
                "difficult": np.array(difficult),
            }
        )
    return anns


CLASSES = ["plane", "ship", "storage-tank"]
IMAGES = ["P0001", "P0002__1024__0___824", "a_very_long_image_name_of_more_than_32_bytes_0003", "P0004"]


def test_result_files_read_at_once_are_a_line_by_line_reader(tmp_path):
    rng = np.random.default_rng(0)
    _write_odd_task1(tmp_path, rng, CLASSES, IMAGES)
    paths = [tmp_path / f"Task1_{c}.txt" for c in CLASSES]
    res = read_task1_files(paths)
    ref = _reference_task1(paths)
    assert len(ref) > 50
    assert res.file_index.tolist() == [r[0] for r in ref]
    assert res.line.tolist() == [r[1] for r in ref]
    assert [res.images[k] for k in res.image_code] == [r[2] for r in ref]
    assert res.images == list(dict.fromkeys(r[2] for r in ref))  # first-seen order
    assert res.scores.tolist() == [r[3] for r in ref]  # bit for bit
    assert res.polygons.tolist() == [r[4] for r in ref]
    for f, path in enumerate(paths):  # one file at a time: the same
        one = read_task1(path)
        assert one.images == [r[2] for r in ref if r[0] == f]
        assert one.scores.tolist() == res.scores[res.file_index == f].tolist()


def test_label_files_read_at_once_are_the_devkits_rules(tmp_path):
    rng = np.random.default_rng(1)
    anns = _write_odd_labels(tmp_path, rng, CLASSES, IMAGES)
    labels = read_label_files([tmp_path / f"{im}.txt" for im in IMAGES])
    names = np.array(labels.names)[labels.name_code].tolist()
    assert names == [CLASSES[k] for a in anns for k in a["labels"]]
    assert labels.polygons.tolist() == np.vstack([a["polygons"] for a in anns]).tolist()
    assert labels.difficult.tolist() == np.concatenate([a["difficult"] for a in anns]).tolist()
    assert labels.file_index.tolist() == [i for i, a in enumerate(anns) for _ in a["labels"]]


def test_the_files_and_the_arrays_agree_on_odd_files(tmp_path):
    """The metric from odd files (every line ending, any number format, images in any order,
    a long image name) is the metric on the values they hold."""
    rng = np.random.default_rng(2)
    dets = _write_odd_task1(tmp_path / "res", rng, CLASSES, IMAGES)
    anns = _write_odd_labels(tmp_path / "labels", rng, CLASSES, IMAGES)
    for sort in ("devkit", "stable"):
        from_files = evaluate_dota_task1(tmp_path / "res", tmp_path / "labels", classes=CLASSES, sort=sort)
        # the arrays hold each class's detections image by image: file order differs, so
        # compare where ties cannot differ (the scores are distinct)
        from_arrays = eval_dota_task1(dets, anns, class_names=CLASSES, sort=sort)
        assert from_files == from_arrays


def test_a_file_that_changes_while_it_is_read_is_read_again(tmp_path, monkeypatch):
    """The readers read every file straight into one buffer, sized from ``os.stat``; a file
    whose size differs when it is opened is read again, whole."""
    rng = np.random.default_rng(3)
    _write_odd_task1(tmp_path, rng, CLASSES, IMAGES)
    paths = [tmp_path / f"Task1_{c}.txt" for c in CLASSES]
    expected = read_task1_files(paths)
    real_fstat = os.fstat
    calls = []

    def grown(fd):
        calls.append(fd)
        st = real_fstat(fd)
        return os.stat_result((*st[:6], st.st_size + 1, *st[7:10]))

    with monkeypatch.context() as m:
        m.setattr(dota_files.os, "fstat", grown)
        assert dota_files._read_joined(paths) is None
        res = read_task1_files(paths)
    assert calls
    assert res.scores.tolist() == expected.scores.tolist() and res.line.tolist() == expected.line.tolist()
    assert [res.images[k] for k in res.image_code] == [expected.images[k] for k in expected.image_code]


def test_the_first_file_with_a_malformed_line_is_named(tmp_path):
    """Files are checked in order; in a file, every line is counted before its numbers are
    read; '(and N more such lines)' counts that file's lines."""
    square = "0 0 10 0 10 10 0 10"
    a, b, c = (tmp_path / f"Task1_{n}.txt" for n in "abc")
    a.write_text(f"P1 0.9 {square}\n")
    b.write_text(f"P1 0.9 {square}\nP1 0.8 {square}\nP1 0.7 0 0 10 0 1O 10 0 10\n")
    c.write_text(f"P1 0.9 {square} 1\nP1 0.9 {square} 2\nP1 0.9 {square} 3\n")
    with pytest.raises(DotaFileError, match=r"Task1_b\.txt:3: score and coordinates must be numbers"):
        read_task1_files([a, b, c])
    with pytest.raises(DotaFileError, match=r"Task1_c\.txt:1: expected .* got 11 \(and 2 more such lines\)"):
        read_task1_files([a, c, b])
    b.write_text(f"P1 0.7 0 0 10 0 1O 10 0 10\nP1 0.8 {square} 1\n")
    with pytest.raises(DotaFileError, match=r"Task1_b\.txt:2: expected .* got 11: "):
        read_task1_files([a, b, c])


@pytest.mark.parametrize("max_pairs", [1, 7, 100])
def test_batches_of_candidate_pairs_change_nothing(max_pairs):
    """Large sets are matched in batches of detections (bounded memory): the same answer."""
    rng = np.random.default_rng(4)
    det_class, det_image = rng.integers(-1, 3, 300), rng.integers(0, 5, 300)
    gt_class, gt_image = rng.integers(-1, 3, 60), rng.integers(0, 5, 60)
    table = rng.choice([0.0, 0.3, 0.5, 0.9], (300, 60))  # ties: the first object wins

    def of(d, g):
        return lambda i, j: table[d[i], g[j]]

    best, which = best_overlaps_by_class(det_class, det_image, gt_class, gt_image, of)
    b, w = best_overlaps_by_class(det_class, det_image, gt_class, gt_image, of, max_pairs=max_pairs)
    assert (b == best).all() and (w == which).all()
    assert (which[det_class < 0] == -1).all() and (best > 0).sum() > 100
