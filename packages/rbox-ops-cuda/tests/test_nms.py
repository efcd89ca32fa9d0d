"""nms_rotated, nms and batched_nms: golden outputs, class-aware NMS, ties, NaN, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rbox_ops import batched_nms, box_iou_rotated, nms, nms_rotated


@pytest.mark.parametrize("case", ["nms_0", "nms_1", "nms_2"])
def test_golden_nms_rotated(golden, backend, device, case):
    g = golden("nms")
    b = torch.from_numpy(g[f"{case}/input/boxes"]).to(device)
    s = torch.from_numpy(g[f"{case}/input/scores"]).to(device)
    dets, keep = nms_rotated(b, s, float(g[f"{case}/input/iou_thr"]))
    np.testing.assert_array_equal(keep.cpu().numpy(), g[f"{case}/output/keep"])
    np.testing.assert_allclose(dets.cpu().numpy(), g[f"{case}/output/dets"], rtol=1e-6)


@pytest.mark.parametrize("case", ["batched_nms_0", "batched_nms_1", "batched_nms_2"])
def test_golden_batched_cases(golden, backend, device, case):
    """mmcv 1.7.2's CPU nms_rotated ignores ``labels`` (its CUDA kernel honours them), so
    these golden `keep`s equal the class-agnostic ones. We are class-aware: the golden
    answer is reproduced without labels, and with labels we match NMS run class by class."""
    g = golden("nms")
    b = torch.from_numpy(g[f"{case}/input/boxes"]).to(device)
    s = torch.from_numpy(g[f"{case}/input/scores"]).to(device)
    labels = torch.from_numpy(g[f"{case}/input/labels"]).to(device)
    thr = float(g[f"{case}/input/iou_thr"])
    _, keep = nms_rotated(b, s, thr)
    np.testing.assert_array_equal(keep.cpu().numpy(), g[f"{case}/output/keep"])
    dets, keep = nms_rotated(b, s, thr, labels)
    expected = []
    for c in labels.unique():
        idx = (labels == c).nonzero(as_tuple=True)[0]
        expected.append(idx[nms_rotated(b[idx], s[idx], thr)[1]])
    expected = torch.cat(expected)
    expected = expected[s[expected].sort(descending=True, stable=True).indices]
    torch.testing.assert_close(keep, expected)
    assert torch.equal(dets[:, 5], s[keep])


def test_golden_multiclass(golden, backend, device):
    """MMRotate's multiclass_nms_rotated, written with batched_nms."""
    g = golden("nms")
    boxes = torch.from_numpy(g["multiclass/input/boxes"]).to(device)
    multi_scores = torch.from_numpy(g["multiclass/input/scores"]).to(device)
    num_classes = multi_scores.shape[1] - 1
    scores = multi_scores[:, :-1].reshape(-1)
    bboxes = boxes[:, None].expand(-1, num_classes, 5).reshape(-1, 5)
    labels = torch.arange(num_classes, device=device).repeat(boxes.shape[0])
    valid = scores > float(g["multiclass/input/score_thr"])
    bboxes, scores, labels = bboxes[valid], scores[valid], labels[valid]
    cfg = dict(type="nms_rotated", iou_threshold=float(g["multiclass/input/iou_thr"]))
    cfg["max_num"] = int(g["multiclass/input/max_num"])
    dets, keep = batched_nms(bboxes, scores, labels, cfg)
    np.testing.assert_allclose(dets.cpu().numpy(), g["multiclass/output/dets"], rtol=1e-6)
    np.testing.assert_array_equal(labels[keep].cpu().numpy(), g["multiclass/output/labels"])


def test_clustered_backends_agree(built, boxes):
    from rbox_ops.nms_rotated import nms_rotated_torch

    b, s = boxes.clustered(3000, 60, seed=3)
    for thr in (0.1, 0.5):
        compiled = torch.ops.rbox_ops.nms_rotated(b, s, thr, None)
        assert torch.equal(compiled, nms_rotated_torch(b, s, thr))
        # no kept pair overlaps above the threshold; every removed box is covered by a kept one
        iou = box_iou_rotated(b[compiled], b[compiled]).fill_diagonal_(0)
        assert iou.max() < thr
        removed = torch.ones(len(b), dtype=torch.bool)
        removed[compiled] = False
        assert (box_iou_rotated(b[removed], b[compiled]).max(1).values >= thr).all()


