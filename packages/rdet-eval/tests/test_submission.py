import zipfile

import numpy as np
import pytest

from rdet_eval import read_task1, write_submission, zip_submission


def test_task1_and_task2_files(tmp_path):
    boxes = np.array([[50, 40, 20, 10, 0.0, 0.9]])
    results = [[boxes, np.zeros((0, 6))], [np.zeros((0, 6)), np.array([[0, 0, 10, 0, 10, 5, 0, 5, 0.3]])]]
    files = write_submission(tmp_path / "t1", ["P0001", "P0002"], results, ["plane", "ship"])
    assert [f.name for f in files] == ["Task1_plane.txt", "Task1_ship.txt"]
    plane = read_task1(files[0])
    assert plane.images == ["P0001"] and plane.scores.tolist() == [0.9]
    np.testing.assert_allclose(np.sort(plane.polygons[0, 0::2]), [40, 40, 60, 60])
    assert files[1].read_text() == "P0002 0.3 0.00 0.00 10.00 0.00 10.00 5.00 0.00 5.00\n"
    t2 = write_submission(tmp_path / "t2", ["P0001", "P0002"], results, ["plane", "ship"], task="Task2")
    assert t2[0].read_text() == "P0001 0.9 40.00 35.00 60.00 45.00\n"
    z = zip_submission(files, tmp_path / "sub.zip")
    assert sorted(zipfile.ZipFile(z).namelist()) == ["Task1_plane.txt", "Task1_ship.txt"]


def test_bad_results_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"results of 'P0001', class 'plane' must be \(k, 6\)"):
        write_submission(tmp_path, ["P0001"], [[np.zeros((1, 7))]], ["plane"])
    with pytest.raises(ValueError, match="task must be"):
        write_submission(tmp_path, [], [], [], task="Task3")
