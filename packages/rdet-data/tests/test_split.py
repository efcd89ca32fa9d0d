"""The DOTA splitter: windows, patches whose objects map back onto the originals, counts, resume, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely

from rdet_data.formats import read_dota_labels
from rdet_data.split import PRESETS, main, sliding_windows, split_dota, window_objects


def test_sliding_windows_like_mmrotate():
    win = sliding_windows(1111, 1182, [1024], [200])
    assert sorted(map(tuple, win.tolist())) == [
        (0, 0, 1024, 1024),
        (0, 158, 1024, 1182),
        (87, 0, 1111, 1024),
        (87, 158, 1111, 1182),
    ]
    small = sliding_windows(712, 557, [1024], [200])
    assert small.tolist() == [[0, 0, 1024, 1024]]  # the image covers < 60 % of it: kept as the best one
    ms = sliding_windows(
        3000,
        3000,
        [int(1024 / r) for r in PRESETS["ms_trainval"]["rates"]],
        [int(500 / r) for r in (0.5, 1.0, 1.5)],
    )
    assert {int(w[2] - w[0]) for w in ms} == {2048, 1024, 682}
    with pytest.raises(ValueError, match="gap must be smaller"):
        sliding_windows(100, 100, [100], [100])


def test_window_objects_clip_and_keep_whole():
    polys = np.array(
        [[10, 10, 30, 10, 30, 20, 10, 20], [90, 40, 130, 40, 130, 60, 90, 60], [0, 0, 0, 0, 0, 0, 0, 0]],
        np.float32,
    )
    win = np.array([[0, 0, 100, 100]])
    (w,) = window_objects(polys, win, iof_thr=0.2)
    assert w.index.tolist() == [0, 1] and w.truncated.tolist() == [False, True]
    np.testing.assert_allclose(w.polygons[1], [90, 40, 100, 40, 100, 60, 90, 60])
    (whole,) = window_objects(polys, win, iof_thr=0.2, clip=False)
    np.testing.assert_allclose(whole.polygons[1], polys[1])
    assert window_objects(polys, win, iof_thr=0.3)[0].index.tolist() == [0]  # 25 % inside


def _pieces(save_dir: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in sorted((save_dir / "annfiles").glob("*.txt")):
        m = re.match(r"(.+)__(\d+)__(\d+)___(\d+)$", f.stem)
        assert m, f.stem
        off = np.array([int(m.group(3)), int(m.group(4))] * 4, np.float32)
        lab = read_dota_labels(f)
        out.setdefault(m.group(1), []).extend(zip(lab.polygons + off, lab.names, lab.difficult))
    return out


def _coverage(original: np.ndarray, name: str, pieces: list) -> float:
    """1 for an exact copy; else the share of the object covered by its mapped-back pieces."""
    if any(n == name and np.abs(p - original).max() < 0.06 for p, n, _ in pieces):
        return 1.0
    g = shapely.make_valid(shapely.Polygon(original.reshape(4, 2)))
    if g.area == 0:
        return 0.0
    mine = [shapely.Polygon(p.reshape(4, 2)).buffer(0) for p, n, _ in pieces if n == name]
    return shapely.union_all(mine).intersection(g).area / g.area if mine else 0.0


def test_real_dota_split_maps_back_onto_every_kept_object(shared_dir, tmp_path):
    real = shared_dir / "data/real"
    dirs = [("CAPTAIN-WHU_DOTA_devkit/example/images", "CAPTAIN-WHU_DOTA_devkit/example/labelTxt"),
            ("hukaixuan19970627_DOTA_devkit_YOLO/DOTA_demo/images", "hukaixuan19970627_DOTA_devkit_YOLO/DOTA_demo/labelTxt")]  # fmt: skip
    save = tmp_path / "split"
    # DOTA_devkit's example ships 5 label files whose images it leaves out: an error by default
    with pytest.raises(FileNotFoundError, match=r"5 label files .* have no image .*P0770\.txt"):
        split_dota(
            [str(real / i) for i, _ in dirs], str(save), [str(real / a) for _, a in dirs], progress=False
        )
    with pytest.warns(UserWarning, match="5 label files"):
        rep = split_dota([str(real / i) for i, _ in dirs], str(save), [str(real / a) for _, a in dirs], nproc=2,
                         progress=False, on_error="warn")  # fmt: skip
    assert rep["labels_without_image"] == 5
    assert rep["images"] == 6 and rep["patches"] == len(list((save / "images").glob("*.png"))) == 11
    assert rep["objects"] == 600 + 587 and rep["kept"] + rep["dropped"] == rep["objects"]
    assert rep["dropped"] == 2  # the two zero-area quads of the split patch
    lines = [ln for f in (save / "annfiles").glob("*.txt") for ln in f.read_text().splitlines()]
    assert len(lines) == rep["patch_objects"] and rep["truncated"] > 0
    assert sum(ln.endswith(" 2") for ln in lines) >= rep["truncated"]
    pieces = _pieces(save)
    for rec in rep["per_image"]:
        ann_dir = next(real / a for i, a in dirs if (real / a / f"{rec['id']}.txt").exists())
        orig = read_dota_labels(ann_dir / f"{rec['id']}.txt")
        covered = [_coverage(p, n, pieces.get(rec["id"], [])) for p, n in zip(orig.polygons, orig.names)]
        kept = [c for c in covered if c > 0]
        assert len(kept) == rec["kept"]
        assert min(kept) > 0.95, f"{rec['id']}: an object is covered only {min(kept):.2f}"
    # the patches load as a DOTA dataset (ss_trainval layout)
    from rdet_data import DOTADataset

    ds = DOTADataset(str(save / "annfiles"), [], img_prefix=str(save / "images"), filter_empty_gt=False)
    assert (
        len(ds) == 11
        and ds.summary()["objects"] + ds.summary()["dropped"]["degenerate"] == rep["patch_objects"]
    )


def test_real_unlabelled_split(shared_dir, tmp_path):
    img_dir = shared_dir / "data/real/dingjiansw101_AerialDetection/demo"
    rep = split_dota(str(img_dir), str(tmp_path / "test"), progress=False)
    assert rep["images"] == 1 and rep["objects"] == 0
    assert rep["patches"] == len(sliding_windows(1539, 2319, [1024], [200])) == 6
    names = sorted(p.name for p in (tmp_path / "test/images").iterdir())
    assert names[0] == "P0009__1024__0___0.png" and not (tmp_path / "test/annfiles").exists()
    patch = cv2.imread(str(tmp_path / "test/images" / names[-1]))
    assert patch.shape == (1024, 1024, 3)


def test_split_resumes_and_refuses_other_settings(syn, tmp_path):
    ann, img = syn.write_dota(tmp_path / "d", n_images=3)
    save = tmp_path / "out"
    kw = dict(sizes=[256], gaps=[56], progress=False)
    full = split_dota(str(img), str(save), str(ann), **kw)
    files = {p.name: p.read_bytes() for p in save.rglob("*") if p.is_file() and "split_" not in p.name}
    # an interruption: the progress log cut after the first image, half a line, patches missing
    log = save / "split_progress.jsonl"
    first = log.read_text().splitlines()[0]
    log.write_text(first + '\n{"id": "P00')
    for p in (save / "images").glob("P0002*"):
        p.unlink()
    again = split_dota(str(img), str(save), str(ann), nproc=2, **kw)
    assert {k: v for k, v in again.items() if k != "per_image"} == {
        k: v for k, v in full.items() if k != "per_image"
    }
    assert {
        p.name: p.read_bytes() for p in save.rglob("*") if p.is_file() and "split_" not in p.name
    } == files
    with pytest.raises(FileExistsError, match="other settings"):
        split_dota(str(img), str(save), str(ann), sizes=[128], gaps=[28], progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/x.txt").write_text("")
    with pytest.raises(FileExistsError, match="not a split"):
        split_dota(str(img), str(tmp_path / "busy"), str(ann), progress=False)


def test_padding_and_whole_polygons(syn, tmp_path):
    ann, img = syn.write_dota(tmp_path / "d", n_images=1)
    rep = split_dota(str(img), str(tmp_path / "o"), str(ann), sizes=[512], gaps=[100], padding_value=[1, 2, 3],
                     clip=False, progress=False)  # fmt: skip
    patch = cv2.imread(str(tmp_path / "o/images/P0000__512__0___0.png"))
    assert patch.shape == (512, 512, 3) and patch[400, 500].tolist() == [1, 2, 3]
    lines = (tmp_path / "o/annfiles/P0000__512__0___0.txt").read_text().splitlines()
    assert len(lines) == rep["patch_objects"] == 5
    assert lines[-1].endswith(" harbor 2")
    assert max(float(v) for v in lines[-1].split()[0:8:2]) > 400  # whole (MMRotate's rule): crosses x = 400


def test_cli_main(syn, tmp_path, capsys):
    ann, img = syn.write_dota(tmp_path / "d", n_images=2)
    code = main(["--img-dirs", str(img), "--ann-dirs", str(ann), "--save-dir", str(tmp_path / "o"), "--sizes", "256",
                 "--gaps", "56", "--quiet", "--nproc", "2"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["images"] == 3 and out["patches"] == len(list((tmp_path / "o/images").iterdir()))
    settings = json.loads((tmp_path / "o/split_settings.json").read_text())
    assert settings["padding_value"] == [104, 116, 124] and settings["iof_thr"] == 0.7  # ss_trainval
    assert main(["--save-dir", "x"]) == 2


# -- issue 15: an interrupted split resumes to the same output; EXIF-rotated images -----------------

KILLED_SPLIT = r"""
import os, signal, sys
import rdet_data.split.splitter as sp

