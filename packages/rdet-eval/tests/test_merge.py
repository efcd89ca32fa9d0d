import numpy as np
import pytest

from rdet_eval import merge_patch_results, merge_task1_patch_file, parse_patch_name

MERGE_INPUT = "data/real/hukaixuan19970627_DOTA_devkit_YOLO/ResultMerge_example/1.txt"


@pytest.mark.parametrize(
    ("thr", "golden", "counts"),
    [
        (0.1, "ResultMerge_multi_process_nms0.1", {"P0770": 35, "P1888": 64}),
        (0.3, "ResultMerge_nms0.3", {"P0770": 37, "P1888": 64}),
    ],
)
def test_devkit_merge_reproduced_line_for_line(shared_dir, devkit_dir, tmp_path, thr, golden, counts):
    out = tmp_path / "merged.txt"
    assert merge_task1_patch_file(shared_dir / MERGE_INPUT, out, thr) == counts
    assert out.read_text() == (devkit_dir / "merge" / golden / "1.txt").read_text()


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("P0770__1__586___334", ("P0770", 1.0, 586, 334)),
        ("P0000__1.0__0___0", ("P0000", 1.0, 0, 0)),
        ("P0000__0.5__1648___824", ("P0000", 0.5, 1648, 824)),
        ("P2805__1024__0___0", ("P2805", 1.0, 0, 0)),  # MMRotate: the patch size, not a rate
        ("my__odd__name__1.5__10___20", ("my__odd__name", 1.5, 10, 20)),
    ],
)
def test_patch_names(name, parsed):
    p = parse_patch_name(name)
    assert (p.image, p.rate, p.x, p.y) == parsed


@pytest.mark.parametrize("bad", ["P0001", "P0001__1__x___0", "P0001__1__0__0", "P0001__0__0___0"])
def test_bad_patch_names(bad):
    with pytest.raises(ValueError, match="patch"):
        parse_patch_name(bad)


def test_rotated_merge_shifts_rescales_and_suppresses():
    a = np.array([[100, 100, 40, 20, 0.2, 0.9]])
    patches = {
        "P1__1024__0___0": [a, np.zeros((0, 6))],
        "P1__1024__50___0": [
            a - [50, 0, 0, 0, 0, 0.1],
            np.zeros((0, 6)),
        ],  # the same object seen from a shifted patch
        "P2__0.5__100___0": [np.array([[10, 10, 4, 2, 0.0, 0.5]]), np.array([[20, 20, 4, 4, 0.1, 0.4]])],
    }
    merged = merge_patch_results(patches, nms_thr=0.1)
    assert list(merged) == ["P1", "P2"]
    np.testing.assert_allclose(merged["P1"][0], a)  # the duplicate is gone, the better one kept
    assert merged["P1"][1].shape == (0, 6)
    np.testing.assert_allclose(merged["P2"][0], [[220, 20, 8, 4, 0.0, 0.5]])  # (x + 100) / 0.5
    with pytest.raises(ValueError, match="has 1 classes"):
        merge_patch_results({"P1__1__0___0": [a, a], "P1__1__5___0": [a]})
