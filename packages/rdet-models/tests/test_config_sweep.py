"""Every MMRotate 0.3.4 model config (all folders of ../shared/configs/mmrotate-0.3.4) builds, trains a
step and runs a test forward with a small backbone. A config may skip only while a type it names is
in ``LATER_ISSUES`` (not registered yet); anything else missing fails.

Each family shrinks its configs in one place: ``FAMILY_OVERRIDES[detector type]`` gives the dotted
overrides for a config's model dict, ``BACKBONE_OVERRIDES[backbone type]`` then replaces the
backbone (and the neck's input channels) for non-ResNet backbones, and ``FAMILY_LOSSES[detector
type]`` names the losses a training step returns. Configs with ``fp16`` run their training step
under CPU autocast (bfloat16)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import rdet_models
from rdet_core import Config
from rdet_models.registry import MODELS

SHARED = Path(os.environ.get("RDET_SHARED", Path(__file__).resolve().parents[4] / "shared"))
CONFIGS = SHARED / "configs" / "mmrotate-0.3.4"
#: where the sweep runs: ``RDET_TEST_DEVICE=cuda`` makes it one training step and one test
#: forward of every config on the GPU (benchmarks/gpu.sh's ``families`` step)
DEVICE = torch.device(os.environ.get("RDET_TEST_DEVICE", "cpu"))
FILES = (
    sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.glob("*/*.py") if p.parent.name != "_base_")
    if CONFIGS.is_dir()
    else []
)


# What later issues bring; a config may skip only for these. Anything else missing fails,
# so that a component of this issue that stops being registered cannot hide behind a skip.
LATER_ISSUES: set[str] = set()  # every MMRotate 0.3.4 model config builds now (issue 17)


def missing_piece(model_cfg: dict) -> str | None:
    """What a config needs that rdet_models does not have yet (all of it), or None.

    Fails the test when a missing type is not one of ``LATER_ISSUES``."""
    missing = []
    for key in ("type", "backbone", "neck", "bbox_head", "rpn_head", "roi_head", "fam_head", "odm_head"):
        cfg = model_cfg if key == "type" else model_cfg.get(key)
        if cfg is not None and MODELS.get(cfg["type"]) is None:
            missing.append(f"{'detector' if key == 'type' else key} {cfg['type']}")
    for cfg in model_cfg.get("refine_heads") or []:
        if MODELS.get(cfg["type"]) is None:
            missing.append(f"refine_heads {cfg['type']}")
    unexpected = [m for m in missing if m.split()[-1] not in LATER_ISSUES]
    if unexpected:
        pytest.fail(f"not registered, and not a later issue's: {', '.join(unexpected)}")
    return f"{', '.join(dict.fromkeys(missing))} (later issues)" if missing else None


def small_batch(num_classes: int) -> tuple[torch.Tensor, list[dict], list[torch.Tensor], list[torch.Tensor]]:
    torch.manual_seed(0)
    img = torch.randn(2, 3, 128, 160)
    metas = [
        dict(
            img_shape=(128, 160, 3),
            pad_shape=(128, 160, 3),
            ori_shape=(128, 160, 3),
            scale_factor=torch.ones(4).numpy(),
            flip=False,
        )
        for _ in range(2)
    ]
    gt_bboxes = [
        torch.tensor([[50.0, 40.0, 40.0, 16.0, 0.3], [100.0, 90.0, 24.0, 30.0, -0.7]]),
        torch.zeros((0, 5)),  # an image without ground truth
    ]
    gt_labels = [torch.tensor([0, num_classes - 1]), torch.zeros(0, dtype=torch.long)]
    return img, metas, gt_bboxes, gt_labels


def two_stage_overrides(model_cfg: dict) -> dict:
    """The small-backbone overrides of the Oriented R-CNN golden case, for any two-stage config
    (RoI Transformer's per-stage lists included), with fewer proposals."""
    over = {
        k: v
        for k, v in SMALL_TWO_STAGE.items()
        if not k.startswith("model.roi_head.bbox")  # set per stage below
    }
    roi = model_cfg["roi_head"]
    for part, keys in (
        ("bbox_roi_extractor", {"out_channels": 32}),
        ("bbox_head", {"in_channels": 32, "fc_out_channels": 64}),
    ):
        stages = range(len(roi[part])) if isinstance(roi[part], list) else [None]
        for i in stages:
            for k, v in keys.items():
                over[f"model.roi_head.{part}{'' if i is None else f'.{i}'}.{k}"] = v
    return over


SMALL_TWO_STAGE = {
    "model.backbone.depth": 18,
    "model.backbone.base_channels": 16,
    "model.backbone.init_cfg": None,
    "model.neck.in_channels": [16, 32, 64, 128],
    "model.neck.out_channels": 32,
    "model.rpn_head.in_channels": 32,
    "model.rpn_head.feat_channels": 32,
    "model.train_cfg.rpn_proposal.nms_pre": 300,
    "model.train_cfg.rpn_proposal.max_per_img": 200,
    "model.test_cfg.rpn.nms_pre": 300,
    "model.test_cfg.rpn.max_per_img": 200,
}


def refine_overrides(model_cfg: dict, small: dict) -> dict:
    """The golden S2A-Net / R3Det cases' small-backbone overrides for any S2A-Net or R3Det
    config (every refine stage and feature refinement module); ``small``: the single-stage ones."""
    over = {k: v for k, v in small.items() if not k.startswith("model.bbox_head")}
    if model_cfg["type"] == "S2ANet":
        for key in (
            "model.fam_head.in_channels",
            "model.fam_head.feat_channels",
            "model.align_cfgs.channels",
        ):
            over[key] = 32
        over["model.odm_head.in_channels"] = over["model.odm_head.feat_channels"] = 32
        return over
    over.update({k: v for k, v in small.items() if k.startswith("model.bbox_head")})
    over["model.bbox_head.stacked_convs"] = 2
    for i in range(len(model_cfg["refine_heads"])):
        over[f"model.frm_cfgs.{i}.in_channels"] = 32
        over[f"model.refine_heads.{i}.in_channels"] = 32
        over[f"model.refine_heads.{i}.feat_channels"] = 32
        over[f"model.refine_heads.{i}.stacked_convs"] = 2
    return over


def expected_losses(model_cfg: dict) -> set[str]:
    if model_cfg["type"] in FAMILY_LOSSES:
        return FAMILY_LOSSES[model_cfg["type"]](model_cfg)
    if model_cfg["type"] == "S2ANet":
        return {f"{stage}.{t}" for stage in ("fam", "odm") for t in ("loss_cls", "loss_bbox")}
    if model_cfg["type"] == "R3Det":
        stages = ["s0"] + [f"sr{i}" for i in range(len(model_cfg["refine_heads"]))]
        return {f"{stage}.{t}" for stage in stages for t in ("loss_cls", "loss_bbox")}
    if "roi_head" not in model_cfg:
        head = model_cfg["bbox_head"]
        if head["type"] in ("RotatedFCOSHead", "CSLRFCOSHead"):
            separate = head["type"] == "CSLRFCOSHead" or head.get("separate_angle", False)
            return {"loss_cls", "loss_bbox", "loss_centerness"} | ({"loss_angle"} if separate else set())
        return {"loss_cls", "loss_bbox"} | ({"loss_angle"} if head["type"] == "CSLRRetinaHead" else set())
    roi = model_cfg["roi_head"]
    terms = {"loss_cls", "acc", "loss_bbox"} | (
        {"loss_fix", "loss_ratio"} if roi["type"] == "GVRatioRoIHead" else set()
    )
    if roi["type"] == "RoITransRoIHead":
        terms = {f"s{i}.{t}" for i in range(roi["num_stages"]) for t in terms}
    return {"loss_rpn_cls", "loss_rpn_bbox"} | terms


#: detector type -> (model dict, the single-stage small overrides) -> dotted overrides
FAMILY_OVERRIDES: dict[str, Callable[[dict, dict], dict]] = {}
#: backbone type -> (model dict) -> dotted overrides replacing the ResNet-18 ones (backbone and neck input)
BACKBONE_OVERRIDES: dict[str, Callable[[dict], dict]] = {}
#: detector type -> (model dict) -> the loss names of a training step
FAMILY_LOSSES: dict[str, Callable[[dict], set[str]]] = {}

#: ReDet: the golden case's ReResNet-18 (16 stem and base channels: 2 regular fields of the 8
#: orientations) and 32-channel ReFPN, no ImageNet checkpoint (test_redet.py holds the golden case)
FAMILY_OVERRIDES["ReDet"] = lambda model_cfg, small: {
    **two_stage_overrides(model_cfg),
    "model.backbone.stem_channels": 16,
    "model.backbone.pretrained": None,
}
#: the RepPoints family (Rotated RepPoints, SASM, CFA, Oriented RepPoints, G-Rep): the golden
#: cases' 32-channel point convolutions; loss names by head type
FAMILY_OVERRIDES["RotatedRepPoints"] = lambda model_cfg, small: {
    **small,
    "model.bbox_head.point_feat_channels": 32,
}
POINTSET_LOSSES: dict[str, set[str]] = {
    "RotatedRepPointsHead": {"loss_cls", "loss_pts_init", "loss_pts_refine"},
    "SAMRepPointsHead": {"loss_cls", "loss_pts_init", "loss_pts_refine"},
    "OrientedRepPointsHead": {
        "loss_cls",
        "loss_pts_init",
        "loss_pts_refine",
        "loss_spatial_init",
        "loss_spatial_refine",
    },
    "KLDRepPointsHead": {"loss_cls", "loss_pts_init", "loss_pts_refine"},
}
FAMILY_LOSSES["RotatedRepPoints"] = lambda model_cfg: POINTSET_LOSSES[model_cfg["bbox_head"]["type"]]
#: a 4-stage Swin at 1/4 width, one block per stage (test_swin.py checks the full-size names)
BACKBONE_OVERRIDES["SwinTransformer"] = lambda model_cfg: {
    "model.backbone.embed_dims": 24,
    "model.backbone.depths": [1, 1, 1, 1],
    "model.backbone.num_heads": [1, 2, 2, 4],
    "model.backbone.init_cfg": None,
    "model.neck.in_channels": [24, 48, 96, 192],
}
#: a 4-stage ConvNeXt arch of 16..128 channels, one block per stage (test_convnext.py: 'tiny')
BACKBONE_OVERRIDES["mmcls.ConvNeXt"] = lambda model_cfg: {
    "model.backbone.arch": {"_delete_": True, "depths": [1, 1, 1, 1], "channels": [16, 32, 64, 128]},
    "model.backbone.init_cfg": None,
    "model.neck.in_channels": [16, 32, 64, 128],
}


def sweep_overrides(model_cfg: dict, small: dict) -> dict:
    """The dotted overrides that shrink a config's model for the sweep (see the module docstring)."""
    if model_cfg["type"] in FAMILY_OVERRIDES:
        over = FAMILY_OVERRIDES[model_cfg["type"]](model_cfg, small)
    elif "roi_head" in model_cfg:
        over = two_stage_overrides(model_cfg)
    elif model_cfg["type"] in ("S2ANet", "R3Det"):
        over = refine_overrides(model_cfg, small)
    else:
        over = dict(small)
    backbone = model_cfg["backbone"]["type"]
    if backbone in BACKBONE_OVERRIDES:
        over = {
            k: v for k, v in over.items() if not k.startswith(("model.backbone.", "model.neck.in_channels"))
        }
        over.update(BACKBONE_OVERRIDES[backbone](model_cfg))
    return over


@pytest.mark.skipif(not FILES, reason="MMRotate's config files (../shared/configs) are absent")
@pytest.mark.parametrize("config", FILES)
def test_config_builds_trains_and_tests(config: str, small_overrides: dict) -> None:
    cfg = Config.fromfile(CONFIGS / config)
    reason = missing_piece(cfg.model)
    if reason is not None:
        pytest.skip(f"needs {reason}")
    cfg.merge_from_dict(sweep_overrides(cfg.model, small_overrides))
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    model.to(DEVICE)
    model.train()
    img, metas, gt_bboxes, gt_labels = small_batch(model.num_classes)
    img, gt_bboxes, gt_labels = (
        img.to(DEVICE),
        [b.to(DEVICE) for b in gt_bboxes],
        [g.to(DEVICE) for g in gt_labels],
    )
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled="fp16" in cfg):
        losses = model.forward_train(img, metas, gt_bboxes, gt_labels)
    assert set(losses) == expected_losses(cfg.model)
    rdet_models.check_finite_losses(losses, iteration=0)
    total, log_vars = rdet_models.parse_losses(losses)
    total.backward()
    assert log_vars["loss"] > 0
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, img=[img], img_metas=[metas])
    assert len(results) == 2 and len(results[0]) == model.num_classes
    assert all(r.shape[1:] == (6,) for r in results[0])