def test_ties_keep_input_order(backend, device):
    b = torch.tensor([[10.0, 10, 4, 4, 0]] * 3 + [[50.0, 50, 4, 4, 0]], device=device)
    s = torch.tensor([0.5, 0.5, 0.5, 0.9], device=device)
    _dets, keep = nms_rotated(b, s, 0.5)
    assert keep.tolist() == [3, 0]
    xyxy = torch.tensor([[0.0, 0, 4, 4]] * 3 + [[50.0, 50, 54, 54]], device=device)
    _, keep = nms(xyxy, s, 0.5)
    assert keep.tolist() == [3, 0]


def test_non_finite_boxes_and_scores_raise_naming_the_row(backend, device):
    """mmcv keeps a NaN box in its output (this did too: IoU 0 with everything)."""
    b = torch.tensor([[10.0, 10, 4, 4, 0], [10.0, 10, 4, 4, 0.1], [20.0, 20, 4, 4, 0]], device=device)
    s = torch.tensor([0.99, 0.9, 0.8], device=device)
    for bad in (float("nan"), float("inf"), -float("inf")):
        nan_box = b.clone()
        nan_box[1, 2] = bad
        with pytest.raises(ValueError, match=rf"dets must be finite, got row 1: \[10\.0, 10\.0, {bad}, 4\.0"):
            nms_rotated(nan_box, s, 0.5)
        nan_score = s.clone()
        nan_score[2] = bad
        with pytest.raises(ValueError, match=rf"scores must be finite, got row 2: {bad}"):
            nms_rotated(b, nan_score, 0.5, labels=torch.zeros(3, dtype=torch.long, device=device))
        with pytest.raises(ValueError, match=r"boxes must be finite, got row 1"):
            batched_nms(
                nan_box, s, torch.tensor([0, 1, 2], device=device), dict(type="nms_rotated", iou_thr=0.5)
            )
        with pytest.raises(ValueError, match=r"scores must be finite, got row 2"):
            batched_nms(b[:, :4], nan_score, torch.tensor([0, 1, 2], device=device), None)
        xyxy = torch.tensor([[0.0, 0, 4, 4], [0.0, 0, 4, bad], [0.0, 0, 4, 4.5]], device=device)
        with pytest.raises(ValueError, match=r"boxes must be finite, got row 1"):
            nms(xyxy, s, 0.5)
        with pytest.raises(ValueError, match=r"boxes must be finite, got row 1"):
            nms(xyxy.cpu().numpy(), s.cpu().numpy(), 0.5)  # numpy in
        with pytest.raises(ValueError, match=r"boxes must be finite, got row 1"):
            # an inf box once made every class offset inf (or NaN): the row named is the bad one
            batched_nms(xyxy, s, torch.tensor([0, 1, 1], device=device), dict(type="nms", iou_threshold=0.5))


@pytest.mark.parametrize("thr", ["0.1", True, None, [0.1], float("nan")])
def test_iou_threshold_must_be_a_real_number(thr):
    b = torch.tensor([[10.0, 10, 4, 4, 0], [10.5, 10, 4, 4, 0]])
    s = torch.tensor([0.9, 0.8])
    error = ValueError if thr != thr else TypeError  # NaN: a number, but it suppresses nothing
    match = r"iou_threshold must be a (real )?number, got"
    with pytest.raises(error, match=match):
        nms_rotated(b, s, thr)
    with pytest.raises(error, match=match):
        nms(b[:, :4], s, thr)
    if thr is not None:  # batched_nms: a cfg without a threshold is its own error
        with pytest.raises(error, match=match):
            batched_nms(b, s, torch.zeros(2, dtype=torch.long), dict(type="nms_rotated", iou_threshold=thr))


def test_numeric_iou_thresholds_are_accepted():
    b = torch.tensor([[10.0, 10, 4, 4, 0], [10.5, 10, 4, 4, 0]])
    s = torch.tensor([0.9, 0.8])
    for thr in (0.5, np.float32(0.5), np.float64(0.5), torch.tensor(0.5)):  # IoU 0.78
        assert nms_rotated(b, s, thr)[1].tolist() == [0]
    assert nms_rotated(b, s, 1)[1].tolist() == [0, 1]


