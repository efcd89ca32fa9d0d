"""rdet-eval on the DOTA devkit benchmark set (500 images, 15,289 objects, 49,948 detections).

    python -m pytest packages/rdet-eval/benchmarks/bench_eval.py --benchmark-enable

On a shared machine add ``--benchmark-timer=time.process_time``: wall-clock times there
measure the neighbours (a process that gets 40% of a core looks 2.5 times slower).

Compares, in the same run: MMRotate's metric (``eval_rbbox_map``), the official metric on
arrays and from files, and the obvious alternative, the devkit's own algorithm written as it
is (a Python loop over detections, polygon IoU by shapely). The official devkit itself
(``polyiou``, a SWIG extension) takes 4.6 s on one core of this machine for this input
(../shared/golden/dota_devkit/README.md); the goals are 20 times faster than that from files
(0.23 s) and than the shapely loop for ``eval_rbbox_map``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rbox_geometry import obb2poly
from rdet_eval import eval_dota_task1, eval_rbbox_map, evaluate_dota_task1, write_submission
from rdet_eval.ap import voc_ap

SHARED = Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[3] / ".." / "shared"))
BENCH = SHARED / "golden/dota_devkit/bench/bench.npz"


def load_bench(path: Path = BENCH):
    """-> (image names, class names, per-class (k, 6) boxes, annotations, polygon detections
    (k, 9), polygon annotations with ``difficult``)."""
    z = np.load(path)
    images = sorted({k.split("/")[1] for k in z.files if k.startswith("dets/")})
    names = [str(x) for x in z["classnames"]]
    dets = [[z[f"dets/{im}/class{c}"] for c in range(len(names))] for im in images]
    anns = [
        {k: z[f"anns/{im}/{k}"] for k in ("bboxes", "labels", "bboxes_ignore", "labels_ignore")}
        for im in images
    ]
    pdets = [[np.hstack([obb2poly(d[:, :5].astype(np.float64)), d[:, 5:6]]) for d in per] for per in dets]
    panns = [
        {
            "polygons": np.vstack(
                [obb2poly(a["bboxes"].astype(np.float64)), obb2poly(a["bboxes_ignore"].astype(np.float64))]
            ),
            "labels": np.concatenate([a["labels"], a["labels_ignore"]]),
            "difficult": np.r_[np.zeros(len(a["labels"]), bool), np.ones(len(a["labels_ignore"]), bool)],
        }
        for a in anns
    ]
    return images, names, dets, anns, pdets, panns


def write_bench_files(root: Path, images, names, pdets, panns) -> tuple[Path, Path]:
    """The benchmark as DOTA files: ``root/res/Task1_<class>.txt`` (write_submission: 6
    decimals, scores in full) and ``root/labels/<image>.txt`` (``x1 ... y4 class difficult``)."""
    write_submission(root / "res", images, pdets, names, decimals=6)
    (root / "labels").mkdir()
    for image, ann in zip(images, panns):
        lines = [
            " ".join(f"{v:.6f}" for v in p) + f" {names[lab]} {int(d)}"
            for p, lab, d in zip(ann["polygons"], ann["labels"], ann["difficult"])
        ]
        (root / "labels" / f"{image}.txt").write_text("".join(f"{x}\n" for x in lines))
    return root / "res", root / "labels"


@pytest.fixture(scope="module")
def bench():
    if not BENCH.is_file():
        pytest.skip(f"{BENCH} is absent")
    return load_bench()


@pytest.fixture(scope="module")
def bench_files(bench, tmp_path_factory):
    images, names, _, _, pdets, panns = bench
    return write_bench_files(tmp_path_factory.mktemp("bench"), images, names, pdets, panns)


def test_eval_rbbox_map(benchmark, bench):
    _, _, dets, anns, _, _ = bench
    mean_ap, _ = benchmark(eval_rbbox_map, dets, anns, logger="silent")
    assert mean_ap > 0.6


def test_official_metric_arrays(benchmark, bench):
    _, names, _, _, pdets, panns = bench
    res = benchmark(eval_dota_task1, pdets, panns, 0.5, True, names)
    assert abs(res["mAP"] - 0.680478) < 1e-6


def test_official_metric_files(benchmark, bench, bench_files):
    names = bench[1]
    res = benchmark(evaluate_dota_task1, *bench_files, 0.5, True, names)
    assert abs(res["mAP"] - 0.680478) < 1e-5


def _devkit_loop(pdets, panns, names, thr=0.5):
    """The devkit's voc_eval as written (per-detection loop), with shapely for polyiou."""
    from shapely.geometry import Polygon

    aps = []
    for c, _ in enumerate(names):
        gts = [(a["polygons"][a["labels"] == c], a["difficult"][a["labels"] == c]) for a in panns]
        rows = [(i, d[8], d[:8]) for i, per in enumerate(pdets) for d in per[c]]
        order = np.argsort(-np.array([r[1] for r in rows]))
        taken = [np.zeros(len(g[0]), bool) for g in gts]
        tp, fp = np.zeros(len(rows)), np.zeros(len(rows))
        npos = sum(int((~g[1]).sum()) for g in gts)
        for k, idx in enumerate(order):
            i, _, poly = rows[idx]
            best, j = -np.inf, -1
            p = Polygon(poly.reshape(4, 2))
            for jj, q in enumerate(gts[i][0]):
                g = Polygon(q.reshape(4, 2))
                inter = p.intersection(g).area
                iou = inter / (p.area + g.area - inter)
                if iou > best:
                    best, j = iou, jj
            if best > thr:
                if not gts[i][1][j]:
                    if not taken[i][j]:
                        tp[k], taken[i][j] = 1, True
                    else:
                        fp[k] = 1
            else:
                fp[k] = 1
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        rec, prec = tp / npos, tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps.append(
            np.mean([np.max(prec[rec >= t]) if (rec >= t).any() else 0 for t in np.arange(0, 1.1, 0.1)])
        )
    return float(np.mean(aps))


