"""A checkpoint that does not fit the model is an error at inference and test, not a run on random
weights (issue 15, item 1). MMCV's ``load_checkpoint(strict=False)``, which ``init_detector`` and
``tools/test.py`` use, only warns: MMRotate runs on random weights with exit status 0."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rdet_apps.apis import init_detector
from rdet_apps.cli import main
from rdet_models import CheckpointMismatchError


@pytest.fixture(scope="module")
def case(golden_case) -> dict:  # type: ignore[no-untyped-def]
    return golden_case("retinanet_obb_le90")


def test_another_architectures_checkpoint_is_refused_with_its_keys(case: dict, golden_case) -> None:  # type: ignore[no-untyped-def]
    fcos = golden_case("rotated_fcos_le90")["checkpoint"]
    with pytest.raises(CheckpointMismatchError) as err:
        init_detector(case["config"], fcos, cfg_options=case["overrides"])
    msg = str(err.value)
    assert "missing (bbox_head." in msg and "unexpected (bbox_head." in msg and str(fcos) in msg
    # MMCV's lenient load, when asked for: the shared backbone and neck are loaded
    with pytest.warns(UserWarning, match="does not fit"):
        model = init_detector(case["config"], fcos, cfg_options=case["overrides"], strict=False)
    state = torch.load(fcos, map_location="cpu", weights_only=True)["state_dict"]
    assert torch.equal(model.backbone.conv1.weight, state["backbone.conv1.weight"])


def test_a_checkpoint_of_another_depth_names_the_mismatched_shapes(case: dict, tmp_path: Path) -> None:
    """An R18 checkpoint on an R50-shaped model: the shapes differ."""
    wide = dict(case["overrides"], **{"model.backbone.base_channels": 32})
    with pytest.raises(CheckpointMismatchError, match=r"shape-mismatched \(backbone\.conv1\.weight"):
        init_detector(case["config"], case["checkpoint"], cfg_options=wide)


def test_a_checkpoint_sharing_no_key_is_refused_even_when_not_strict(case: dict, tmp_path: Path) -> None:
    torch.save({"state_dict": {"classifier.weight": torch.zeros(2, 2)}}, tmp_path / "alien.pth")
    for strict in (True, False):
        with pytest.raises(CheckpointMismatchError, match="not one key matches"):
            init_detector(
                case["config"], tmp_path / "alien.pth", cfg_options=case["overrides"], strict=strict
            )


def test_rdet_infer_refuses_a_mismatched_checkpoint_unless_no_strict(
    case: dict,
    golden_case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    fcos = golden_case("rotated_fcos_le90")["checkpoint"]
    args = [
        "infer",
        str(case["config"]),
        str(fcos),
        str(case["image"]),
        "--out-dir",
        str(tmp_path),
        "--device",
        "cpu",
    ]
    options = ["--cfg-options", *(_option(k, v) for k, v in case["overrides"].items())]
    assert main([*args, *options]) == 1
    assert "CheckpointMismatchError" in capsys.readouterr().err
    assert main([*args, *options, "--no-strict"]) == 0


def _option(key: str, value: object) -> str:
    """``key=value`` as ``--cfg-options`` reads it (lists and tuples without spaces)."""
    text = repr(value).replace(" ", "")
    return f"{key}={'None' if value is None else text}"
