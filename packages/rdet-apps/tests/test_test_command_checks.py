"""`rdet test` validates its outputs and metrics before the inference pass (issue 15, item 12).
MMRotate's tools/test.py finds an unwritable --out or an unknown metric only after inferring
the whole test set. The checkpoint here does not exist: reaching the model would fail otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rdet_apps.cli import main
from rdet_apps.commands.demo import CONFIG
from rdet_apps.demo_data import make_demo_dota


@pytest.fixture(scope="module")
def options(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("checks")
    val = make_demo_dota(root / "val", num_images=2, size=128, seed=1)
    return ["--cfg-options", f"data.test.ann_file={val.labels}/", f"data.test.img_prefix={val.images}/"]


def _fails(args: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(["test", str(CONFIG), "/nowhere/absent.pth", *args]) == 1
    err = capsys.readouterr().err
    assert "absent.pth" not in err, err  # failed before loading the model
    return err


def test_misplaced_or_misnamed_outputs_fail_first(options: list[str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in _fails(["--out", str(tmp_path / "file" / "r.pkl"), *options], capsys)
    assert "must end in .pkl" in _fails(["--out", str(tmp_path / "r.txt"), *options], capsys)
    assert "is not a folder" in _fails(["--show-dir", str(tmp_path / "file" / "pics"), *options], capsys)
    sub = ["--format-only", "--eval-options", f"submission_dir={tmp_path / 'file' / 'sub'}", *options]
    assert "is not a folder" in _fails(sub, capsys)


def test_an_unwritable_out_folder_fails_first(options: list[str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("this user (root) may write anywhere: a read-only folder cannot be made")
        assert "cannot write in" in _fails(["--out", str(locked / "r.pkl"), *options], capsys)
    finally:
        locked.chmod(0o700)


def test_unknown_metric_and_eval_option_fail_first(options: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    err = _fails(["--eval", "bbox", *options], capsys)
    assert "--eval bbox" in err and "computes mAP" in err
    err = _fails(["--eval", "mAP", "--eval-options", "iou_thrs=0.5", *options], capsys)
    assert "--eval-options iou_thrs (did you mean iou_thr?)" in err
    err = _fails(["--format-only", "--eval-options", "submision_dir=x", *options], capsys)
    assert "submision_dir (did you mean submission_dir?)" in err