def test_devkit_algorithm_as_a_python_loop(benchmark, bench):
    _, names, _, _, pdets, panns = bench
    m = benchmark.pedantic(_devkit_loop, args=(pdets, panns, names), rounds=1, iterations=1)
    assert abs(m - 0.680478) < 1e-4


def _devkit_parse_gt(filename):
    """DOTA_devkit's ``parse_gt`` (dota_evaluation_task1.py), as written."""
    objects = []
    with open(filename) as f:
        while True:
            line = f.readline()
            if line:
                splitlines = line.strip().split(" ")
                object_struct = {}
                if len(splitlines) < 9:
                    continue
                object_struct["name"] = splitlines[8]
                if len(splitlines) == 9:
                    object_struct["difficult"] = 0
                elif len(splitlines) == 10:
                    object_struct["difficult"] = int(splitlines[9])
                object_struct["bbox"] = [float(v) for v in splitlines[:8]]
                objects.append(object_struct)
            else:
                break
    return objects


def _shapely_iou_poly(a, b):
    """``polyiou.iou_poly`` (the devkit's SWIG extension), by shapely."""
    from shapely.geometry import Polygon

    p, q = Polygon(np.reshape(a, (4, 2))), Polygon(np.reshape(b, (4, 2)))
    inter = p.intersection(q).area
    return inter / (p.area + q.area - inter)


