"""A typo'd key of ``model.train_cfg`` / ``model.test_cfg`` (at any depth), of ``data``, or a
near-miss top-level name beside the key it misspells, is a ``ConfigKeyError`` naming the key
path and the closest valid key (``rdet_apps.engine.config_checks``), not a setting ignored by a
run that exits 0; MMRotate's 82 config files pass the same check."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdet_apps.commands.demo import CONFIG
from rdet_apps.engine.config_checks import (
    ConfigKeyError,
    check_data_config,
    check_model_config,
    check_runtime_config,
)
from rdet_core import Config

#: (the line added to a config on the demo config, the message expected): the bug hunt's cases
TYPOS = {
    "test_cfg": (
        "model = dict(test_cfg=dict(score_th=0.5))",
        r"^model\.test_cfg\.score_th: not a key of model\.test_cfg \(did you mean model\.test_cfg\.score_thr\?\)",
    ),
    "test_cfg_nms": (
        "model = dict(test_cfg=dict(nms=dict(iou_th=0.9)))",
        r"^model\.test_cfg\.nms\.iou_th: .*did you mean model\.test_cfg\.nms\.iou_thr\?",
    ),
    "train_cfg": (
        "model = dict(train_cfg=dict(pos_weigth=2))",
        r"^model\.train_cfg\.pos_weigth: .*did you mean model\.train_cfg\.pos_weight\?",
    ),
    "data": (
        "data = dict(samples_per_gpus=1)",
        r"^data\.samples_per_gpus: not a key of data \(did you mean data\.samples_per_gpu\?\)",
    ),
    "data_loader": (
        "data = dict(train_dataloader=dict(sample_per_gpu=4))",
        r"^data\.train_dataloader\.sample_per_gpu: not a key of data\.train_dataloader "
        r"\(did you mean data\.train_dataloader\.samples_per_gpu\?\)",
    ),
    "top_level_beside_the_key": (
        "optimzer = dict(type='SGD', lr=0.1)",
        r"^optimzer: not a config key that training reads \(did you mean optimizer\?\)",
    ),
}


def _config(tmp_path: Path, line: str) -> Config:
    path = tmp_path / "typo.py"
    path.write_text(f"_base_ = {str(CONFIG)!r}\n{line}\n")
    return Config.fromfile(path)


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_a_typod_key_is_an_error_naming_its_path_and_the_closest_key(tmp_path: Path, case: str) -> None:
    line, message = TYPOS[case]
    cfg = _config(tmp_path, line)
    with pytest.raises(ConfigKeyError, match=message):
        check_runtime_config(cfg)


def test_the_demo_config_itself_passes(tmp_path: Path) -> None:
    check_runtime_config(_config(tmp_path, "angle_version = 'le90'"))


def test_two_stage_and_refine_detectors_keys_pass_and_their_typos_do_not() -> None:
    nms = {"type": "nms", "iou_threshold": 0.7}
    stage = {"assigner": {"type": "MaxIoUAssigner", "whatever": 1}, "sampler": {"type": "RandomSampler"},
             "allowed_border": 0, "pos_weight": -1, "debug": False}  # fmt: skip
    proposal = {"nms_pre": 2000, "max_per_img": 2000, "nms": nms, "min_bbox_size": 0}
    model = {
        "train_cfg": {"rpn": stage, "rpn_proposal": proposal, "rcnn": [stage, stage]},
        "test_cfg": {
            "rpn": proposal,
            "rcnn": {"nms_pre": 2000, "min_bbox_size": 0, "score_thr": 0.05, "max_per_img": 2000,
                     "nms": {"type": "le90", "iou_thr": 0.1}},
            "tta": {"anything": "rdet_models.tta checks it"},
        },
    }  # fmt: skip
    check_model_config(model)  # assigner / sampler kwargs and tta are checked where they are built
    r3det = {"train_cfg": {"s0": stage, "sr": [stage], "stage_loss_weights": [1.0]}, "test_cfg": None}
    check_model_config(r3det)
    with pytest.raises(ConfigKeyError, match=r"^model\.train_cfg\.rcnn\.1\.pos_weigth: .*did you mean"):
        check_model_config({"train_cfg": {"rcnn": [stage, {**stage, "pos_weigth": 1}]}})
    with pytest.raises(
        ConfigKeyError, match=r"^model\.train_cfg\.sr\.0\.allowed_boarder: .*allowed_border\?"
    ):
        check_model_config({"train_cfg": {"sr": [{"allowed_boarder": -1}]}})
    with pytest.raises(ConfigKeyError, match=r"^model\.train_cfg\.rpn_proposal\.nms\.iou_treshold: "):
        check_model_config({"train_cfg": {"rpn_proposal": {"nms": {"iou_treshold": 0.7}}}})
    with pytest.raises(ConfigKeyError, match=r"^model\.test_cfg\.rcnn\.max_per_image: .*max_per_img\?"):
        check_model_config({"test_cfg": {"rcnn": {"max_per_image": 100}}})


def test_an_unknown_key_far_from_any_is_an_error_too() -> None:
    """Nothing in train_cfg / test_cfg / data is a user variable: no hint, still an error."""
    with pytest.raises(
        ConfigKeyError, match=r"^model\.test_cfg\.zzz: not a key of model\.test_cfg; its keys: "
    ):
        check_model_config({"test_cfg": {"zzz": 1}})
    with pytest.raises(ConfigKeyError, match=r"^data\.batch_size: not a key of data; its keys: "):
        check_data_config({"batch_size": 2})
    check_data_config({"imgs_per_gpu": 2})  # samples_per_gpu's old name, as MMRotate's docs show it
    check_data_config({"train": {}, "train_dataloader": {"samples_per_gpu": 1}, "persistent_workers": True})


def test_top_level_user_variables_pass_and_only_near_misses_fail() -> None:
    check_runtime_config({"angle_version": "le90", "dataset_type": "DOTADataset", "data_root": "x/",
                          "img_norm_cfg": {}, "norm_cfg": {}, "pretrained": None, "checkpoint_file": "a.pth",
                          "checkpoint_config": {"interval": 1}, "optimizer": {"type": "SGD", "lr": 0.1}})  # fmt: skip
    with pytest.raises(ConfigKeyError, match=r"^custom_hook: .*did you mean custom_hooks\?"):
        check_runtime_config({"custom_hooks": [], "custom_hook": []})
    with pytest.raises(ConfigKeyError, match=r"^lr_confg: .*did you mean lr_config\?"):
        check_runtime_config({"lr_config": {"policy": "step", "step": [8]}, "lr_confg": {}})


def test_mmrotates_configs_pass(shared_dir: Path) -> None:
    root = shared_dir / "configs" / "mmrotate-0.3.4"
    paths = sorted(p for p in root.rglob("*.py") if "_base_" not in p.parts)
    assert len(paths) == 82
    flagged = {}
    for path in paths:
        try:
            check_runtime_config(Config.fromfile(path))
        except (KeyError, ValueError) as e:
            flagged[str(path.relative_to(root))] = str(e)
    assert flagged == {}


def test_rdet_train_stops_on_a_test_cfg_typo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rdet_apps.cli import main
    from rdet_apps.demo_data import make_demo_dota

    data = make_demo_dota(tmp_path / "data", num_images=2, size=128, seed=0)
    config = tmp_path / "c_testcfg.py"
    config.write_text(
        f"_base_ = {str(CONFIG)!r}\n"
        "model = dict(test_cfg=dict(score_th=0.5))\n"
        f"data = dict(workers_per_gpu=0, train=dict(ann_file={f'{data.labels}/'!r}, img_prefix={f'{data.images}/'!r}),"
        f" val=dict(ann_file={f'{data.labels}/'!r}, img_prefix={f'{data.images}/'!r}))\n"
        "runner = dict(max_epochs=1)\n"
    )
    code = main(["train", str(config), "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: ConfigKeyError: model.test_cfg.score_th: not a key of model.test_cfg" in err
    assert not (tmp_path / "work").exists()  # checked before anything is built or written


def test_a_model_with_a_plugin_class_may_read_train_and_test_cfg_keys_of_its_own(tmp_path: Path) -> None:
    """A plugin's (or custom_imports') head or detector may read keys rdet's do not: its config is
    not checked there, while the same key on rdet's own classes is an error."""
    from rdet_models.detectors import RotatedRetinaNet
    from rdet_models.registry import MODELS

    class PluginRetinaNet(RotatedRetinaNet):  # stands for a class registered by a plugin
        pass

    PluginRetinaNet.__module__ = "my_plugin.detectors"
    MODELS.register_module(name="TypoTestPluginRetinaNet", module=PluginRetinaNet, force=True)
    try:
        _check_plugin_configs(tmp_path, PluginRetinaNet)
    finally:
        MODELS._module_dict.pop("TypoTestPluginRetinaNet", None)


def _check_plugin_configs(tmp_path: Path, plugin_class: type) -> None:
    from rdet_apps.engine.config_checks import foreign_model_types

    line = "model = dict(test_cfg=dict(my_own_thr=0.5))"
    with pytest.raises(ConfigKeyError, match=r"model\.test_cfg\.my_own_thr"):
        check_model_config(_config(tmp_path, line).model)
    cfg = _config(tmp_path, "model = dict(type='TypoTestPluginRetinaNet', test_cfg=dict(my_own_thr=0.5))")
    assert foreign_model_types(cfg.model) == ["TypoTestPluginRetinaNet"]
    check_model_config(cfg.model)
    check_model_config(
        {"type": "RotatedRetinaNet", "bbox_head": {"type": plugin_class}, "test_cfg": {"x": 1}}
    )


def test_init_detector_refuses_a_typod_test_cfg_key(tmp_path: Path) -> None:
    """`rdet test`, `rdet infer`, serving and the Python API all build through init_detector."""
    from rdet_apps.apis import init_detector

    with pytest.raises(ConfigKeyError, match=r"model\.test_cfg\.score_th: .*score_thr"):
        init_detector(_config(tmp_path, "model = dict(test_cfg=dict(score_th=0.5))"), None, device="cpu")