def _head_signature(model_cfg: dict) -> str:
    """A config's detector and head types: one config of each is enough for the AMP check."""
    heads = []
    for key in ("bbox_head", "rpn_head", "fam_head", "odm_head"):
        if model_cfg.get(key):
            heads.append(model_cfg[key]["type"])
    roi = model_cfg.get("roi_head") or {}
    for cfg in roi.get("bbox_head") if isinstance(roi.get("bbox_head"), list) else [roi.get("bbox_head")]:
        if cfg:
            heads.append(cfg["type"])
    heads += [cfg["type"] for cfg in model_cfg.get("refine_heads") or []]
    return "/".join([model_cfg["type"], *heads])


def _one_config_per_head_signature() -> list[str]:
    chosen: dict[str, str] = {}
    for f in FILES:
        chosen.setdefault(_head_signature(Config.fromfile(CONFIGS / f).model), f)
    return sorted(chosen.values())


@pytest.mark.skipif(not FILES, reason="MMRotate's config files (../shared/configs) are absent")
@pytest.mark.parametrize("config", _one_config_per_head_signature() if FILES else [])
def test_heads_predict_in_float32_under_bf16(config: str, small_overrides: dict) -> None:
    """Every head of every family has prediction layers by MMRotate's names
    (``rdet_models.precision``), and under bf16 autocast with them in float32 every floating
    tensor a head returns is float32: no prediction comes out of a bf16 layer; every box its
    coders encode or decode is exactly the float32 one; the losses and the test forward run
    (float32 detections). Bit-identical to float32 when autocast is off."""
    from rdet_models.precision import float32_predictions, head_modules, prediction_layers

    cfg = Config.fromfile(CONFIGS / config)
    cfg.merge_from_dict(sweep_overrides(cfg.model, small_overrides))
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    model.to(DEVICE).train()
    img, metas, gt_bboxes, gt_labels = small_batch(model.num_classes)
    img, gt_bboxes, gt_labels = (
        img.to(DEVICE),
        [b.to(DEVICE) for b in gt_bboxes],
        [g.to(DEVICE) for g in gt_labels],
    )
    names = {id(m): n for n, m in model.named_modules()}
    heads = list(head_modules(model))
    assert heads and all(list(prediction_layers(h)) for h in heads), [
        names[id(h)] for h in heads if not list(prediction_layers(h))
    ]
    torch.manual_seed(0)
    reference = model.forward_train(img, metas, gt_bboxes, gt_labels)
    float32_predictions(model)
    torch.manual_seed(0)
    same = model.forward_train(img, metas, gt_bboxes, gt_labels)
    for key, value in reference.items():
        for a, b in zip(
            value if isinstance(value, list) else [value],
            same[key] if isinstance(same[key], list) else [same[key]],
        ):
            assert torch.equal(a, b), key

    dtypes: dict[str, set[torch.dtype]] = {}

    def tensors(value: object) -> list[torch.Tensor]:
        if isinstance(value, torch.Tensor):
            return [value]
        if isinstance(value, (list, tuple)):
            return [t for v in value for t in tensors(v)]
        if isinstance(value, dict):
            return [t for v in value.values() for t in tensors(v)]
        return []

    def record(module: torch.nn.Module, args: object, output: object) -> None:
        inputs = {id(t) for t in tensors(args)}  # Oriented RepPoints hands its features on
        for value in tensors(output):
            if value.is_floating_point() and id(value) not in inputs:
                dtypes.setdefault(names[id(module)], set()).add(value.dtype)

    # every box coder's encode / decode call under autocast, to redo in float32 afterwards
    calls: list[tuple[str, object, tuple, dict, object]] = []
    coders = {
        id(c): (f"{names[id(h)]}.{attr}", c)
        for h in heads
        for attr, c in vars(h).items()
        if attr.endswith("_coder") and callable(getattr(c, "decode", None))
    }
    for name, coder in coders.values():
        for method in ("encode", "decode"):
            plain = getattr(coder, method)

            def spy(*args, _plain=plain, _name=f"{name}.{method}", **kwargs):  # type: ignore[no-untyped-def]
                out = _plain(*args, **kwargs)
                calls.append((_name, _plain, args, kwargs, out))
                return out

            setattr(coder, method, spy)
    handles = [h.register_forward_hook(record) for h in heads]
    torch.manual_seed(0)
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        model.forward_train(img, metas, gt_bboxes, gt_labels)
    model.eval()
    with torch.no_grad(), torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        results = model(return_loss=False, rescale=True, img=[img], img_metas=[metas])
    for h in handles:
        h.remove()
    for _, coder in coders.values():
        vars(coder).pop("encode", None), vars(coder).pop("decode", None)
    assert dtypes, "no head ran"
    assert {n: d for n, d in dtypes.items() if d != {torch.float32}} == {}
    assert all(r.dtype == np.float32 and np.isfinite(r).all() for image in results for r in image)
    # the boxes were decoded (and targets encoded) exactly as in float32 (FCOS's coder rotated
    # its distances by a bf16 matrix product: a centre 0.15 px off)
    assert not coders or calls
    for name, plain, args, kwargs, out in calls:
        with torch.no_grad():
            again = plain(*args, **kwargs)
        assert torch.equal(out, again), name


