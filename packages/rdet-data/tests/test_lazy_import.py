"""``import rdet_data`` (and the splitter) imports no torch; names and registries fill on first use.

Each check runs in a fresh interpreter: this test session has imported everything already.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import rdet_data


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter; its stdout (it must exit 0)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_importing_the_package_and_the_splitter_imports_no_torch():
    out = _fresh(
        "import sys\n"
        "import rdet_data, rdet_data.split\n"
        "from rdet_data.split import main\n"
        "print(sorted(m for m in ('torch', 'rdet_data.datasets', 'rdet_data.transforms') if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_public_names_import_on_first_access():
    out = _fresh(
        "from rdet_data import DOTADataset, build_dataset\n"
        "import rdet_data\n"
        "print(DOTADataset.__module__, build_dataset.__module__, rdet_data.Compose.__name__)\n"
    )
    assert out.split() == ["rdet_data.datasets.dota", "rdet_data.builder", "Compose"]


def test_the_datasets_registry_imports_its_built_ins_on_first_use():
    out = _fresh(
        "import sys, rdet_data\n"
        "print('rdet_data.datasets' in sys.modules)\n"
        "print(rdet_data.DATASETS.get('DOTADataset').__name__)\n"
        "print('RepeatDataset' in rdet_data.DATASETS)\n"  # a wrapper: the second builtins module
    )
    assert out.split() == ["False", "DOTADataset", "True"]


def test_the_transforms_registry_alone_knows_its_built_ins():
    out = _fresh("from rdet_data.registry import TRANSFORMS\nprint('RResize' in TRANSFORMS)\n")
    assert out.strip() == "True"


def test_importing_one_dataset_module_first_still_fills_the_registries():
    out = _fresh(
        "from rdet_data.datasets.dota import DOTADataset\n"
        "from rdet_data.registry import DATASETS, TRANSFORMS\n"
        "print(len(DATASETS), 'RepeatDataset' in DATASETS, 'RResize' in TRANSFORMS)\n"
    )
    assert out.split() == ["11", "True", "True"]


def test_every_public_name_resolves_and_is_listed():
    assert set(dir(rdet_data)) >= set(rdet_data.__all__)
    for name in rdet_data.__all__:
        assert getattr(rdet_data, name) is not None, name


def test_an_unknown_name_is_an_attribute_error_naming_the_module():
    with pytest.raises(AttributeError, match=r"module 'rdet_data' has no attribute 'NoSuchDataset'"):
        rdet_data.__getattr__("NoSuchDataset")
    with pytest.raises(ImportError, match="NoSuchDataset"):
        exec("from rdet_data import NoSuchDataset", {})
