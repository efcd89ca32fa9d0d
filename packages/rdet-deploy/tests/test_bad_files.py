"""Bad files (a truncated JPEG, a 16-bit image, a non-ONNX model) and a mistyped execution
provider are errors naming them, never a silent half-grey image, a /256 image or a CPU fallback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from rdet_deploy import OnnxDetector
from rdet_deploy.preprocess import load_image


def _jpeg(path: Path) -> bytes:
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8), (5, 5), 0)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_jpeg_is_refused_naming_the_file(tmp_path: Path, keep: float) -> None:
    data = _jpeg(tmp_path)
    good, cut = tmp_path / "good.jpg", tmp_path / "cut.jpg"
    good.write_bytes(data)
    cut.write_bytes(data[: int(len(data) * keep)])
    assert load_image(good).shape == (96, 128, 3)
    assert cv2.imread(str(cut)) is not None  # what load_image used: the missing part grey
    with pytest.raises(ValueError, match=r"cut\.jpg'.*(truncated|cannot decode)"):
        load_image(cut)


def test_truncation_rule_without_opencv() -> None:
    # whatever this OpenCV's imdecode does with a cut file, the marker rule catches it
    from rdet_deploy.preprocess import _truncated_jpeg

    data = _jpeg(Path())
    as_buf = lambda b: np.frombuffer(b, np.uint8)  # noqa: E731
    assert not _truncated_jpeg(as_buf(data))
    assert not _truncated_jpeg(as_buf(data + b"appended bytes"))  # data after the image is allowed
    assert _truncated_jpeg(as_buf(data[: len(data) // 2]))
    assert _truncated_jpeg(as_buf(data[:-2]))  # only the end-of-image marker missing
    assert not _truncated_jpeg(as_buf(b"\x89PNG\r\n\x1a\n"))  # not a JPEG: OpenCV decides


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    _ok, buf = cv2.imencode(".png", np.full((64, 64, 3), 7, np.uint8))
    cut = tmp_path / "cut.png"
    cut.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(ValueError, match=r"cut\.png'.*cannot decode"):
        load_image(cut)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_image_is_refused_naming_file_and_depth(tmp_path: Path, ext: str) -> None:
    img = np.full((32, 32, 3), 4000, np.uint16)  # 12-bit data: OpenCV's 8-bit read gives 15
    path = tmp_path / f"sar16{ext}"
    assert cv2.imwrite(str(path), img)
    with pytest.raises(
        ValueError, match=rf"sar16\{ext}'.*16-bit image \(uint16, largest value 4000\).*divided by 256"
    ):
        load_image(path)


def test_non_onnx_file_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.py"
    cfg.write_text("model = dict(type='RotatedRetinaNet')\n")
    with pytest.raises(ValueError, match=r"tiny\.py: not an ONNX model"):
        OnnxDetector(cfg)


def test_unknown_provider_names_it_and_the_available_ones(fixed_model: Callable[..., Path]) -> None:
    path = fixed_model(np.array([[10, 10, 8, 4, 0.1]], np.float32), np.array([[0.9, 0.0]], np.float32))
    with pytest.raises(
        ValueError, match=r"'CUDAExecutionProviderr' is not an execution provider.*CPUExecutionProvider"
    ):
        OnnxDetector(path, providers=["CUDAExecutionProviderr", "CPUExecutionProvider"])
    for ok in (None, [], ["CPUExecutionProvider"], "CPUExecutionProvider", [("CPUExecutionProvider", {})]):
        assert OnnxDetector(path, providers=ok).session.get_providers() == ["CPUExecutionProvider"]
