"""Configs that trained and scored silently wrong: a validation set whose classes are the
training set's in another order, mixed angle versions, an optimizer number that is a string,
and ``--cfg-options`` on a variable of the config file (which changes nothing)."""

from __future__ import annotations

import copy

import pytest

from rdet_apps.cfg_options import check_cfg_options
from rdet_apps.cli import main
from rdet_apps.commands.demo import CONFIG
from rdet_apps.engine.config_checks import (
    ConfigKeyError,
    check_angle_versions,
    check_optimizer_values,
    check_runtime_config,
)
from rdet_core import Config


@pytest.fixture(scope="module")
def cfg() -> Config:
    return Config.fromfile(CONFIG)


# -- train and val classes in one order ------------------------------------------------------------


def test_training_refuses_a_val_set_whose_classes_are_in_another_order(tmp_path, capsys):
    """Before: trained and exited 0, scoring label 0 as the val set's class 0."""
    from rdet_apps.demo_data import make_demo_dota

    data = make_demo_dota(tmp_path / "data", num_images=2, size=128, seed=0)
    files = f"ann_file={f'{data.labels}/'!r}, img_prefix={f'{data.images}/'!r}"
    config = tmp_path / "c_classes.py"
    config.write_text(
        f"_base_ = {str(CONFIG)!r}\n"
        f"data = dict(workers_per_gpu=0, train=dict({files}, classes=('plane', 'ship', 'storage-tank')), "
        f"val=dict({files}, classes=('ship', 'plane', 'storage-tank')))\n"
        "runner = dict(max_epochs=1)\n"
        "evaluation = dict(interval=1)\n"
    )
    code = main(["train", str(config), "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "data.val has the classes ['ship', 'plane', 'storage-tank'], data.train ['plane', 'ship', "
        "'storage-tank'] (in another order)"
    ) in err, err
    assert not list((tmp_path / "work").glob("*.pth"))  # nothing trained


def test_check_val_classes():
    from rdet_apps.apis.train import check_val_classes

    check_val_classes(("a", "b"), ["a", "b"])
    check_val_classes(("a", "b"), None)  # a dataset without CLASSES: not known, not checked
    with pytest.raises(ValueError, match=r"data.val has the classes \['a', 'c'\], .*\(other classes\)"):
        check_val_classes(("a", "b"), ("a", "c"))


# -- one angle version ---------------------------------------------------------------------------------


def test_mixed_angle_versions_are_named_before_training(cfg):
    """Before: data.train.version='oc' with a le135 coder and a le90 val set trained, exit 0."""
    check_angle_versions(cfg)  # the demo config: le90 everywhere
    mixed = copy.deepcopy(cfg)
    mixed.merge_from_dict({"data.train.version": "oc", "model.bbox_head.bbox_coder.angle_range": "le135"})
    with pytest.raises(ValueError, match=r"the config mixes angle versions \((.*)\)") as err:
        check_runtime_config(mixed)
    message = str(err.value)
    assert "'oc': data.train.version" in message
    assert "'le135': model.bbox_head.bbox_coder.angle_range" in message
    assert "'le90': data.train.pipeline." in message and "data.val.version" in message
    # the keys of every kind: transforms' version, ATSS's / point coders' angle_version
    with pytest.raises(ValueError, match=r"'le135': model.train_cfg.assigner.angle_version"):
        check_angle_versions({**mixed.to_dict(), "data": {}, "model": {
            "bbox_head": {"bbox_coder": {"angle_range": "le90"}},
            "train_cfg": {"assigner": {"type": "ATSSObbAssigner", "angle_version": "le135"}},
        }})  # fmt: skip


# -- optimizer numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "message"),
    [
        (dict(type="SGD", lr="abc"), r"^optimizer\.lr must be a number >= 0, got 'abc'$"),
        (dict(type="SGD", lr=0.01, momentum="0.9"), r"^optimizer\.momentum must be a number >= 0, got '0.9'$"),
        (dict(type="SGD", lr=0.01, weight_decay=-1), r"^optimizer\.weight_decay must be a number >= 0"),
        (dict(type="SGD", lr=float("nan")), r"^optimizer\.lr must be a number >= 0, got nan"),
        (dict(type="AdamW", lr=1e-3, betas=(0.9, "x")), r"^optimizer\.betas must be a pair of numbers"),
        (dict(type="SGD", lr=0.01, paramwise_cfg=dict(custom_keys={"head": dict(lr_mult="2")})),
         r"^optimizer\.paramwise_cfg\.custom_keys\.head\.lr_mult must be a number >= 0"),
    ],
)  # fmt: skip
def test_optimizer_numbers_are_checked_naming_the_key(optimizer, message):
    with pytest.raises(ValueError, match=message):
        check_optimizer_values(optimizer)


def test_rdet_train_names_a_string_lr_before_anything_is_built(tmp_path, capsys):
    """Before: TypeError: '<' not supported between instances of 'str' and 'float'."""
    code = main(
        ["train", str(CONFIG), "--work-dir", str(tmp_path / "w"), "--cfg-options", "optimizer.lr=abc"]
    )
    assert code == 1
    assert "optimizer.lr must be a number >= 0, got 'abc'" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


# -- --cfg-options on a variable of the config file -----------------------------------------------------


def test_overriding_an_interpolated_variable_is_an_error_naming_the_keys(cfg, capsys):
    """Before: --cfg-options angle_version=oc changed only the variable: exit 0, le90 trained."""
    with pytest.raises(ConfigKeyError) as err:
        check_cfg_options(cfg, {"angle_version": "oc"})
    message = str(err.value)
    assert message.startswith(
        "--cfg-options angle_version='oc': angle_version is a variable of the config file, not a key rdet reads"
    )
    for key in ("data.train.version", "data.val.version", "model.bbox_head.bbox_coder.angle_range"):
        assert key in message
    check_cfg_options(cfg, {"model.bbox_head.bbox_coder.angle_range": "oc", "seed": 3, "new_name": 1})
    assert main(["print-config", str(CONFIG), "--cfg-options", "angle_version=oc"]) == 1
    assert "angle_version is a variable of the config file" in capsys.readouterr().err
    # flags and -1/0/1 equal unrelated keys by chance (True == 1): a plugin's variables stay settable
    cfg["my_plugin_flag"], cfg["my_plugin_level"] = True, 1
    check_cfg_options(cfg, {"my_plugin_flag": False, "my_plugin_level": 2})
    with pytest.raises(ConfigKeyError, match=r"img_size is a variable of the config file"):
        from rdet_apps.apis import init_detector

        init_detector(CONFIG, cfg_options={"img_size": 512})