# a background job of a non-interactive shell starts with SIGINT ignored (and Python keeps it so):
# restore Python's own handler, which raises KeyboardInterrupt, as in a terminal
signal.signal(signal.SIGINT, signal.default_int_handler)

img, save, ann, at, sig = sys.argv[1:6]
calls = 0
write = sp._write_atomic


def dying(path, data):  # the kill lands in the middle of write number `at`
    global calls
    calls += 1
    if calls == int(at):
        with open(f"{path}.tmp{os.getpid()}", "wb") as f:
            f.write(data[: len(data) // 2])
        os.kill(os.getpid(), getattr(signal, sig))
    write(path, data)


sp._write_atomic = dying
sp.split_dota(img, save, ann, sizes=[256], gaps=[56], progress=False)
"""


def _tree(save: Path) -> dict[str, bytes]:
    return {str(p.relative_to(save)): p.read_bytes() for p in sorted(save.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_split_killed_mid_write_resumes_to_the_uninterrupted_output(syn, tmp_path, sig):
    """A split killed while writing a label file (its 13th write: the settings, then a patch and
    its label file by turns, so the second image's third label file), then run again, gives byte for byte what one run gives; no ``*.part*.txt`` or
    temporary file is left for a dataset to read. SIGTERM and SIGINT clean up on the way out;
    after SIGKILL the rerun does (and removes an older version's ``*.part<pid>.txt`` too)."""
    import subprocess
    import sys

    from rdet_data import DOTADataset

    ann, img = syn.write_dota(tmp_path / "d", n_images=3)
    clean, save = tmp_path / "clean", tmp_path / "resumed"
    split_dota(str(img), str(clean), str(ann), sizes=[256], gaps=[56], progress=False)
    run = subprocess.run([sys.executable, "-c", KILLED_SPLIT, str(img), str(save), str(ann), "13", sig],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    expected_rc = {"SIGKILL": -9, "SIGTERM": 128 + 15, "SIGINT": -2}[sig]  # SIGINT: KeyboardInterrupt
    assert run.returncode == expected_rc, run.stderr[-2000:]
    left = [str(p.relative_to(save)) for p in save.rglob("*") if re.search(r"\.tmp\d+$", p.name)]
    assert left == (
        ["annfiles/P0001__256__0___44.txt.tmp" + left[0].rsplit("tmp", 1)[1]] if sig == "SIGKILL" else []
    )
    assert len(_tree(save)) < len(_tree(clean))
    (save / "annfiles" / "P0001__256__0___0.part4242.txt").write_text("1 2 3")  # an older version's leftover
    again = split_dota(str(img), str(save), str(ann), sizes=[256], gaps=[56], progress=False)
    assert again == split_dota(str(img), str(clean), str(ann), sizes=[256], gaps=[56], progress=False)
    assert _tree(save) == _tree(clean)
    a = DOTADataset(str(save / "annfiles"), [], img_prefix=str(save / "images"), filter_empty_gt=False)
    b = DOTADataset(str(clean / "annfiles"), [], img_prefix=str(clean / "images"), filter_empty_gt=False)
    assert a.summary()["objects"] == b.summary()["objects"] and a.img_ids == b.img_ids


def test_split_progress_line_cut_by_a_kill_is_not_continued(syn, tmp_path):
    """A record cut in the middle is dropped and the log rewritten, so the next record starts on its own line."""
    ann, img = syn.write_dota(tmp_path / "d", n_images=2)
    save = tmp_path / "out"
    kw = dict(sizes=[256], gaps=[56], progress=False)
    split_dota(str(img), str(save), str(ann), **kw)
    log = save / "split_progress.jsonl"
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # no newline: cut by the kill
    split_dota(str(img), str(save), str(ann), **kw)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(json.loads(line)["id"] for line in lines)


def test_split_reads_exif_rotated_images_as_the_pipeline_does(syn, tmp_path):
    """A JPEG stored 400 x 300 with Orientation 6 is split as the 300 x 400 image OpenCV's
    IMREAD_COLOR (LoadImageFromFile) shows, which its labels describe."""
    shown = syn.draw_image(300, 400, np.array([[150, 300, 80, 40, 0.3]]))
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    path = img_dir / "R.jpg"
    path.write_bytes(syn.exif_jpeg(cv2.rotate(shown, cv2.ROTATE_90_COUNTERCLOCKWISE), 6))
    rep = split_dota(str(img_dir), str(tmp_path / "o"), sizes=[256], gaps=[56], progress=False)
    assert (rep["per_image"][0]["width"], rep["per_image"][0]["height"]) == (300, 400)
    names = sorted(p.stem for p in (tmp_path / "o/images").iterdir())
    assert names == ["R__256__0___0", "R__256__0___144", "R__256__44___0", "R__256__44___144"]
    loaded = cv2.imread(str(path))  # IMREAD_COLOR, as the pipeline
    patch = cv2.imread(str(tmp_path / "o/images/R__256__44___144.png"))
    np.testing.assert_array_equal(patch, loaded[144:400, 44:300])


# -- bug hunt: settings and inputs that used to split something wrong (or nothing) with exit 0 ------


def test_negative_gap_is_an_error_naming_gaps(syn, tmp_path):
    """A negative gap left strips between windows that no patch covered (8 patches instead of 18)."""
    with pytest.raises(ValueError, match=r"gap must be >= 0 \(--gaps\), got -16"):
        sliding_windows(300, 200, [64], [-16])
    ann, img = syn.write_dota(tmp_path / "d", n_images=1)
    with pytest.raises(ValueError, match=r"--gaps"):
        split_dota(str(img), str(tmp_path / "o"), str(ann), sizes=[64], gaps=[-16], progress=False)
    assert not (tmp_path / "o").exists()  # refused before anything is written


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(rates=[0]), r"rates must be > 0 \(--rates\), got \[0\]"),
        (dict(rates=[-1.0]), r"rates must be > 0 \(--rates\), got \[-1.0\]"),
        (dict(rates=[1.0, float("nan")]), r"--rates"),
        (dict(rates=[100.0]), r"at rate 100.0 \(--rates\): invalid size gap pair \[0 0\]"),
        (dict(padding_value=[1, 2]), r"1 value or one per channel .*\(--padding-value\), got \[1, 2\]"),
        (dict(padding_value=[-1]), r"--padding-value"),
        # >= 1 kept no window: 0 patches written, exit 0
        (dict(img_rate_thr=1.0), r"img_rate_thr must be in \[0, 1\) \(--img-rate-thr\), got 1.0"),
        (dict(img_rate_thr=float("nan")), r"--img-rate-thr"),
    ],
)
def test_bad_rates_and_padding_values_name_their_option(syn, tmp_path, kw, message):
    ann, img = syn.write_dota(tmp_path / "d", n_images=1)
    with pytest.raises(ValueError, match=message):
        split_dota(
            str(img), str(tmp_path / "o"), str(ann), **{"sizes": [64], "gaps": [16], **kw}, progress=False
        )


def test_padding_value_that_does_not_fit_the_pixels_names_the_image(syn, tmp_path):
    ann, img = syn.write_dota(tmp_path / "d", n_images=1)
    with pytest.raises(ValueError, match=r"--padding-value.*P0000\.png \(0\.\.255\)"):
        split_dota(str(img), str(tmp_path / "o"), str(ann), sizes=[256], gaps=[56], padding_value=300,
                   progress=False)  # fmt: skip


def test_no_images_is_an_error_naming_the_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("no images here")
    with pytest.raises(FileNotFoundError, match=r"no images .* in --img-dirs \[.*empty'\]"):
        split_dota(str(empty), str(tmp_path / "o"), str(empty), progress=False)
    assert not (tmp_path / "o").exists()
    with pytest.raises(FileNotFoundError, match="--img-dirs"):  # `rdet split` prints it and exits 1
        main(["--img-dirs", str(empty), "--save-dir", str(tmp_path / "o2"), "--quiet"])


def test_label_files_without_an_image_are_an_error_naming_them(syn, tmp_path, capsys):
    ann, img = syn.write_dota(tmp_path / "d", n_images=2)
    for k in range(7):
        (ann / f"Q{k}.txt").write_text("1 1 9 1 9 9 1 9 plane 0\n")
    with pytest.raises(FileNotFoundError, match=r"7 label files in .*labelTxt.*\(--ann-dirs\) have no image.*"
                       r": Q0\.txt, Q1\.txt, Q2\.txt, Q3\.txt, Q4\.txt \.\.\.; on_error='warn'"):  # fmt: skip
        split_dota(str(img), str(tmp_path / "o"), str(ann), sizes=[256], gaps=[56], progress=False)
    assert not (tmp_path / "o").exists()
    with pytest.warns(UserWarning, match="7 label files"):
        code = main(["--img-dirs", str(img), "--ann-dirs", str(ann), "--save-dir", str(tmp_path / "o"),
                     "--sizes", "256", "--gaps", "56", "--quiet", "--on-error", "warn"])  # fmt: skip
    assert code == 0 and json.loads(capsys.readouterr().out)["labels_without_image"] == 7


def test_images_without_a_label_file_are_an_error_or_split_as_negatives(syn, tmp_path, capsys):
    """A labelled split used to write such an image's patches with no label files at all: a
    dataset reading annfiles/ then never saw them. Now an error naming them; with --on-error warn
    they are split as images without objects (empty label files, MMRotate's rule)."""
    ann, img = syn.write_dota(tmp_path / "d", n_images=3)
    stems = sorted(p.stem for p in img.iterdir())
    (ann / f"{stems[1]}.txt").unlink()
    with pytest.raises(
        FileNotFoundError, match=rf"1 images in .*\(--img-dirs\) have no label file.*: {stems[1]}\.png;"
    ):
        split_dota(str(img), str(tmp_path / "o"), str(ann), sizes=[256], gaps=[56], progress=False)
    assert not (tmp_path / "o").exists()
    with pytest.warns(UserWarning, match="1 images .* split as images without objects"):
        code = main(["--img-dirs", str(img), "--ann-dirs", str(ann), "--save-dir", str(tmp_path / "o"),
                     "--sizes", "256", "--gaps", "56", "--quiet", "--on-error", "warn"])  # fmt: skip
    assert code == 0 and json.loads(capsys.readouterr().out)["images_without_labels"] == 1
    patches = sorted(p.stem for p in (tmp_path / "o/images").iterdir())
    labels = sorted(p.stem for p in (tmp_path / "o/annfiles").iterdir())
    assert patches == labels and any(p.startswith(stems[1] + "__") for p in patches)
    bare = [p for p in (tmp_path / "o/annfiles").iterdir() if p.name.startswith(stems[1] + "__")]
    assert bare and all(p.read_text() == "" for p in bare)
