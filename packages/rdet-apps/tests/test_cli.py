import subprocess
import sys

import pytest

from rdet_apps.cli import main
from rdet_core import Config


def test_print_config_round_trips_with_options(tmp_path, capsys):
    (tmp_path / "base.py").write_text(
        "model = dict(type='RotatedRetinaNet', backbone=dict(depth=50))\nscales = [(1024, 1024)]\n"
    )
    (tmp_path / "cfg.py").write_text("_base_ = 'base.py'\nmodel = dict(backbone=dict(frozen_stages=1))\n")
    assert (
        main(
            [
                "print-config",
                str(tmp_path / "cfg.py"),
                "--cfg-options",
                "model.backbone.depth=18",
                "scales=[(512,512)]",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    printed = Config.fromstring(out, ".py")
    assert printed.to_dict() == {
        "model": {"type": "RotatedRetinaNet", "backbone": {"depth": 18, "frozen_stages": 1}},
        "scales": [(512, 512)],
    }
    assert main(["print-config", str(tmp_path / "cfg.py"), "--format", "json"]) == 0
    assert '"depth": 50' in capsys.readouterr().out


def test_errors_are_one_line_unless_debug(tmp_path, capsys):
    assert main(["print-config", str(tmp_path / "missing.py")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[0].startswith("rdet print-config: error: FileNotFoundError: config file not found:")
        and len(err) == 2
    )
    with pytest.raises(FileNotFoundError):
        main(["--debug", "print-config", str(tmp_path / "missing.py")])


def test_plugins_and_env(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["registry", "name", "distribution", "version", "status"] and out[-1].endswith(
        "names"
    )
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "rdet-core" in out and "torch" in out and "rbox_ops backend" in out


def test_demo_on_a_written_dota_folder(tmp_path, capsys):
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "labelTxt" / "P0001.txt").write_bytes(
        b"imagesource:GoogleEarth\r\ngsd:0.1\r\n0 0 10 0 10 5 0 5 plane 0\r\n1 1 3 1 3 3 1 3 ship 1\r\n"
    )
    assert main(["demo", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "P0001: 2 objects, 1 difficult, gsd 0.1, image absent" in out
    assert "1 label files, 2 objects in 2 classes" in out


def test_demo_on_the_default_real_data(shared_dir, capsys):
    assert main(["demo", "--data", str(shared_dir / "data/real/CAPTAIN-WHU_DOTA_devkit/example")]) == 0
    assert "7 label files, 984 objects in 12 classes" in capsys.readouterr().out


def test_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "rdet_apps", "--help"], capture_output=True, text=True, check=True
    )
    assert "print-config" in done.stdout
