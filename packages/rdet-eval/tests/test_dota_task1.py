"""The official DOTA Task1 metric against DOTA_devkit's own outputs (../shared/golden/dota_devkit)."""

import json
import os
import platform
import subprocess
import sys
import warnings

import numpy as np
import pytest

from rdet_eval import DotaFileError, eval_dota_task1, evaluate_dota_task1, write_submission

SETTINGS = [(thr, v) for thr in (0.5, 0.75) for v in (0, 1)]
EXAMPLE = "data/real/hukaixuan19970627_DOTA_devkit_YOLO/evaluation_example"


def _reference(folder, thr, voc07, prefix=""):
    return json.loads((folder / f"{prefix}iou{thr}_voc07{voc07}.json").read_text())


@pytest.mark.parametrize(("thr", "voc07"), SETTINGS)
def test_real_example_files(shared_dir, devkit_dir, thr, voc07):
    ref = _reference(devkit_dir / "real_example", thr, voc07)
    classes = list(ref["classes"])
    base = shared_dir / EXAMPLE
    res = evaluate_dota_task1(
        base / "result_classname",
        base / "row_DOTA_labels",
        thr,
        bool(voc07),
        classes,
        image_list=base / "imgnamefile.txt",
    )
    # tolerances of the golden README (the devkit's unstable sort over tied scores)
    assert abs(res["mAP"] - ref["mAP"]) <= 2e-3
    for c in classes:
        assert abs(res["ap"][c] - ref["classes"][c]["ap"]) <= 6e-3
        assert res["tp"][c] == ref["classes"][c]["tp"]
        assert (
            res["npos"][c] == ref["classes"][c]["npos"]
            and res["num_dets"][c] == ref["classes"][c]["num_dets"]
        )


@pytest.mark.parametrize("case", ["synthetic_public", "bench"])
@pytest.mark.parametrize(("thr", "voc07"), SETTINGS)
def test_synthetic_and_benchmark_sets(shared_dir, devkit_dir, load_npz, to_polygons, case, thr, voc07):
    npz = (
        shared_dir / "golden/mmrotate-0.3.4/eval_map.npz"
        if case == "synthetic_public"
        else devkit_dir / "bench/bench.npz"
    )
    dets, anns, names = load_npz(npz)
    ref = _reference(devkit_dir / case, thr, voc07, prefix="official_")
    res = eval_dota_task1(*to_polygons(dets, anns), thr, bool(voc07), names)
    assert abs(res["mAP"] - ref["mAP"]) <= 1e-6
    for c in names:
        assert abs(res["ap"][c] - ref["classes"][c]["ap"]) <= 1e-6
        assert res["tp"][c] == ref["classes"][c]["tp"]


def _write_labels(folder, image, lines, crlf=False):
    folder.mkdir(parents=True, exist_ok=True)
    text = "imagesource:GoogleEarth\ngsd:0.5\n" + "".join(line + "\n" for line in lines)
    (folder / f"{image}.txt").write_bytes(text.replace("\n", "\r\n").encode() if crlf else text.encode())


