"""The static index of rdet's built-in registry names that `rdet plugins` lists without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rdet_apps import builtin_names
from rdet_apps.builtin_names import INDEX_PATH, StaleIndexError, load_index
from rdet_apps.cli import main
from rdet_core.plugins import installed_version

# In a fresh interpreter (no registry a test made, no plugin loaded): the shipped index must be
# current, and an index missing one name must fail the check, naming it.
_CHECK = r"""
import json, sys
from rdet_apps.builtin_names import INDEX_PATH, main
assert main(["--check"]) == 0
index = json.loads(INDEX_PATH.read_text())
del index["registries"]["models"]["names"]["RotatedRetinaNet"]
with open(sys.argv[1], "w") as f:
    json.dump(index, f)
assert main(["--check", "--path", sys.argv[1]]) == 1
"""


def test_the_index_is_current(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _CHECK, str(tmp_path / "old.json")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "builtin_names.json is current" in done.stdout
    assert "run `python -m rdet_apps.builtin_names`" in done.stderr
    assert "registry 'models': added: RotatedRetinaNet" in done.stderr


def _index_copy(tmp_path, change):
    index = json.loads(INDEX_PATH.read_text())
    change(index)
    path = tmp_path / "index.json"
    path.write_text(json.dumps(index))
    return path


def test_load_index_gives_every_registry_with_versions():
    views = {v.name: v for v in load_index()}
    assert {"models", "bbox_coders", "datasets", "transforms", "hooks"} <= set(views)
    models = views["models"]
    assert models.entry_point_group == "rdet.models" and models.namespace == "rdet_models"
    assert models.builtins["RotatedRetinaNet"] == ("rdet-models", installed_version("rdet-models"))
    assert views["hooks"].builtins["EvalHook"][0] == "rdet-apps"


def test_a_stale_index_is_refused_naming_why(tmp_path):
    path = _index_copy(tmp_path, lambda index: index["distributions"].update({"rdet-models": "0.0.0-old"}))
    with pytest.raises(
        StaleIndexError, match=r"lists rdet-models 0\.0\.0-old, but rdet-models .+ is installed"
    ):
        load_index(path)
    with pytest.raises(StaleIndexError, match="cannot read the built-in name index"):
        load_index(tmp_path / "missing.json")
    path = _index_copy(tmp_path, lambda index: index["registries"]["models"].pop("names"))
    with pytest.raises(StaleIndexError, match="is malformed: KeyError"):
        load_index(path)
    path = _index_copy(tmp_path, lambda index: index.update(format=0))
    with pytest.raises(StaleIndexError, match="is not format 1"):
        load_index(path)


def test_rdet_plugins_falls_back_to_the_registries(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(builtin_names, "INDEX_PATH", tmp_path / "missing.json")
    assert main(["plugins", "--registry", "models"]) == 0
    captured = capsys.readouterr()
    assert "importing rdet's packages instead" in captured.err
    assert "RotatedRetinaNet" in captured.out and "built-in" in captured.out


def test_differences_name_what_changed():
    old = {
        "distributions": {"rdet-models": "0.1.0"},
        "registries": {
            "models": {"entry_point_group": "rdet.models", "namespace": "ns", "names": {"A": "d", "B": "d"}},
            "gone": {"entry_point_group": "rdet.gone", "namespace": None, "names": {}},
        },
    }
    new = {
        "distributions": {"rdet-models": "0.2.0"},
        "registries": {
            "models": {"entry_point_group": "rdet.models", "namespace": None, "names": {"B": "e", "C": "d"}},
            "fresh": {"entry_point_group": "rdet.fresh", "namespace": None, "names": {}},
        },
    }
    assert builtin_names._differences(old, new) == [
        "distributions: {'rdet-models': '0.1.0'} -> {'rdet-models': '0.2.0'}",
        "registry 'fresh' added",
        "registry 'gone' removed",
        "registry 'models': namespace 'ns' -> None",
        "registry 'models': added: C",
        "registry 'models': removed: A",
        "registry 'models': changed distribution: B",
    ]
