"""`rdet infer` / `rdet test` inputs and outputs (session 8): an output that would overwrite an
input is refused before inference; score and IoU thresholds are checked; a truncated JPEG is
refused as `inference_detector` refuses it; a list `img_scale` from --cfg-options; a suffix
OpenCV cannot write. The demo detector, untrained, on 128-pixel images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rdet_apps.apis import init_detector, predict_by_patches
from rdet_apps.cli import main
from rdet_apps.commands.demo import CONFIG
from rdet_apps.demo_data import make_demo_dota


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The demo config, an untrained checkpoint, a 128 x 128 JPEG, its truncated copy."""
    import torch

    root = tmp_path_factory.mktemp("infer_inputs")
    model = init_detector(CONFIG)
    torch.save({"meta": {"CLASSES": model.CLASSES}, "state_dict": model.state_dict()}, root / "w.pth")
    img = np.random.default_rng(0).integers(0, 255, (128, 128, 3), np.uint8)
    cv2.imwrite(str(root / "a.jpg"), img)
    data = (root / "a.jpg").read_bytes()
    (root / "trunc.jpg").write_bytes(data[: len(data) // 2])
    return {"root": root, "config": str(CONFIG), "checkpoint": str(root / "w.pth"), "model": model}


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


def _infer(demo: dict, *args: str) -> list[str]:
    return ["infer", demo["config"], demo["checkpoint"], *args, "--device", "cpu"]


# 1. data loss


def test_infer_refuses_an_out_dir_that_overwrites_the_input(demo: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    image = _copy(demo["root"] / "a.jpg", tmp_path / "s" / "a.jpg")
    before = image.read_bytes()
    assert (
        main(["infer", demo["config"], "/nowhere/absent.pth", str(image), "--out-dir", str(image.parent)])
        == 1
    )
    err = capsys.readouterr().err
    assert f"--out-dir {image.parent}: {image} would overwrite the input {image}" in err, err
    assert "absent.pth" not in err  # before the model
    assert image.read_bytes() == before and sorted(p.name for p in image.parent.iterdir()) == ["a.jpg"]
    # a folder given as input, the out-dir spelt otherwise (a link to it)
    (tmp_path / "link").symlink_to(image.parent)
    assert main(_infer(demo, str(image.parent), "--out-dir", str(tmp_path / "link"))) == 1
    assert "would overwrite the input" in capsys.readouterr().err and image.read_bytes() == before
    # the same file under another name (a hard link in the out-dir)
    (tmp_path / "hard").mkdir()
    (tmp_path / "hard" / "a.jpg").hardlink_to(image)
    assert main(_infer(demo, str(image), "--out-dir", str(tmp_path / "hard"))) == 1
    assert "would overwrite the input" in capsys.readouterr().err and image.read_bytes() == before
    # a txt input the detections of a same-stem image would overwrite
    notes = tmp_path / "s" / "a.txt"
    notes.write_text("mine\n")
    assert main(_infer(demo, str(notes), "--out-dir", str(tmp_path / "s"))) == 1
    assert "a.txt would overwrite the input" in capsys.readouterr().err and notes.read_text() == "mine\n"
    # valid: another folder
    out = tmp_path / "out"
    assert main(_infer(demo, str(image), "--out-dir", str(out), "--score-thr", "0")) == 0
    assert (out / "a.jpg").is_file() and (out / "a.txt").is_file() and image.read_bytes() == before


@pytest.fixture()
def test_set(tmp_path: Path) -> tuple[Path, list[str]]:
    val = make_demo_dota(tmp_path / "val", num_images=2, size=128, seed=1)
    return Path(val.images), [
        "--cfg-options",
        f"data.test.ann_file={val.labels}/",
        f"data.test.img_prefix={val.images}/",
        "data.workers_per_gpu=0",
    ]


def test_test_refuses_a_show_dir_that_overwrites_the_dataset(
    demo: dict, test_set, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    images, options = test_set
    before = {p.name: p.read_bytes() for p in images.iterdir()}
    args = ["test", demo["config"], "/nowhere/absent.pth", *options, "--show-dir"]
    assert main([*args, str(images)]) == 1
    err = capsys.readouterr().err
    assert f"--show-dir {images}: is the dataset's image folder" in err and "absent.pth" not in err, err
    link = tmp_path / "pics"
    link.symlink_to(images)
    assert main([*args, str(link)]) == 1
    assert "is the dataset's image folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in images.iterdir()} == before
    # valid: another folder gets the pictures
    shown = tmp_path / "shown"
    ok = ["test", demo["config"], demo["checkpoint"], *options, "--device", "cpu", "--show-dir", str(shown)]
    assert main(ok) == 0
    assert sorted(p.name for p in shown.iterdir()) == sorted(before)


def test_check_show_dir_catches_an_image_under_another_prefix(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from rdet_apps.apis.test import check_show_dir

    dataset = SimpleNamespace(img_prefix=str(tmp_path / "imgs"), data_infos=[{"filename": "../pics/x.png"}])
    with pytest.raises(ValueError, match=r"show_dir .*pics: the picture .*x.png would overwrite"):
        check_show_dir(dataset, tmp_path / "pics")
    check_show_dir(dataset, tmp_path / "other")  # valid


# 2. thresholds


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--score-thr", "nan", r"--score-thr nan: must be in \[0, 1\]"),
        ("--score-thr", "7", r"--score-thr 7.0: must be in \[0, 1\]"),
        ("--score-thr", "-5", r"--score-thr -5.0: must be in \[0, 1\]"),
        ("--merge-iou", "5", r"--merge-iou 5.0: an IoU threshold must be in \(0, 1\]"),
        ("--merge-iou", "0", r"--merge-iou 0.0: an IoU threshold must be in \(0, 1\]"),
        ("--merge-iou", "nan", r"--merge-iou nan: an IoU threshold must be in \(0, 1\]"),
    ],
)
def test_infer_thresholds(demo: dict, tmp_path: Path, capsys, option: str, value: str, message: str) -> None:  # type: ignore[no-untyped-def]
    import re

    args = ["infer", demo["config"], "/nowhere/absent.pth", str(demo["root"] / "a.jpg")]
    assert main([*args, "--out-dir", str(tmp_path / "o"), option, value]) == 1
    err = capsys.readouterr().err
    assert re.search(message, err) and "absent.pth" not in err, err


@pytest.mark.parametrize("value", ["5", "nan", "-0.1"])
def test_test_show_score_thr(demo: dict, test_set, tmp_path: Path, capsys, value: str) -> None:  # type: ignore[no-untyped-def]
    _, options = test_set
    args = ["test", demo["config"], "/nowhere/absent.pth", *options, "--show-dir", str(tmp_path / "p")]
    assert main([*args, "--show-score-thr", value]) == 1
    err = capsys.readouterr().err
    assert f"--show-score-thr {float(value)}: must be in [0, 1]" in err and "absent.pth" not in err, err


def test_predict_by_patches_checks_merge_iou_and_batch_size(demo: dict) -> None:
    img = np.zeros((160, 160, 3), np.uint8)
    model = demo["model"]
    for kwargs, message in [
        ({"merge_iou_thr": -1}, r"merge_iou_thr = -1: an IoU threshold must be in \(0, 1\]"),
        ({"merge_iou_thr": 5.0}, r"merge_iou_thr = 5.0: an IoU"),
        ({"merge_iou_thr": float("nan")}, r"merge_iou_thr = nan: an IoU"),
        ({"batch_size": -1}, r"batch_size = -1: must be a whole number of patches, at least 1"),
        ({"batch_size": 0}, r"batch_size = 0: must be a whole number"),
        ({"batch_size": 1.5}, r"batch_size = 1.5: must be a whole number"),
    ]:
        with pytest.raises(ValueError, match=message):
            predict_by_patches(model, "/nowhere/absent.png", [128], [96], **kwargs)  # before reading
    dets = predict_by_patches(model, img, [128], [96], merge_iou_thr=1.0, batch_size=1)  # valid
    assert dets.boxes.shape[1:] == (5,)
    for ratios, message in [
        ([], r"ratios is empty"),
        ([float("inf")], r"ratios\[0\] = inf: a resize ratio must be a finite number > 0"),
        ([1.0, "2"], r"ratios\[1\] = '2': a resize ratio"),
        ([1e-4], r"ratios\[0\] = 0.0001: resizes the 160x160 image to 0x0 pixels"),
    ]:
        with pytest.raises(ValueError, match=message):
            predict_by_patches(model, img, [128], [96], ratios=ratios)


# 3. truncated JPEG


def test_a_truncated_jpeg_is_refused(demo: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    trunc = demo["root"] / "trunc.jpg"
    assert cv2.imread(str(trunc)) is not None  # OpenCV's imread grey-fills it
    out = tmp_path / "o"
    assert main(_infer(demo, str(trunc), str(demo["root"] / "a.jpg"), "--out-dir", str(out))) == 1
    err = capsys.readouterr().err
    assert f"cannot decode image file: {trunc}" in err and "1 of 2 images could not be read" in err, err
    assert not (out / "trunc.jpg").exists() and (out / "a.jpg").is_file()
    with pytest.raises(FileNotFoundError, match=r"cannot decode image file: .*trunc\.jpg"):
        predict_by_patches(demo["model"], trunc, [128], [96])


# 4. img_scale from --cfg-options


def test_a_list_img_scale_from_cfg_options(demo: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from rdet_apps.commands.infer import _test_scale

    def cfg(scale: object) -> SimpleNamespace:
        steps = [{"type": "LoadImageFromFile"}, {"type": "MultiScaleFlipAug", "img_scale": scale}]
        return SimpleNamespace(data=SimpleNamespace(test=SimpleNamespace(pipeline=steps)))

    assert _test_scale(cfg((256, 200))) == 256
    assert _test_scale(cfg([320, 300])) == 320
    assert _test_scale(cfg([[96, 96], [512, 512]])) == 96  # several: the first
    assert _test_scale(cfg([(640, 480)])) == 640
    with pytest.raises(ValueError, match=r"data.test.pipeline.1.img_scale = 'big': must be a scale"):
        _test_scale(cfg("big"))
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((200, 150, 3), np.uint8))
    scale = ["--cfg-options", "data.test.pipeline.1.img_scale=[96,96]"]
    assert main(_infer(demo, str(big), "--out-dir", str(tmp_path / "o"), "--patch-gap", "16", *scale)) == 0
    assert "(by patches of 96)" in capsys.readouterr().out


# 5. a suffix OpenCV cannot write


def test_a_suffix_opencv_cannot_write_gets_a_png_picture(demo: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    image = _copy(demo["root"] / "a.jpg", tmp_path / "ok.dat")
    out = tmp_path / "o"
    assert main(_infer(demo, str(image), "--out-dir", str(out), "--score-thr", "0")) == 0
    printed = capsys.readouterr().out
    assert f"{image}: OpenCV cannot write a .dat picture; drawn into {out / 'ok.png'}" in printed
    assert cv2.imread(str(out / "ok.png")).shape == (128, 128, 3) and (out / "ok.txt").is_file()


# class names with spaces in DOTA txt files


def test_txt_writes_class_names_with_spaces_hyphenated(demo: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Before: DOTA8's 'small vehicle' was written as it is, an 11-field line that DOTA parsers
    (split on whitespace) read as class 'small' with difficulty 'vehicle'."""
    import torch

    from rdet_apps.commands.infer import txt_class_names

    names = ["plane", "small vehicle", "storage\ttank"]
    assert txt_class_names(names) == (
        ["plane", "small-vehicle", "storage-tank"],
        {"small vehicle": "small-vehicle", "storage\ttank": "storage-tank"},
    )
    with pytest.raises(ValueError, match=r"classes 'small-vehicle' and 'small vehicle' would both be written "
                                         r"as 'small-vehicle' .*use --out-format json"):  # fmt: skip
        txt_class_names(["small-vehicle", "small vehicle"])
    with pytest.raises(ValueError, match=r"class 1 has an empty name ' '"):
        txt_class_names(["plane", " "])
    ckpt = tmp_path / "spaces.pth"
    torch.save({"meta": {"CLASSES": tuple(names)}, "state_dict": demo["model"].state_dict()}, ckpt)
    out = tmp_path / "out"
    argv = ["infer", demo["config"], str(ckpt), str(demo["root"] / "a.jpg"), "--out-dir", str(out)]
    assert main([*argv, "--score-thr", "0", "--device", "cpu"]) == 0
    stdout = capsys.readouterr().out
    assert "class names with whitespace are written with '-' in the txt files: 'small vehicle' as " in stdout
    lines = (out / "a.txt").read_text().splitlines()
    assert lines and all(len(line.split()) == 10 for line in lines)
    assert {line.split()[8] for line in lines} <= {"plane", "small-vehicle", "storage-tank"}


def test_infer_refuses_a_16_bit_image_unless_asked_to_scale_it(demo: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A 12-bit SAR image used to come out 0..15 (OpenCV's / MMCV's silent division by 256)."""
    sar = tmp_path / "sar.png"
    cv2.imwrite(str(sar), np.random.default_rng(1).integers(0, 4096, (96, 96), np.uint16))
    assert main(_infer(demo, str(sar), "--out-dir", str(tmp_path / "a"))) == 1
    err = capsys.readouterr().err
    assert "sar.png" in err and "uint16" in err, err
    out = tmp_path / "b"
    assert main(_infer(demo, str(sar), "--out-dir", str(out), "--high-bit-depth", "scale")) == 0
    assert (out / "sar.txt").exists() or any(out.iterdir())