def test_files_and_arrays_agree_on_written_data(tmp_path):
    """Labels with CRLF, headers, difficult 1 and 2, an empty file; results written by write_submission."""
    rng = np.random.default_rng(0)
    classes = ["plane", "ship"]
    images, det_results, annotations = [], [], []
    for i in range(6):
        polys, labels, difficult, lines = [], [], [], []
        for _ in range(int(rng.integers(0, 6))):
            cx, cy, w, h = (
                rng.uniform(50, 400),
                rng.uniform(50, 400),
                rng.uniform(10, 40),
                rng.uniform(10, 40),
            )
            p = [cx - w, cy - h, cx + w, cy - h, cx + w, cy + h, cx - w, cy + h]
            lab, diff = int(rng.integers(0, 2)), int(rng.choice([0, 0, 0, 1, 2]))
            polys.append(p)
            labels.append(lab)
            difficult.append(diff > 0)
            lines.append(" ".join(f"{v:.1f}" for v in p) + f" {classes[lab]} {diff}")
        _write_labels(tmp_path / "labels", f"P{i:04d}", lines, crlf=i % 2 == 0)
        images.append(f"P{i:04d}")
        annotations.append(
            {
                "polygons": np.array(polys).reshape(-1, 8),
                "labels": np.array(labels),
                "difficult": np.array(difficult),
            }
        )
        per_class = []
        for c in range(2):
            mine = np.array(polys).reshape(-1, 8)[np.array(labels, int) == c] if polys else np.zeros((0, 8))
            noisy = mine + rng.normal(0, 3, mine.shape)
            extra = rng.uniform(0, 400, (2, 8))
            per_class.append(np.c_[np.vstack([noisy, extra]), rng.uniform(0, 1, len(noisy) + 2)].round(2))
        det_results.append(per_class)
    write_submission(tmp_path / "results", images, det_results, classes, decimals=2)
    from_files = evaluate_dota_task1(tmp_path / "results", tmp_path / "labels", classes=classes)
    from_arrays = eval_dota_task1(det_results, annotations, class_names=classes)
    assert from_files["tp"] == from_arrays["tp"] and from_files["npos"] == from_arrays["npos"]
    assert from_files["mAP"] == pytest.approx(from_arrays["mAP"], abs=1e-12)
    assert 0 < from_files["mAP"] < 1


def test_errors_name_the_item(tmp_path):
    _write_labels(tmp_path / "labels", "P0001", ["0 0 10 0 10 10 0 10 plane 0"])
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "Task1_plane.txt").write_text(
        "P0001 0.9 0 0 10 0 10 10 0 10\nP0002 0.8 0 0 10 0 10 10 0 10\n"
    )
    with pytest.raises(
        ValueError, match=r"Task1_plane\.txt: detections on images that are not evaluated: P0002"
    ):
        evaluate_dota_task1(tmp_path / "res", tmp_path / "labels", classes=["plane"])
    (tmp_path / "res" / "Task1_plane.txt").write_text("P0001 0.9 0 0 10 0 10 x 0 10\n")
    with pytest.raises(DotaFileError, match=r"Task1_plane\.txt:1: score and coordinates must be numbers"):
        evaluate_dota_task1(tmp_path / "res", tmp_path / "labels", classes=["plane"])
    (tmp_path / "res" / "Task1_plane.txt").write_text("P0001 0.9 0 0 10 0 10 10 0 10\n")
    (tmp_path / "res" / "Task1_jet.txt").write_text("")
    with pytest.raises(ValueError, match=r"Task1_jet\.txt: class 'jet' is not among the evaluated classes"):
        evaluate_dota_task1(tmp_path / "res", tmp_path / "labels", classes=["plane"])
    (tmp_path / "res" / "Task1_jet.txt").unlink()
    with pytest.raises(FileNotFoundError, match="no label file for image 'P0009'"):
        evaluate_dota_task1(
            tmp_path / "res", tmp_path / "labels", classes=["plane"], image_list=["P0001", "P0009"]
        )
    with pytest.raises(ValueError, match=r"det_results\[0\]\[0\] has a non-finite row"):
        eval_dota_task1(
            [[np.array([[0, 0, 1, 0, 1, 1, 0, 1, np.nan]])]],
            [{"polygons": np.zeros((0, 8)), "labels": np.zeros(0)}],
        )


def test_a_class_without_objects_is_nan_and_left_out(tmp_path):
    _write_labels(
        tmp_path / "labels", "P0001", ["0 0 10 0 10 10 0 10 plane 0", "20 20 30 20 30 30 20 30 ship 1"]
    )
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "Task1_plane.txt").write_text("P0001 0.9 0 0 10 0 10 10 0 10\n")
    (tmp_path / "res" / "Task1_ship.txt").write_text("")  # no detections: an empty file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate_dota_task1(tmp_path / "res", tmp_path / "labels", classes=["plane", "ship"])
    assert any("no non-difficult objects of ship" in str(w.message) for w in caught)
    assert (
        np.isnan(res["ap"]["ship"])
        and res["ap"]["plane"] == pytest.approx(1.0)
        and res["mAP"] == pytest.approx(1.0)
    )


