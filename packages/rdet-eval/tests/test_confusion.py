import numpy as np
import pytest

from rdet_eval import confusion_matrix, plot_confusion_matrix


def test_semantics_of_mmrotates_tool():
    gt = {
        "bboxes": np.array([[10, 10, 8, 8, 0], [50, 50, 8, 8, 0], [90, 90, 8, 8, 0]], float),
        "labels": np.array([0, 1, 1]),
    }
    dets = [
        np.array(
            [[10, 10, 8, 8, 0, 0.9], [200, 200, 5, 5, 0, 0.8]]
        ),  # class 0: a hit on gt 0, a background fp
        np.array(
            [[10, 10, 8, 8, 0, 0.7], [50, 50, 8, 8, 0, 0.2]]
        ),  # class 1: confuses gt 0; the hit on gt 1 is below score_thr
    ]
    m = confusion_matrix([dets], [gt], score_thr=0.3)
    expected = np.zeros((3, 3))
    expected[0, 0] = 1  # gt 0 found as class 0
    expected[0, 1] = 1  # gt 0 also detected as class 1
    expected[2, 0] = 1  # background detected as class 0
    expected[1, 2] = 2  # gts 1 and 2 (class 1) missed
    np.testing.assert_array_equal(m, expected)
    with pytest.raises(ValueError, match=r"det_results\[0\]\[0\] has a non-finite value"):
        confusion_matrix([[np.array([[np.nan] * 6]), dets[1]]], [gt])


def test_plot(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    m = np.array([[3, 1, 0], [0, 2, 1], [1, 0, 0]])
    fig = plot_confusion_matrix(m, ["plane", "ship"], save_path=tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 1000 and fig is not None
    with pytest.raises(ValueError, match="background is added"):
        plot_confusion_matrix(m, ["plane"])
