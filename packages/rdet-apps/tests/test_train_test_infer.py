"""The commands end to end: `rdet train` learns the generated set, `rdet test` evaluates it,
writes results, pictures and a DOTA submission, `rdet infer` works on huge images by patches.

One training run (module fixture, about two minutes on 2 cores) serves every test here.
"""

from __future__ import annotations

import pickle
import re
import zipfile

import numpy as np
import pytest
import torch

from rbox_geometry import rbbox_overlaps
from rdet_apps.apis import inference_detector_by_patches, init_detector
from rdet_apps.apis.patches import patch_windows
from rdet_apps.cli import main
from rdet_apps.commands.demo import CONFIG


@pytest.fixture(scope="module")
def trained(demo_trained):
    return demo_trained


def test_train_learns_and_test_evaluates(trained, capsys):
    _root, work, options, _ = trained
    ckpt = work / "latest.pth"
    assert ckpt.is_file() and (work / CONFIG.name).is_file() and list(work.glob("*.log.json"))
    meta = torch.load(ckpt, weights_only=False)["meta"]
    assert list(meta["CLASSES"]) == ["plane", "ship", "storage-tank"] and meta["epoch"] == 25
    capsys.readouterr()
    assert main(["test", str(CONFIG), str(ckpt), "--eval", "mAP", "--cfg-options", *options]) == 0
    out = capsys.readouterr().out
    mean_ap = float(re.search(r"mAP: ([0-9.]+)", out).group(1))
    print(f"learning: mAP@0.5 {mean_ap:.3f} after 25 epochs of 64 generated images")
    assert mean_ap >= 0.6, out


def test_test_writes_results_pictures_and_a_submission(trained, tmp_path):
    _, work, options, val = trained
    ckpt = str(work / "latest.pth")
    out = tmp_path / "results.pkl"
    assert (
        main(
            [
                "test",
                str(CONFIG),
                ckpt,
                "--out",
                str(out),
                "--show-dir",
                str(tmp_path / "show"),
                "--cfg-options",
                *options,
            ]
        )
        == 0
    )
    results = pickle.loads(out.read_bytes())
    assert len(results) == val.num_images and all(len(r) == 3 and r[0].shape[1] == 6 for r in results)
    assert len(list((tmp_path / "show").glob("*.png"))) == val.num_images
    sub = tmp_path / "sub"
    args = [
        "test",
        str(CONFIG),
        ckpt,
        "--format-only",
        "--eval-options",
        f"submission_dir={sub}",
        "--cfg-options",
        *options,
    ]
    assert main(args) == 0
    files = sorted(p.name for p in sub.glob("Task1_*.txt"))
    assert files == ["Task1_plane.txt", "Task1_ship.txt", "Task1_storage-tank.txt"]
    # MMRotate's zip: <submission_dir>/<its name>.zip
    assert sorted(zipfile.ZipFile(sub / f"{sub.name}.zip").namelist()) == files
    line = (sub / "Task1_ship.txt").read_text().splitlines()[0].split()
    assert line[0].startswith("S01") and len(line) == 10
    with pytest.raises(SystemExit):
        main(["test", str(CONFIG)])
    assert main(["test", str(CONFIG), ckpt]) == 1  # nothing to do: one-line error


def test_huge_image_inference_by_patches_has_no_duplicates(trained, shared_dir, tmp_path, capsys):
    _, work, _options, _ = trained
    image = shared_dir / "data/real/CAPTAIN-WHU_DOTA_devkit/example/images/P0706.png"
    model = init_detector(CONFIG, work / "latest.pth")
    result = inference_detector_by_patches(model, str(image), sizes=[256], steps=[200], merge_iou_thr=0.1)
    assert len(result) == 3
    for dets in result:
        if len(dets) > 1:
            iou = rbbox_overlaps(dets[:, :5].astype(np.float64), dets[:, :5].astype(np.float64))
            np.fill_diagonal(iou, 0)
            assert iou.max() < 0.1 + 1e-6  # nothing left twice across patch borders
    assert (
        main(
            [
                "infer",
                str(CONFIG),
                str(work / "latest.pth"),
                str(image),
                "--out-dir",
                str(tmp_path),
                "--patch-size",
                "256",
                "--patch-gap",
                "56",
            ]
        )
        == 0
    )
    assert (tmp_path / "P0706.png").is_file() and (tmp_path / "P0706.txt").is_file()
    assert "by patches of 256" in capsys.readouterr().out