def test_nan_boxes_do_not_suppress_when_traced(backend, device, monkeypatch):
    """Under torch.compile / torch.export the finiteness check cannot run (a data-dependent
    branch); there a NaN box has IoU 0 with everything, in every backend."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    b = torch.tensor([[10.0, 10, 4, 4, 0], [10.0, 10, 4, 4, 0.1], [20.0, 20, 4, 4, 0]], device=device)
    b = torch.cat((torch.full((1, 5), float("nan"), device=device), b))
    s = torch.tensor([0.99, 0.9, 0.8, 0.7], device=device)
    _, keep = nms_rotated(b, s, 0.5)
    assert keep.tolist() == [0, 1, 3]
    aligned = torch.tensor([[float("nan")] * 4, [0.0, 0, 4, 4], [0.0, 0, 4, 4.5]], device=device)
    _, keep = nms(aligned, s[:3], 0.5)
    assert keep.tolist() == [0, 1]


def test_empty(backend, device):
    dets, keep = nms_rotated(torch.zeros(0, 5, device=device), torch.zeros(0, device=device), 0.5)
    assert dets.shape == (0, 6) and keep.shape == (0,) and keep.dtype == torch.long
    dets, keep = nms(torch.zeros(0, 4, device=device), torch.zeros(0, device=device), 0.5)
    assert dets.shape == (0, 5) and keep.shape == (0,)
    dets, keep = batched_nms(
        torch.zeros(0, 5, device=device),
        torch.zeros(0, device=device),
        torch.zeros(0, dtype=torch.long, device=device),
        dict(type="nms_rotated", iou_threshold=0.5),
    )
    assert dets.shape == (0, 6) and keep.shape == (0,)


def _nms_reference(b: np.ndarray, s: np.ndarray, thr: float, offset: int) -> list[int]:
    order = np.argsort(-s, kind="stable")
    keep, removed = [], set()
    for a, i in enumerate(order):
        if i in removed:
            continue
        keep.append(int(i))
        for j in order[a + 1 :]:
            w = max(0.0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]) + offset)
            h = max(0.0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]) + offset)
            area = lambda k: (b[k, 2] - b[k, 0] + offset) * (b[k, 3] - b[k, 1] + offset)  # noqa: E731
            if w * h / (area(i) + area(j) - w * h) > thr:
                removed.add(j)
    return keep


@pytest.mark.parametrize("offset", [0, 1])
def test_nms_axis_aligned(backend, device, offset, boxes):
    r = boxes.random(300, 5).double().numpy()
    xyxy = np.concatenate((r[:, :2] - r[:, 2:4] / 2, r[:, :2] + r[:, 2:4] / 2), 1)
    s = np.random.default_rng(0).random(300)
    _dets, keep = nms(torch.from_numpy(xyxy).to(device), torch.from_numpy(s).to(device), 0.3, offset)
    assert keep.tolist() == _nms_reference(xyxy, s, 0.3, offset)
    # numpy in, numpy out; score_threshold and max_num as mmcv
    dets_np, keep_np = nms(xyxy, s, 0.3, offset, score_threshold=0.5, max_num=5)
    assert isinstance(dets_np, np.ndarray) and dets_np.shape == (len(keep_np), 5) and len(keep_np) <= 5
    assert (s[keep_np] > 0.5).all()


def test_batched_nms_axis_aligned(backend, device):
    b = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], device=device)
    s = torch.tensor([0.9, 0.8, 0.7], device=device)
    idxs = torch.tensor([0, 0, 1], device=device)
    dets, keep = batched_nms(b, s, idxs, dict(type="nms", iou_threshold=0.5))
    assert keep.tolist() == [0, 2] and dets.shape == (2, 5)
    _, keep = batched_nms(b, s, idxs, dict(type="nms", iou_threshold=0.5), class_agnostic=True)
    assert keep.tolist() == [0]
    dets, keep = batched_nms(b, s, idxs, None)
    assert keep.tolist() == [0, 1, 2]


def test_bad_input(boxes):
    b, s = boxes.random(4), torch.rand(4)
    with pytest.raises(ValueError, match=r"dets must have shape \(N, 5\), got \(4, 4\)"):
        nms_rotated(b[:, :4], s, 0.5)
    with pytest.raises(ValueError, match="scores must have 4 rows"):
        nms_rotated(b, s[:3], 0.5)
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        nms_rotated(b, s, 0.5, labels=s)
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\)"):
        nms(b, s, 0.5)
    with pytest.raises(ValueError, match="offset must be 0 or 1"):
        nms(b[:, :4], s, 0.5, offset=2)
    with pytest.raises(ValueError, match="type must be 'nms' or 'nms_rotated'"):
        batched_nms(b, s, torch.zeros(4, dtype=torch.long), dict(type="soft_nms", iou_threshold=0.5))


def test_nan_scores_are_not_kept_and_suppress_nothing_when_traced(backend, device, monkeypatch):
    """mmcv sorts a NaN score first: that box is kept and suppresses its valid neighbours.
    Eagerly a NaN score is a ValueError; traced (no check), it is dropped."""
    from rbox_ops import nms_rotated

    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    boxes = torch.tensor([[10.0, 10, 8, 4, 0.1], [10.5, 10, 8, 4, 0.1], [40, 40, 6, 6, 0]], device=device)
    scores = torch.tensor([float("nan"), 0.9, 0.8], device=device)
    dets, keep = nms_rotated(boxes, scores, 0.5)
    assert keep.tolist() == [1, 2] and torch.isfinite(dets).all()
    labels = torch.tensor([0, 0, 1], device=device)
    assert nms_rotated(boxes, scores, 0.5, labels)[1].tolist() == [1, 2]
    all_nan = torch.full((3,), float("nan"), device=device)
    assert nms_rotated(boxes, all_nan, 0.5)[1].numel() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("offset", [0, 1])
def test_compiled_axis_aligned_nms_matches_torch_on_rpn_proposals(built, dtype, offset):
    """The CPU kernel's vectorised sweep (every later box tested, verdicts ORed) keeps what the
    pure-torch code keeps, on 10,000 RPN-like proposals in 5 level groups and on exact ties: an
    IoU of exactly the threshold does not suppress (> as mmcv), duplicates do, zero-size boxes
    (IoU 0/0) do not."""
    from rbox_ops.nms import nms_torch

    g = torch.Generator().manual_seed(3)
    xy = torch.rand(10_000, 2, generator=g) * 1024
    wh = torch.rand(10_000, 2, generator=g) * 248 + 8
    level = torch.arange(5).repeat_interleave(2000).to(dtype)[:, None] * 2000  # batched_nms's offsets
    boxes = (torch.cat((xy, xy + wh), 1) + level).to(dtype)
    scores = torch.rand(10_000, generator=g).to(dtype)
    for thr in (0.8, 0.3):
        compiled = torch.ops.rbox_ops.nms(boxes, scores, thr, offset)
        assert torch.equal(compiled, nms_torch(boxes, scores, thr, offset)), thr
        assert 0 < len(compiled) < len(boxes)
    ties = torch.tensor(
        [[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 10], [20, 20, 20, 20], [20, 20, 20, 20], [0, 0, 10, 5]],
        dtype=dtype,
    )
    s = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], dtype=dtype)
    for thr in (0.5, 0.49):
        compiled = torch.ops.rbox_ops.nms(ties, s, thr, 0)
        assert torch.equal(compiled, nms_torch(ties, s, thr, 0)), thr
    assert torch.ops.rbox_ops.nms(ties, s, 0.5, 0).tolist() == [0, 1, 3, 4]


def test_compiled_axis_aligned_nms_parallel_sweeps_match_torch(built):
    """Past 32,768 later boxes a kept box's sweep runs in parallel chunks (each chunk writes its
    own range of the verdicts): 40,000 boxes, 400 objects jittered, the same keep as torch."""
    from rbox_ops.nms import nms_torch

    g = torch.Generator().manual_seed(5)
    objects = torch.rand(400, 2, generator=g) * 4096
    xy = objects[torch.randint(400, (40_000,), generator=g)] + torch.randn(40_000, 2, generator=g) * 6
    wh = torch.rand(40_000, 2, generator=g) * 40 + 20
    boxes = torch.cat((xy, xy + wh), 1)
    scores = torch.rand(40_000, generator=g)
    compiled = torch.ops.rbox_ops.nms(boxes, scores, 0.3, 0)
    assert torch.equal(compiled, nms_torch(boxes, scores, 0.3, 0))
    assert 400 <= len(compiled) < 10_000