# -- issue 15 item 24: the devkit's sort depends on numpy; sort="stable" does not -------------

_STABLE_CHILD = """
import json, sys
from rdet_eval import evaluate_dota_task1
base, classes = sys.argv[1], sys.argv[2].split(",")
kw = dict(classes=classes, image_list=base + "/imgnamefile.txt")
res = {s: evaluate_dota_task1(base + "/result_classname", base + "/row_DOTA_labels", sort=s, **kw)["mAP"]
       for s in ("devkit", "stable")}
print(json.dumps(res))
"""


def _real_example_classes(devkit_dir):
    return list(_reference(devkit_dir / "real_example", 0.5, 1)["classes"])


def test_stable_sort_breaks_ties_in_result_file_order(shared_dir, devkit_dir, tmp_path):
    """Scores of the real example have 3 decimals and tie often. sort='stable' takes tied
    detections in file order: the same as untying them by file order first (then every sort
    agrees). The devkit's numpy sort gives 0.714305 (numpy 1.24), 0.714880 (1.26), 0.714606
    (2.x with AVX2), see the README."""
    classes = _real_example_classes(devkit_dir)
    base = shared_dir / EXAMPLE
    kw = dict(classes=classes, image_list=base / "imgnamefile.txt")
    (tmp_path / "untied").mkdir()
    for path in (base / "result_classname").glob("Task1_*.txt"):
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        assert len({r[1] for r in rows}) < len(rows)  # there are ties
        # line k loses k * 1e-7: ties now fall in file order, distinct 3-decimal scores keep theirs
        text = "".join(f"{r[0]} {float(r[1]) - k * 1e-7!r} {' '.join(r[2:])}\n" for k, r in enumerate(rows))
        (tmp_path / "untied" / path.name).write_text(text)
    for thr, voc07 in SETTINGS:
        stable = evaluate_dota_task1(
            base / "result_classname", base / "row_DOTA_labels", thr, bool(voc07), sort="stable", **kw
        )
        untied = evaluate_dota_task1(tmp_path / "untied", base / "row_DOTA_labels", thr, bool(voc07), **kw)
        assert stable["ap"] == untied["ap"] and stable["tp"] == untied["tp"]
        ref = _reference(devkit_dir / "real_example", thr, voc07)
        assert abs(stable["mAP"] - ref["mAP"]) <= 2e-3  # within the golden README's tolerance
    mean_ap = evaluate_dota_task1(base / "result_classname", base / "row_DOTA_labels", sort="stable", **kw)[
        "mAP"
    ]
    assert mean_ap == pytest.approx(0.7145765908, abs=1e-9)


def test_stable_sort_does_not_depend_on_numpy_simd(shared_dir, devkit_dir):
    """numpy dispatches its default sort to SIMD code (x86-simd-sort) where the CPU has it:
    the devkit's order of tied scores changes with it. A second interpreter with that code
    switched off gives the same stable answer."""
    classes = _real_example_classes(devkit_dir)
    args = [str(shared_dir / EXAMPLE), ",".join(classes)]
    here = json.loads(
        subprocess.run(
            [sys.executable, "-c", _STABLE_CHILD, *args], capture_output=True, text=True, check=True
        ).stdout
    )
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": "X86_V3"}
    child = subprocess.run(
        [sys.executable, "-c", _STABLE_CHILD, *args], capture_output=True, text=True, env=env
    )
    if child.returncode != 0 or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"cannot switch numpy's SIMD sort off here: {child.stderr.strip()[-200:]}")
    there = json.loads(child.stdout)
    assert here["stable"] == there["stable"] == pytest.approx(0.7145765908, abs=1e-9)
    # the devkit's order (informative: equal where numpy has no SIMD sort for this CPU)
    assert {round(here["devkit"], 6), round(there["devkit"], 6)} <= {0.714305, 0.71488, 0.714606}


def test_sort_must_be_known():
    with pytest.raises(ValueError, match=r"sort must be one of \('devkit', 'stable'\), got 'quick'"):
        eval_dota_task1([[np.zeros((0, 9))]], [{"polygons": np.zeros((0, 8)), "labels": []}], sort="quick")
