"""init_detector + inference_detector against MMRotate 0.3.4 (golden/models: Rotated RetinaNet,
Rotated FCOS, Rotated ATSS, S2A-Net, R3Det)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rbox_geometry import rbbox_overlaps

#: golden model cases run through init_detector + inference_detector
PARITY_CASES = (
    "retinanet_obb_le90",
    "rotated_fcos_le90",
    "rotated_atss_le90",
    "s2anet_le135",
    "r3det_oc",
    "oriented_rcnn_le90",
)


@pytest.fixture(scope="module")
def retina_case(golden_case) -> dict:  # type: ignore[no-untyped-def]
    return golden_case("retinanet_obb_le90")


def match_detections(ref: np.ndarray, ours: np.ndarray) -> int:
    """How many reference rows have one of ours with rotated IoU >= 0.99 and score within 1e-3.

    A zero-width or zero-height box (random weights: FCOS's ReLU'd side distances) has IoU 0
    with everything, itself included; such a row matches a box equal to it within 1e-3 (px, rad).
    """
    if len(ref) == 0 or len(ours) == 0:
        return 0
    iou = rbbox_overlaps(ref[:, :5].astype(np.float64), ours[:, :5].astype(np.float64))
    same = np.abs(ref[:, None, :5] - ours[None, :, :5]).max(-1) <= 1e-3
    degenerate = (ref[:, 2] * ref[:, 3] <= 1e-14)[:, None]
    close = np.abs(ref[:, 5:6] - ours[None, :, 5]) <= 1e-3
    return int((((iou >= 0.99) | (degenerate & same)) & close).any(axis=1).sum())


def assert_matches_golden(case: dict, result: list[np.ndarray]) -> None:
    """Per class 98% of the reference detections matched (``match_detections``), counts within 2%."""
    assert len(result) == 15
    ref = case["result"]
    total_ref = total_ours = 0
    for c in range(15):
        r, o = ref[f"class{c:02d}"], result[c]
        assert o.dtype == np.float32 and o.shape[1:] == (6,)
        total_ref, total_ours = total_ref + len(r), total_ours + len(o)
        assert abs(len(o) - len(r)) <= max(0.02 * len(r), 0), f"class {c}: {len(o)} detections vs {len(r)}"
        if len(r):
            assert match_detections(r, o) >= 0.98 * len(r), f"class {c}"
    assert total_ref == case["num_detections"]
    assert abs(total_ours - total_ref) <= 0.02 * total_ref


@pytest.mark.parametrize("name", PARITY_CASES)
def test_checkpoint_parity(golden_case, name: str) -> None:  # type: ignore[no-untyped-def]
    """MMRotate's config + the case's overrides + its checkpoint -> per class
    98% of its detections, counts within 2%."""
    from rdet_apps.apis import inference_detector, init_detector

    case = golden_case(name)
    model = init_detector(case["config"], case["checkpoint"], device="cpu", cfg_options=case["overrides"])
    assert model.CLASSES is not None and len(model.CLASSES) == 15
    assert_matches_golden(case, inference_detector(model, str(case["image"])))


@pytest.mark.parametrize("name", ["retinanet_obb_le90", "oriented_rcnn_le90", "s2anet_le135"])
def test_fused_conv_bn_keeps_the_golden_detections(golden_case, name: str) -> None:  # type: ignore[no-untyped-def]
    """``--fuse-conv-bn`` (init_detector(fuse_conv_bn=True)): every BatchNorm of the ResNet is
    folded away, and the detections still match MMRotate's."""
    import torch

    from rdet_apps.apis import inference_detector, init_detector

    case = golden_case(name)
    model = init_detector(
        case["config"], case["checkpoint"], cfg_options=case["overrides"], fuse_conv_bn=True
    )
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert_matches_golden(case, inference_detector(model, str(case["image"])))


def test_inference_from_array_and_batch(retina_case: dict) -> None:
    import cv2

    from rdet_apps.apis import inference_detector, init_detector

    model = init_detector(
        str(retina_case["config"]), str(retina_case["checkpoint"]), cfg_options=retina_case["overrides"]
    )
    img = cv2.imread(str(retina_case["image"]))
    from_array = inference_detector(model, img)
    from_file = inference_detector(model, str(retina_case["image"]))
    for a, b in zip(from_array, from_file):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    batch = inference_detector(model, [img, img])
    assert len(batch) == 2 and all(len(r) == 15 for r in batch)


def test_missing_image_is_reported(retina_case: dict, tmp_path: Path) -> None:
    from rdet_apps.apis import inference_detector, init_detector

    model = init_detector(
        retina_case["config"], retina_case["checkpoint"], cfg_options=retina_case["overrides"]
    )
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inference_detector(model, str(tmp_path / "nope.png"))


def test_cpu_inference_keeps_conv_weights_channels_last(retina_case: dict) -> None:
    """On the CPU the conv weights are NHWC (so are the feature maps that follow them), unless
    ``channels_last=False``; the detections are the same either way."""
    import torch

    from rdet_apps.apis import inference_detector, init_detector

    args = (str(retina_case["config"]), str(retina_case["checkpoint"]))
    fast = init_detector(*args, cfg_options=retina_case["overrides"])
    plain = init_detector(*args, cfg_options=retina_case["overrides"], channels_last=False)
    convs = [m for m in fast.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    assert all(m.weight.is_contiguous() for m in plain.modules() if isinstance(m, torch.nn.Conv2d))
    feats = fast.extract_feat(torch.zeros(1, 3, 64, 64))
    assert feats[0].is_contiguous(memory_format=torch.channels_last)
    image = str(retina_case["image"])
    for a, b in zip(inference_detector(fast, image), inference_detector(plain, image)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