def test_sweep_counts() -> None:
    """All 82 of MMRotate 0.3.4's model configs run: no config skips, nothing is left for later."""
    if not FILES:
        pytest.skip("MMRotate's config files are absent")
    runnable = [f for f in FILES if missing_piece(Config.fromfile(CONFIGS / f).model) is None]
    assert len(FILES) == 82 and len(runnable) == 82 and not LATER_ISSUES


@pytest.mark.skipif(not FILES, reason="MMRotate's config files are absent")
def test_unmodified_config_builds_and_init_explains_pretrained(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """MMRotate's configs name torchvision://resnet50: building works; init_weights() says what to do."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cfg = Config.fromfile(CONFIGS / "rotated_retinanet" / "rotated_retinanet_obb_r50_fpn_1x_dota_le90.py")
    model = rdet_models.build_detector(cfg.model)
    assert model.backbone.layer4[2].conv3.out_channels == 2048
    with pytest.raises(rdet_models.CheckpointNotFoundError, match="torchvision://resnet50"):
        model.init_weights()


@pytest.mark.skipif(not FILES, reason="MMRotate's config files (../shared/configs) are absent")
def test_sweep_covers_every_family() -> None:
    """82 configs in all folders, all run: among them 4 RotatedFCOS, 4 S2ANet, 12 R3Det (2 on
    Swin), 22 two-stage ones (the 14 of the two-stage folders, 2 on Swin, kfiou/'s 4 RoI
    Transformers (2 on Swin) and the 4 ReDets), the ConvNeXt RetinaNet and 9 point-set detectors
    (2 Rotated RepPoints, 1 SASM, 3 CFA, 2 Oriented RepPoints, 1 G-Rep)."""
    configs = {f: Config.fromfile(CONFIGS / f).model for f in FILES}
    assert len(configs) == 82
    types = [m["type"] for m in configs.values()]
    assert (types.count("RotatedFCOS"), types.count("S2ANet"), types.count("R3Det")) == (4, 4, 12)
    assert (types.count("ReDet"), types.count("RotatedRepPoints")) == (4, 9)
    two_stage = [f for f, m in configs.items() if "roi_head" in m]
    assert len(two_stage) == 22 and sum("swin" in f for f in two_stage) == 4
    assert sum("swin" in f for f in configs) == 6 and sum("convnext" in f for f in configs) == 1
    heads = [m["bbox_head"]["type"] for m in configs.values() if m["type"] == "RotatedRepPoints"]
    assert sorted(set(heads)) == [
        "KLDRepPointsHead",
        "OrientedRepPointsHead",
        "RotatedRepPointsHead",
        "SAMRepPointsHead",
    ]
    assert sum(bool(m["bbox_head"].get("use_reassign")) for m in configs.values() if "bbox_head" in m) == 3