def test_patch_windows_cover_the_image():
    wins = patch_windows(1111, 1182, [256], [200])
    covered = np.zeros((1182, 1111), bool)
    for x0, y0, x1, y1 in wins:
        covered[y0:y1, x0:x1] = True
        assert x1 - x0 == 256 and y1 - y0 == 256
    assert covered.all()
    # an image smaller than the patch: one full-size window past it (padded, as MMRotate)
    assert patch_windows(100, 80, [256], [200]).tolist() == [[0, 0, 256, 256]]
    with pytest.raises(ValueError, match="must pair up"):
        patch_windows(10, 10, [8, 4], [4])


def test_browse_dataset_command(tmp_path, trained):
    _, _, options, _ = trained
    out = tmp_path / "browse"
    assert (
        main(
            [
                "browse-dataset",
                str(CONFIG),
                "--output-dir",
                str(out),
                "--max-images",
                "3",
                "--not-show",  # MMRotate's docs' flags: accepted (rdet never opens a window)
                "--show-interval",
                "0.5",
                "--cfg-options",
                *options,
            ]
        )
        == 0
    )
    assert len(list(out.glob("*.png"))) == 3


def test_split_command_on_a_real_dota_image(tmp_path, shared_dir):
    src = shared_dir / "data/real/CAPTAIN-WHU_DOTA_devkit/example"
    images = tmp_path / "images"
    images.mkdir()
    (images / "P1888.png").symlink_to(src / "images/P1888.png")
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "P1888.txt").write_bytes((src / "labelTxt/P1888.txt").read_bytes())
    out = tmp_path / "split"
    args = [
        "split",
        "--img-dirs",
        str(images),
        "--ann-dirs",
        str(labels),
        "--save-dir",
        str(out),
        "--sizes",
        "512",
        "--gaps",
        "100",
        "--nproc",
        "1",
        "--quiet",
    ]
    assert main(args) == 0
    patches = sorted(p.stem for p in (out / "images").iterdir())
    assert patches and all(re.fullmatch(r"P1888__512__\d+___\d+", p) for p in patches)
    assert sorted(p.stem for p in (out / "annfiles").glob("*.txt")) == patches


def test_distributed_test_gathers_the_same_results(trained, tmp_path):
    """`rdet test --launcher pytorch` on 2 processes (gloo): every rank predicts (and draws,
    --show-dir) its share, rank 0 gathers them in dataset order; the same results as one process."""
    import os
    import subprocess
    import sys

    _, work, options, _ = trained
    ckpt = str(work / "latest.pth")
    one, two = tmp_path / "one.pkl", tmp_path / "two.pkl"
    # both on the CPU: the two gloo processes cannot share one GPU (hidden from them)
    assert (
        main(["test", str(CONFIG), ckpt, "--out", str(one), "--device", "cpu", "--cfg-options", *options])
        == 0
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",  # a free port: a fixed one may be held by another job
        "-m",
        "rdet_apps",
    ]
    show = tmp_path / "show"
    cmd += ["test", str(CONFIG), ckpt, "--out", str(two), "--show-dir", str(show), "--launcher", "pytorch"]
    cmd += ["--cfg-options", *options]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    # the launcher's own traceback fills the tail: show where the ranks failed, first
    assert done.returncode == 0, done.stderr[:3000] + "\n...\n" + done.stderr[-1000:]
    a, b = pickle.loads(one.read_bytes()), pickle.loads(two.read_bytes())
    assert len(a) == len(b)
    assert len(list(show.glob("*.png"))) == len(b)  # each rank draws its share (was ignored)
    for ra, rb in zip(a, b):
        for ca, cb in zip(ra, rb):
            np.testing.assert_allclose(ca, cb, rtol=1e-5, atol=1e-4)
