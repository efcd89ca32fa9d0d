import io

import cv2
import numpy as np
import pytest

from rbox_geometry import poly2obb_np
from rdet_apps.apis import show_result_pyplot
from rdet_apps.demo_data import DEMO_CLASSES, make_demo_dota
from rdet_apps.progress import track
from rdet_apps.visualization import get_palette, palette_for, show_result
from rdet_data.formats import read_dota_labels


def test_demo_data_is_deterministic_and_readable(tmp_path):
    a = make_demo_dota(tmp_path / "a", num_images=4, size=128, seed=3)
    b = make_demo_dota(tmp_path / "b", num_images=4, size=128, seed=3)
    assert a.num_objects == b.num_objects > 0
    for img in sorted(a.images.iterdir()):
        np.testing.assert_array_equal(cv2.imread(str(img)), cv2.imread(str(b.images / img.name)))
    labels = [read_dota_labels(p) for p in sorted(a.labels.glob("*.txt"))]
    assert sum(len(x) for x in labels) == a.num_objects
    assert all(set(x.names) <= set(DEMO_CLASSES) for x in labels) and labels[0].header["gsd"] == "0.5"
    # the objects are painted where the labels say: the box centre has the class colour
    first = labels[0]
    img = cv2.imread(str(a.images / "S030000.png"))
    for poly, name in zip(first.polygons, first.names):
        cx, cy = poly.reshape(4, 2).mean(0)
        if name != "storage-tank":  # tanks have a dark centre
            assert img[int(cy), int(cx)].astype(int).sum() > 250
        obb = poly2obb_np(poly[None].astype(np.float64), "le90")
        assert np.isfinite(obb).all()


def test_show_result_draws_each_class_in_its_colour(tmp_path):
    img = np.zeros((100, 100, 3), np.uint8)
    result = [np.array([[30, 30, 40, 20, 0.3, 0.9]]), np.array([[70, 70, 20, 20, 0.0, 0.1]])]
    out = show_result(img, result, ["plane", "ship"], score_thr=0.3, out_file=tmp_path / "o" / "vis.png")
    assert (tmp_path / "o" / "vis.png").is_file()
    r, g, b = palette_for(2)[0]
    assert ((out == (b, g, r)).all(-1)).sum() > 50  # class 0 drawn
    assert out[60:80, 60:80].sum() == 0  # class 1 below the score threshold: not drawn
    with pytest.raises(ValueError, match="2 classes but 1 class names"):
        show_result(img, result, ["plane"])
    with pytest.raises(FileNotFoundError, match="cannot read image"):
        show_result(tmp_path / "missing.png", result, ["plane", "ship"])
    assert len(palette_for(20)) == 20


def test_show_result_pyplot_and_palettes_as_mmrotates_image_demo(tmp_path):
    """MMRotate's demo/image_demo.py: show_result_pyplot(model, img, result, palette=...,
    score_thr=..., out_file=...)."""

    class Model:
        CLASSES = ("plane", "ship")

    img = np.zeros((100, 100, 3), np.uint8)
    result = [np.array([[30, 30, 40, 20, 0.3, 0.9]]), np.zeros((0, 6))]
    out = show_result_pyplot(
        Model(), img, result, palette=[(0, 0, 255), (0, 255, 0)], out_file=tmp_path / "r.png"
    )
    assert (tmp_path / "r.png").is_file() and ((out == (255, 0, 0)).all(-1)).sum() > 50  # RGB blue, drawn BGR
    assert get_palette("random", 3) == get_palette("random", 3) and len(get_palette(None, 20)) == 20
    with pytest.raises(ValueError, match="palette 'coco'"):
        get_palette("coco", 2)
    with pytest.raises(ValueError, match="2 colours of 3 values"):
        get_palette([(1, 2, 3)], 2)
    with pytest.raises(ValueError, match="has no CLASSES"):
        show_result_pyplot(object(), img, result)


def test_progress_is_quiet_on_a_non_terminal_and_drawn_on_one():
    buf = io.StringIO()
    assert list(track(range(5), desc="testing", stream=buf)) == list(range(5))
    assert buf.getvalue() == ""  # logs and pipes: no carriage returns, no lines

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    assert list(track(range(5), desc="testing", unit="img", stream=term)) == list(range(5))
    assert "testing: 100%" in term.getvalue() and "5/5" in term.getvalue() and "\r" in term.getvalue()


def test_the_demo_scene_puts_objects_on_patch_edges(tmp_path):
    """The main job's huge-image picture: a 2048-pixel scene of the demo's domain in which a
    third of the objects straddle the edges of the 256-pixel windows (stride 200)."""
    from rdet_apps.apis.patches import patch_windows
    from rdet_apps.demo_data import make_demo_scene
    from rdet_data.formats import read_dota_labels

    scene = make_demo_scene(tmp_path, size=1024, patch=256, step=200)
    labels = read_dota_labels(scene.labels / "SCENE.txt")
    assert len(labels) == scene.num_objects >= 40
    windows = patch_windows(1024, 1024, [256], [200])
    polys = labels.polygons.reshape(-1, 4, 2)
    lo, hi = polys.min(1), polys.max(1)
    inside_one = np.zeros(len(polys), bool)
    cut = np.zeros(len(polys), bool)
    for x0, y0, x1, y1 in windows:
        fully = (lo[:, 0] >= x0) & (hi[:, 0] <= x1) & (lo[:, 1] >= y0) & (hi[:, 1] <= y1)
        partly = (hi[:, 0] > x0) & (lo[:, 0] < x1) & (hi[:, 1] > y0) & (lo[:, 1] < y1) & ~fully
        inside_one |= fully
        cut |= partly
    assert cut.mean() > 0.3  # many objects are cut by some window's edge ...
    assert inside_one.mean() > 0.9  # ... and still whole in a neighbouring one
    again = make_demo_scene(tmp_path / "again", size=1024, patch=256, step=200)
    assert (again.labels / "SCENE.txt").read_text() == (scene.labels / "SCENE.txt").read_text()