def _devkit_voc_eval(detpath, annopath, imagenames, classname, ovthresh=0.5, use_07_metric=True):
    """DOTA_devkit's ``voc_eval`` as written (files in, the label files parsed again for each
    class, a Python loop over detections, the horizontal-box prefilter, polygon IoU per
    candidate), with shapely in place of ``polyiou``."""
    recs = {name: _devkit_parse_gt(annopath.format(name)) for name in imagenames}
    class_recs = {}
    npos = 0
    for imagename in imagenames:
        R = [obj for obj in recs[imagename] if obj["name"] == classname]
        bbox = np.array([x["bbox"] for x in R])
        difficult = np.array([x["difficult"] for x in R]).astype(bool)
        npos = npos + sum(~difficult)
        class_recs[imagename] = {"bbox": bbox, "difficult": difficult, "det": [False] * len(R)}
    with open(detpath.format(classname)) as f:
        lines = f.readlines()
    splitlines = [x.strip().split(" ") for x in lines]
    image_ids = [x[0] for x in splitlines]
    confidence = np.array([float(x[1]) for x in splitlines])
    BB = np.array([[float(z) for z in x[2:]] for x in splitlines])
    sorted_ind = np.argsort(-confidence)
    BB = BB[sorted_ind, :]
    image_ids = [image_ids[x] for x in sorted_ind]
    nd = len(image_ids)
    tp, fp = np.zeros(nd), np.zeros(nd)
    for d in range(nd):
        R = class_recs[image_ids[d]]
        bb = BB[d, :].astype(float)
        ovmax = -np.inf
        BBGT = R["bbox"].astype(float)
        if BBGT.size > 0:
            BBGT_xmin, BBGT_ymin = np.min(BBGT[:, 0::2], axis=1), np.min(BBGT[:, 1::2], axis=1)
            BBGT_xmax, BBGT_ymax = np.max(BBGT[:, 0::2], axis=1), np.max(BBGT[:, 1::2], axis=1)
            bb_xmin, bb_ymin = np.min(bb[0::2]), np.min(bb[1::2])
            bb_xmax, bb_ymax = np.max(bb[0::2]), np.max(bb[1::2])
            ixmin, iymin = np.maximum(BBGT_xmin, bb_xmin), np.maximum(BBGT_ymin, bb_ymin)
            ixmax, iymax = np.minimum(BBGT_xmax, bb_xmax), np.minimum(BBGT_ymax, bb_ymax)
            iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
            ih = np.maximum(iymax - iymin + 1.0, 0.0)
            inters = iw * ih
            uni = (
                (bb_xmax - bb_xmin + 1.0) * (bb_ymax - bb_ymin + 1.0)
                + (BBGT_xmax - BBGT_xmin + 1.0) * (BBGT_ymax - BBGT_ymin + 1.0)
                - inters
            )
            overlaps = inters / uni
            BBGT_keep = BBGT[overlaps > 0, :]
            BBGT_keep_index = np.where(overlaps > 0)[0]
            if len(BBGT_keep) > 0:
                overlaps = [_shapely_iou_poly(g, bb) for g in BBGT_keep]
                ovmax = np.max(overlaps)
                jmax = BBGT_keep_index[np.argmax(overlaps)]
        if ovmax > ovthresh:
            if not R["difficult"][jmax]:
                if not R["det"][jmax]:
                    tp[d] = 1.0
                    R["det"][jmax] = 1
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc_ap(rec, prec, use_07_metric)


def devkit_task1(det_dir, ann_dir, classnames, ovthresh=0.5, use_07_metric=True) -> float:
    """DOTA_devkit's Task1 evaluation (its ``main``: ``voc_eval`` per class) from files, with
    shapely for ``polyiou``: the devkit's algorithm, to time beside rdet's in the same run."""
    imagenames = sorted(p.stem for p in Path(ann_dir).glob("*.txt"))
    detpath = str(Path(det_dir) / "Task1_{:s}.txt")
    annopath = str(Path(ann_dir) / "{:s}.txt")
    aps = [_devkit_voc_eval(detpath, annopath, imagenames, c, ovthresh, use_07_metric) for c in classnames]
    return float(np.mean(aps))


def test_devkit_task1_from_files(benchmark, bench, bench_files):
    """The reference of the from-files goal, measured here (one round: seconds)."""
    m = benchmark.pedantic(devkit_task1, args=(*bench_files, bench[1]), rounds=1, iterations=1)
    assert abs(m - 0.680478) < 1e-6
