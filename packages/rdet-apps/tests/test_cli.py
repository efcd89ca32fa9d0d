import json
import re
import subprocess
import sys
import textwrap

import pytest

from rdet_apps.cli import COMMANDS, main
from rdet_core import Config, plugins


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
    # MMRotate's docs' command line: --options
    assert main(["print-config", str(tmp_path / "cfg.py"), "--options", "model.backbone.depth=101"]) == 0
    assert Config.fromstring(capsys.readouterr().out, ".py").model.backbone.depth == 101


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


# Runs `rdet ARGS...` in a fresh interpreter and reports what it imported.
_IMPORTS = r"""
import json, sys
from rdet_apps.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
heavy = [m for m in ("torch", "numpy", "rdet_data", "rdet_models") if m in sys.modules]
commands = sorted(m for m in sys.modules if m.startswith("rdet_apps.commands."))
print("@@" + json.dumps({"code": code, "heavy": heavy, "commands": commands}))
"""


def _run_fresh(args: list[str]) -> tuple[dict, str]:
    """(what ``rdet ARGS`` returned and imported, its output) in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out, _, report = done.stdout.rpartition("@@")
    return json.loads(report), out


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["plugins"], ["plugins", "--plugins-only", "--registry", "models"]]
    + [[name, "--help"] for name in COMMANDS],
    ids=lambda args: " ".join(args),
)
def test_start_up_does_not_import_torch(args):
    report, out = _run_fresh(args)
    assert report["code"] in (0, None), out
    assert "torch" not in report["heavy"], f"`rdet {' '.join(args)}` imported torch"
    if args[0] in COMMANDS:  # only the command's own module
        assert report["commands"] == [f"rdet_apps.commands.{COMMANDS[args[0]]}"], report["commands"]
    if args[0] in ("plugins", "--version"):
        assert report["heavy"] == [], report["heavy"]  # not even numpy
    if args == ["--help"]:
        assert len(report["commands"]) == len(COMMANDS) and all(name in out for name in COMMANDS)


def _rows(out: str) -> list[tuple[str, ...]]:
    """The table rows of `rdet plugins`: (registry, name, distribution, version, status)."""
    lines = out.splitlines()
    assert lines[0].split() == ["registry", "name", "distribution", "version", "status"]
    return [tuple(re.split(r"\s{2,}", line.rstrip(), maxsplit=4)) for line in lines[1:] if "  " in line]


def test_plugins_lists_the_same_built_in_names_as_the_registries(capsys):
    """The fast listing (index, fresh interpreter) and `--check` (the registries themselves) agree."""
    report, out = _run_fresh(["plugins"])
    assert report["heavy"] == []
    fast = [row for row in _rows(out) if row[4] == "built-in"]
    assert main(["plugins", "--check"]) in (0, 1)
    registries = {row[0] for row in fast}  # not those that other tests of this session made
    checked = [row for row in _rows(capsys.readouterr().out) if row[4] == "built-in" and row[0] in registries]
    assert fast == checked and len(fast) > 100
    assert ("models", "RotatedRetinaNet", "rdet-models") in {row[:3] for row in fast}


def _install(site, dist, version, entry_points, modules):
    """A minimal installed distribution on ``site``: .dist-info (METADATA, entry points) + modules."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = []
    for group, items in entry_points.items():
        lines += [f"[{group}]", *(f"{name} = {target}" for name, target in items.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("fake_cli_")]:
        del sys.modules[name]
    plugins.refresh()


def test_plugins_flags_problems_without_importing_and_check_imports(site, capsys):
    _install(
        site,
        "fake-cli-plugins",
        "0.5",
        {
            "rdet.transforms": {
                "RResize": "fake_cli_fine:X",  # a built-in name
                "CliBroken": "fake_cli_broken:X",  # found, fails when imported
                "CliMissing": "fake_cli_nowhere:X",  # no such module
                "CliFine": "fake_cli_fine:X",
            },
            "rdet.bbox_coders": {"FocalLoss": "fake_cli_fine:X"},  # a built-in of a sibling registry
            "rdet.cli_nowhere": {"Lonely": "fake_cli_fine:X"},  # no registry reads the group
        },
        {
            "fake_cli_fine": "class X:\n    pass\n",
            "fake_cli_broken": "import a_module_that_does_not_exist\n",
        },
    )

    def listed(args):
        code = main(["plugins", "--plugins-only", *args])
        out = capsys.readouterr().out
        rows = {row[:2]: row[4] for row in _rows(out) if row[2] == "fake-cli-plugins"}
        return code, rows, out

    code, rows, out = listed([])
    assert code == 0 and "fake_cli_broken" not in sys.modules and "fake_cli_fine" not in sys.modules
    assert rows[("transforms", "RResize")] == "shadowed by built-in"
    assert rows[("transforms", "CliBroken")] == rows[("transforms", "CliFine")] == "not loaded"
    assert (
        rows[("transforms", "CliMissing")] == "error: ModuleNotFoundError: No module named 'fake_cli_nowhere'"
    )
    assert rows[("bbox_coders", "FocalLoss")].startswith(
        "conflict: 'FocalLoss' is built into the 'models' registry, which namespace 'rdet_models'"
    )
    assert rows[("cli_nowhere", "Lonely")].startswith(
        "unknown group: no rdet registry reads 'rdet.cli_nowhere'"
    )
    assert "plugins listed, not imported: `rdet plugins --check`" in out
    assert out.splitlines()[-1].endswith(" names")

    code, rows, out = listed(["--check"])
    assert code == 1  # a plugin fails to load
    assert rows[("transforms", "CliFine")] == "ok"
    assert rows[("transforms", "CliBroken")].startswith(
        "error: ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"
    )
    assert rows[("transforms", "RResize")] == "shadowed by built-in"
    assert "not imported" not in out


def test_top_level_parsing_is_unchanged(capsys):
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'no-such-command'" in err and "'plugins'" in err
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2 and "required: COMMAND" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--debug", "-h", "plugins"])  # rdet's own help, with every command's
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "list every registered type name" in out and "print-config" in out
    with pytest.raises(SystemExit):
        main(["plugins", "--no-such-option"])
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
