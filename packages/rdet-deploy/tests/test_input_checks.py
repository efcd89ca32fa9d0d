"""Bad input to ``rdet_deploy`` (image arrays, ``num_threads``) is an error naming it; valid
input (C-order, Fortran-order or strided uint8 arrays) works the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rdet_deploy import OnnxDetector
from rdet_deploy.preprocess import load_image


@pytest.fixture
def detector(fixed_model: Callable[..., Path]) -> OnnxDetector:
    boxes = np.array([[10, 10, 8, 4, 0.1]], np.float32)
    scores = np.array([[0.9, 0.0]], np.float32)
    return OnnxDetector(fixed_model(boxes, scores), pad_to_input=True)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((64, 64, 3), np.uint16), r"imgs \(shape \(64, 64, 3\), dtype uint16\): .*uint8"),
        (np.full((64, 64, 3), np.nan, np.float32), r"dtype float32\): must be a BGR HxWx3 uint8"),
        (np.zeros((64, 64, 3), bool), r"dtype bool\)"),
        (np.zeros((64, 64, 3), np.int8), r"dtype int8\)"),
        (np.array([[1, 2]], dtype=object), r"dtype object\)"),
        (np.zeros((1, 64, 64, 3), np.uint8), r"shape \(1, 64, 64, 3\).*HxWx3"),
        (np.zeros((0, 5, 3), np.uint8), r"shape \(0, 5, 3\).*empty"),
        (np.zeros((64, 64), np.uint8), r"shape \(64, 64\).*grey images are not supported"),
        (np.zeros((2, 5000, 3), np.uint8), r"imgs: the image \(2x5000\) would be resized to 0x64 pixels"),
    ],
)
def test_bad_arrays_name_the_image(detector: OnnxDetector, array: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        detector.predict(array)


def test_a_bad_image_in_a_list_is_named_by_its_index(detector: OnnxDetector) -> None:
    ok = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=r"imgs\[1\] \(shape \(32, 32, 3\), dtype float64\)"):
        detector.predict([ok, ok.astype(np.float64)])
    with pytest.raises(TypeError, match=r"imgs\[0\]: an image is a file path or a numpy array, got int"):
        detector.predict([3])
    with pytest.raises(ValueError, match=r"^image \(shape"):
        load_image(np.zeros((4, 4), np.float32))


def test_fortran_order_and_strided_arrays_work(detector: OnnxDetector) -> None:
    img = np.random.default_rng(0).integers(0, 255, (40, 64, 3), np.uint8)
    expected = detector.predict(img)[0]
    for variant in (np.asfortranarray(img), img[:, ::-1][:, ::-1]):
        got = detector.predict(variant)[0]
        np.testing.assert_allclose(got.boxes, expected.boxes)
        np.testing.assert_allclose(got.scores, expected.scores)
    assert load_image(np.asfortranarray(img)).flags.c_contiguous


@pytest.mark.parametrize("num_threads", [-3, 2.5, True, "2", None])
def test_num_threads_must_be_an_integer_at_least_0(
    fixed_model: Callable[..., Path], num_threads: Any
) -> None:
    path = fixed_model(np.zeros((1, 5), np.float32), np.zeros((1, 1), np.float32))
    with pytest.raises(ValueError, match=r"num_threads .*: must be an integer >= 0"):
        OnnxDetector(path, num_threads=num_threads)


def test_valid_num_threads(fixed_model: Callable[..., Path]) -> None:
    path = fixed_model(np.zeros((1, 5), np.float32), np.zeros((1, 1), np.float32))
    for n in (0, 1, np.int64(2)):
        OnnxDetector(path, num_threads=n)
