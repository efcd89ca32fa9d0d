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


def test_unknown_metric_and_eval_option_fail_first(
    options: list[str], tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # --format-only makes ./submission (the default submission_dir) first
    err = _fails(["--eval", "bbox", *options], capsys)
    assert "--eval bbox" in err and "computes mAP" in err
    err = _fails(["--eval", "mAP", "--eval-options", "iou_thrs=0.5", *options], capsys)
    assert "--eval-options iou_thrs (did you mean iou_thr?)" in err
    err = _fails(["--format-only", "--eval-options", "submision_dir=x", *options], capsys)
    assert "submision_dir (did you mean submission_dir?)" in err
    # values too: 'Flase' stays a (truthy) string; before, it failed only after inference
    err = _fails(["--eval", "mAP", "--eval-options", "use_07_metric=Flase", *options], capsys)
    assert "--eval-options.use_07_metric must be True or False, got 'Flase'" in err
    err = _fails(["--eval", "mAP", "--eval-options", "iou_thr=50", *options], capsys)
    assert "--eval-options.iou_thr must be a number in (0, 1]" in err


def test_out_in_a_folder_not_yet_made_gets_its_results(options: list[str], tmp_path: Path) -> None:
    """The folder of --out is made before the inference pass; it was not, and the results were
    lost with a FileNotFoundError after it."""
    import pickle

    import torch

    from rdet_apps.apis import init_detector

    model = init_detector(CONFIG)  # untrained: the detections do not matter, the file does
    torch.save({"state_dict": model.state_dict()}, tmp_path / "w.pth")
    out = tmp_path / "new" / "deeper" / "r.pkl"
    pics = tmp_path / "pics" / "here"
    args = ["test", str(CONFIG), str(tmp_path / "w.pth"), "--out", str(out), "--show-dir", str(pics)]
    assert main([*args, "--device", "cpu", *options]) == 0
    results = pickle.loads(out.read_bytes())
    assert len(results) == 2 and pics.is_dir()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc: no file can be made there")
def test_an_out_no_one_can_write_fails_first_even_for_root(options: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    err = _fails(["--out", "/proc/x/r.pkl", *options], capsys)
    assert "--out /proc/x/r.pkl: cannot write in /proc/x" in err, err
    err = _fails(["--show-dir", "/proc/pics", *options], capsys)
    assert "--show-dir /proc/pics: cannot write in /proc/pics" in err, err


def test_a_device_this_machine_lacks_fails_first_naming_the_option(options: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    import torch

    err = _fails(["--eval", "mAP", "--device", "cuda:99", *options], capsys)
    assert "--device cuda:99: " in err and "AssertionError" not in err, err
    if torch.cuda.is_available():
        assert "no such CUDA device; available here: cpu, cuda:0" in err, err
    else:
        assert "CUDA is not available" in err and "use --device cpu" in err, err
    err = _fails(["--eval", "mAP", "--device", "tpu", *options], capsys)
    assert "--device tpu: not a torch device" in err and "available here: cpu" in err, err


def test_a_checkpoint_of_other_classes_is_not_scored_against_the_test_set(
    options: list[str], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """MMRotate scores the detections' label k as the dataset's class k whatever classes the
    checkpoint was trained for: a checkpoint of ('ship', 'plane', ...) swaps two classes silently."""
    import torch

    from rdet_apps.apis import init_detector

    model = init_detector(CONFIG)
    swapped = ["ship", "plane", "storage-tank"]
    torch.save({"state_dict": model.state_dict(), "meta": {"CLASSES": swapped}}, tmp_path / "s.pth")
    args = ["test", str(CONFIG), str(tmp_path / "s.pth"), "--eval", "mAP", "--device", "cpu", *options]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "its classes ['ship', 'plane', 'storage-tank'] are not the test set's" in err, err
    assert "['plane', 'ship', 'storage-tank'] (in another order)" in err, err
    # the same classes in the test set's order pass (and a checkpoint without names uses the set's)
    torch.save({"state_dict": model.state_dict(), "meta": {"CLASSES": sorted(swapped)}}, tmp_path / "ok.pth")
    ok = ["test", str(CONFIG), str(tmp_path / "ok.pth"), "--eval", "mAP", "--device", "cpu", *options]
    assert main(ok) == 0, capsys.readouterr().err


def test_the_configs_evaluation_arguments_reach_eval(
    options: list[str], tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """MMRotate's tools/test.py evaluates with the config's ``evaluation`` arguments (iou_thr,
    scale_ranges ...), ``--eval-options`` over them; rdet test used to leave them out: an
    ``evaluation=dict(iou_thr=0.75)`` config scored at 0.5."""
    err = _fails(
        ["--eval", "mAP", *options, "evaluation.iou_thr=50"], capsys
    )  # options ends in --cfg-options
    assert "evaluation.iou_thr must be a number in (0, 1]" in err, err
    err = _fails(["--eval", "mAP", *options, "evaluation.iou_thrs=0.5"], capsys)
    assert "evaluation.iou_thrs: not an argument of DOTADataset.evaluate" in err, err

    import torch

    import rdet_apps.apis.test as api_test
    from rdet_apps.apis import init_detector

    torch.save({"state_dict": init_detector(CONFIG).state_dict()}, tmp_path / "w.pth")
    seen: list[dict] = []
    monkeypatch.setattr(api_test, "evaluate_results", lambda ds, res, cfg: seen.append(cfg) or {"mAP": 0.0})
    run = ["test", str(CONFIG), str(tmp_path / "w.pth"), "--eval", "mAP", "--device", "cpu"]
    cfg = ["evaluation.iou_thr=0.75", "evaluation.save_best=mAP", "evaluation.nproc=1"]
    assert main([*run, *options, *cfg]) == 0
    assert seen[-1] == {"iou_thr": 0.75, "nproc": 1, "metric": "mAP"}  # the hook's save_best left out
    assert main([*run, "--eval-options", "iou_thr=0.6", *options, *cfg]) == 0
    assert seen[-1]["iou_thr"] == 0.6
