"""The 91 config files MMRotate 0.3.4 ships load to the dicts MMCV 1.7.2's Config gives.

The expected dicts (``data/mmcv_1.7.2_config_dicts.repr.gz``, python literals so that tuples
stay tuples) were written by ``data/make_mmcv_fixture.py`` with MMCV's own Config.
"""

import ast
import gzip
import json
import sys
from pathlib import Path

import pytest

from rdet_core import Config, Registry
from rdet_core.custom_imports import PROVIDED_MODULES, CustomImportError

FIXTURE = Path(__file__).parent / "data" / "mmcv_1.7.2_config_dicts.repr.gz"
with gzip.open(FIXTURE, "rt", encoding="utf-8") as _f:
    EXPECTED: dict = ast.literal_eval(_f.read())


@pytest.fixture(scope="module")
def configs_dir(shared_dir):
    path = shared_dir / "configs" / "mmrotate-0.3.4"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: MMRotate's config files are not beside the repository")
    return path


def test_every_shipped_config_is_covered(configs_dir):
    files = sorted(str(p.relative_to(configs_dir)) for p in configs_dir.rglob("*.py"))
    assert len(files) == 91
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_loads_like_mmcv_and_round_trips(configs_dir, rel, tmp_path):
    cfg = Config.fromfile(configs_dir / rel)
    assert cfg.to_dict() == EXPECTED[rel]
    dumped = tmp_path / "dumped.py"
    cfg.dump(dumped)
    assert Config.fromfile(dumped).to_dict() == EXPECTED[rel]


def _lists(value):
    """JSON and YAML have no tuples."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_json_and_yaml_dumps_reload(configs_dir, tmp_path, suffix):
    rel = "oriented_rcnn/oriented_rcnn_r50_fpn_1x_dota_le90.py"
    cfg = Config.fromfile(configs_dir / rel)
    cfg.dump(tmp_path / f"c{suffix}")
    assert json.loads(json.dumps(Config.fromfile(tmp_path / f"c{suffix}").to_dict())) == _lists(EXPECTED[rel])


def test_attribute_access_on_a_real_config(configs_dir):
    cfg = Config.fromfile(configs_dir / "rotated_retinanet/rotated_retinanet_obb_r50_fpn_1x_dota_le90.py")
    assert cfg.model.backbone.depth == 50
    assert cfg.angle_version == "le90"
    assert cfg.data.train.pipeline[2]["type"] == "RResize"
    assert cfg.data.test.pipeline[1].transforms[0].type == "RResize"
    cfg.merge_from_dict({"model.backbone.depth": 18, "data.test.pipeline.1.img_scale": (320, 320)})
    assert cfg.model.backbone.depth == 18 and cfg.data.test.pipeline[1].img_scale == (320, 320)


def test_convnext_custom_imports_are_deferred_then_provided_by_rdet(configs_dir, tmp_path, monkeypatch):
    """``mmcls.models`` is one of the OpenMMLab modules rdet provides (``PROVIDED_MODULES``): a
    build imports the providing module instead, so mmcls need not be installed. Here a stand-in
    provider (rdet-core's tests do not use rdet-models) registers ``ConvNeXt``; the config's
    ``type='mmcls.ConvNeXt'`` resolves to it by its last part."""
    rel = "convnext/rotated_retinanet_obb_kld_stable_convnext_adamw_fpn_1x_dota_le90.py"
    registry = Registry("test_convnext_models")
    (tmp_path / "stand_in_provider.py").write_text(
        "from rdet_core.registry import all_registries\n"
        "@all_registries()['test_convnext_models'].register_module()\n"
        "class ConvNeXt:\n"
        "    def __init__(self, **kwargs):\n"
        "        self.kwargs = kwargs\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(PROVIDED_MODULES, "mmcls.models", "stand_in_provider")
    cfg = Config.fromfile(configs_dir / rel)  # mmcls is not installed: loading must work
    assert cfg.custom_imports == {"imports": ["mmcls.models"], "allow_failed_imports": False}
    assert "mmcls" in cfg.pretty_text and "stand_in_provider" not in sys.modules  # deferred
    backbone = registry.build(cfg.model.backbone)
    assert backbone.kwargs["arch"] == "tiny" and "stand_in_provider" in sys.modules
    del sys.modules["stand_in_provider"]


def test_a_provided_module_that_fails_names_both(configs_dir, monkeypatch):
    rel = "convnext/rotated_retinanet_obb_kld_stable_convnext_adamw_fpn_1x_dota_le90.py"
    monkeypatch.setitem(PROVIDED_MODULES, "mmcls.models", "no_such_rdet_module_xyz")
    cfg = Config.fromfile(configs_dir / rel)
    with pytest.raises(CustomImportError) as info:
        Registry("test_convnext_models_missing").build(cfg.model)
    message = str(info.value)
    assert "'mmcls.models'" in message and "'no_such_rdet_module_xyz'" in message and rel in message
    # reported once: later builds of other things are not poisoned by it
    assert Registry("test_after_convnext").get("Anything") is None
