"""``evaluate``'s options are checked whatever the scorer: ``--eval-options use_07_metric=Flase``
stays the string ``'Flase'``, which is truthy, so the VOC07 metric was silently used."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rdet_data import DOTADataset, HRSCDataset


def _recording_scorer(calls):
    def scorer(results, annotations, **kw):
        calls.append(kw)
        return 0.5, []

    return scorer


@pytest.fixture
def datasets(tmp_path, syn):
    ann_dir, _ = syn.write_dota(tmp_path / "dota")
    root = syn.write_hrsc(tmp_path / "hrsc")
    hrsc = HRSCDataset(
        str(root / "ImageSets/trainval.txt"), [], ann_subdir=str(root / "FullDataSet/Annotations")
    )
    return [DOTADataset(str(ann_dir), [], version="le90"), hrsc]


@pytest.mark.parametrize("value", ["Flase", "false", "False", "no", "True", 0, 1, None])
def test_use_07_metric_must_be_a_bool(datasets, value):
    for ds in datasets:
        calls = []
        with pytest.raises(TypeError, match=rf"use_07_metric must be True or False, got \w+ {value!r}"):
            ds.evaluate([[]] * len(ds), scorer=_recording_scorer(calls), use_07_metric=value)
        assert not calls  # nothing was scored with a wrong metric


@pytest.mark.parametrize("value", [False, True, np.bool_(False)])
def test_real_bools_reach_the_scorer(datasets, value):
    for ds in datasets:
        calls = []
        ds.evaluate([[]] * len(ds), scorer=_recording_scorer(calls), use_07_metric=value)
        assert calls and all(c["use_07_metric"] == bool(value) for c in calls)


@pytest.mark.parametrize("value", [0, -2, 2.0, "4", True, None])
def test_nproc_must_be_a_positive_integer(datasets, value):
    ds = datasets[0]
    with pytest.raises(ValueError, match=r"nproc must be an integer >= 1, got"):
        ds.evaluate([[]] * len(ds), scorer=_recording_scorer([]), nproc=value)
    ds.evaluate([[]] * len(ds), scorer=_recording_scorer([]), nproc=np.int64(2))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("0,32", r"scale_ranges must be None or a non-empty list"),
        ([], r"scale_ranges must be None or a non-empty list"),
        (32, r"scale_ranges must be None or a non-empty list"),
        ([(32, 0)], r"scale_ranges\[0\] must be a \(min, max\) pair"),
        ([(0, 32), (-1, 5)], r"scale_ranges\[1\] must be a \(min, max\) pair"),
        ([(0, math.nan)], r"scale_ranges\[0\]"),
        ([("0", "32")], r"scale_ranges\[0\]"),
        ([(0, 32, 96)], r"scale_ranges\[0\]"),
    ],
)
def test_scale_ranges_are_checked(datasets, value, match):
    ds = datasets[0]
    with pytest.raises(ValueError, match=match):
        ds.evaluate([[]] * len(ds), scorer=_recording_scorer([]), scale_ranges=value)
    calls = []
    ds.evaluate([[]] * len(ds), scorer=_recording_scorer(calls), scale_ranges=[(0, 32), (32, math.inf)])
    assert calls[0]["scale_ranges"] == [(0, 32), (32, math.inf)]
