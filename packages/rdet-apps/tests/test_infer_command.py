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
