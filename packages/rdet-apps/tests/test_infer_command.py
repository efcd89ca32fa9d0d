"""`rdet infer` on folders (issue 15, items 15 and 19): a corrupt image is skipped, counted and
makes the exit status 1; outputs of `a.tif` and `a.png`, or of one name in two folders, stay
apart; json output; mixed lists in `inference_detector`; `rdet --version`, `rdet split --help`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from rdet_apps.apis import inference_detector, init_detector
from rdet_apps.cli import main
from rdet_apps.commands.infer import output_names


@pytest.fixture(scope="module")
def case(golden_case) -> dict:  # type: ignore[no-untyped-def]
    return golden_case("retinanet_obb_le90")


def _options(case: dict) -> list[str]:
    def text(v: object) -> str:
        return "None" if v is None else repr(v).replace(" ", "")

    return ["--cfg-options", *(f"{k}={text(v)}" for k, v in case["overrides"].items())]


def test_a_folder_with_a_corrupt_image_and_clashing_names(case: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    img = cv2.imread(str(case["image"]))
    cv2.imwrite(str(a / "x.png"), img)
    cv2.imwrite(str(a / "x.tif"), img)
    cv2.imwrite(str(b / "x.png"), img)
    (a / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "out"
    args = ["infer", str(case["config"]), str(case["checkpoint"]), str(a), str(b), "--out-dir", str(out)]
    assert (
        main([*args, "--device", "cpu", "--score-thr", "0.01", "--out-format", "json", *_options(case)]) == 1
    )
    captured = capsys.readouterr()
    assert "1 of 4 images could not be read" in captured.err and "broken.png" in captured.err
    outputs = sorted(p.name for p in out.glob("*.json"))
    assert outputs == ["a_x.png.json", "b_x.png.json", "x.tif.json"], outputs
    record = json.loads((out / "x.tif.json").read_text())
    assert record["width"] == img.shape[1] and len(record["boxes_cxcywha"]) == len(record["classes"]) > 0
    assert all(len(p) == 8 for p in record["polygons"]) and min(record["scores"]) >= 0.01


def test_output_names_are_distinct() -> None:
    paths = [Path("d1/a.png"), Path("d1/a.tif"), Path("d2/a.png"), Path("d2/b.png"), Path("d2/b.png")]
    names = output_names(paths)
    assert len(set(names.values())) == len(set(paths)) and names[Path("d2/b.png")].startswith("b")
    assert output_names([Path("x/c.png")]) == {Path("x/c.png"): "c"}


def test_inference_detector_takes_arrays_and_paths_mixed(case: dict) -> None:
    model = init_detector(case["config"], case["checkpoint"], cfg_options=case["overrides"])
    path = str(case["image"])
    from_array, from_path = inference_detector(model, [cv2.imread(path), path])
    assert all((x == y).all() for x, y in zip(from_array, from_path))


def test_version_and_split_help(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and "rdet-models" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["split", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "--img-dirs" in out and "--gaps" in out


def test_patch_windows_cover_the_image_and_bad_steps_name_the_argument() -> None:
    import numpy as np

    from rdet_apps.apis.patches import patch_windows

    for width, height, size, step in [(256, 256, 64, 64), (300, 170, 64, 50), (1000, 77, 128, 1)]:
        covered = np.zeros((height, width), bool)
        for x0, y0, x1, y1 in patch_windows(width, height, [size], [step]):
            covered[y0:y1, x0:x1] = True
        assert covered.all(), (width, height, size, step)
    with pytest.raises(ValueError, match=r"steps\[0\] = 74 is larger than sizes\[0\] = 64: strips of 10"):
        patch_windows(256, 256, [64], [74])
    with pytest.raises(ValueError, match=r"steps\[1\] = 0: a step \(stride\) must be at least 1"):
        patch_windows(256, 256, [64, 32], [48, 0])
    with pytest.raises(ValueError, match=r"sizes\[0\] = -4"):
        patch_windows(256, 256, [-4], [1])
    with pytest.raises(ValueError, match="must pair up"):
        patch_windows(256, 256, [64], [])


def test_patch_apis_refuse_bad_steps_before_reading_the_image() -> None:
    import torch

    from rdet_apps.apis import inference_detector_by_patches, predict_by_patches

    model = torch.nn.Identity()  # never reached
    for api in (predict_by_patches, inference_detector_by_patches):
        with pytest.raises(ValueError, match=r"steps\[0\] = 1100 is larger than sizes\[0\] = 1024"):
            api(model, "/nowhere/absent.png", sizes=[1024], steps=[1100])
        with pytest.raises(ValueError, match=r"ratios\[0\] = 0"):
            api(model, "/nowhere/absent.png", sizes=[1024], steps=[824], ratios=[0])


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """(config, checkpoint, image) of the demo detector, untrained, and one 128 x 128 image."""
    import numpy as np
    import torch

    from rdet_apps.commands.demo import CONFIG

    root = tmp_path_factory.mktemp("demo_model")
    torch.save({"state_dict": init_detector(CONFIG).state_dict()}, root / "w.pth")
    cv2.imwrite(str(root / "a.png"), np.full((128, 128, 3), 90, np.uint8))
    return str(CONFIG), str(root / "w.pth"), str(root / "a.png")


def test_patch_gap_and_device_are_checked_before_the_model(demo_model, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config, _, image = demo_model

    def fails(*options: str) -> str:
        args = ["infer", config, "/nowhere/absent.pth", image, "--out-dir", str(tmp_path / "o"), *options]
        assert main(list(args)) == 1
        err = capsys.readouterr().err
        assert "absent.pth" not in err, err  # failed before loading the model
        return err

    assert "--patch-gap -10: the overlap of neighbouring patches cannot be negative" in fails(
        "--patch-size", "64", "--patch-gap", "-10"
    )
    assert "--patch-gap 64: must be smaller than the patch size, --patch-size 64" in fails(
        "--patch-size", "64", "--patch-gap", "64"
    )
    assert "--patch-size 0: must be a positive" in fails("--patch-size", "0")
    err = fails("--device", "tpu")
    assert "--device tpu: not a torch device" in err and "available here: cpu" in err


def test_patch_gap_against_the_test_scale_and_a_zero_gap(demo_model, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config, checkpoint, image = demo_model
    out = tmp_path / "o"
    args = ["infer", config, checkpoint, image, "--out-dir", str(out), "--device", "cpu"]
    assert main([*args, "--patch-gap", "100000"]) == 1
    err = capsys.readouterr().err
    assert "--patch-gap 100000: must be smaller than the patch size, the test scale" in err, err
    assert not list(out.iterdir())  # nothing half done
    assert main([*args, "--patch-size", "64", "--patch-gap", "0", "--score-thr", "0"]) == 0
    assert "(by patches of 64)" in capsys.readouterr().out and (out / "a.txt").is_file()
    # MMRotate's huge_image_demo's multi-scale: several patch sizes and image ratios, the
    # options before or after the images
    multi = ["--patch-size", "64", "--patch-size", "96", "--patch-gap", "16", "--img-ratio", "0.5"]
    assert (
        main([*args[:3], *multi, *args[3:], "--img-ratio", "1.0", "--score-thr", "0", "--palette", "random"])
        == 0
    )
    assert "(by patches of 64, 96; image ratios 0.5, 1.0)" in capsys.readouterr().out
    assert main([*args, "--img-ratio", "1.0", "--img-ratio", "-2"]) == 1
    assert "--img-ratio -2.0: must be a positive scale factor" in capsys.readouterr().err
