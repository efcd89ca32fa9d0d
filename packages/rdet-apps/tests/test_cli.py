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


def test_demo_main_job_runs_end_to_end(tmp_path, capsys):
    """The README's command 1, shortened: generate, train, evaluate, draw, report."""
    assert (
        main(
            ["demo", "--work-dir", str(tmp_path), "--epochs", "1", "--train-images", "8", "--val-images", "2"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "data: 8 training images" in out and "mAP@0.5 on 2 validation images:" in out
    assert (tmp_path / "latest.pth").is_file() and len(list((tmp_path / "vis").glob("S01*.png"))) == 2


def test_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "rdet_apps", "--help"], capture_output=True, text=True, check=True
    )
    assert "print-config" in done.stdout
