"""The dataset contract at the loader: ``collate`` checks every item (``DetSample`` or Collect
dict) and names the field, the item, its file and the dataset; ``Collect`` produces the contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rdet_core.structures import DetBatch, DetSample, GroundTruth, ImageMeta, InvalidSampleError
from rdet_data import Compose, RepeatDataset, build_dataloader, collate
from rdet_data.transforms import Collect, DefaultFormatBundle


def _meta(filename: str | None = "P0001.png", shape: tuple[int, int, int] = (8, 10, 3)) -> ImageMeta:
    return ImageMeta(filename, shape, shape)


def _item(**overrides: object) -> dict:
    """A Collect dict as MMRotate's training pipeline gives it (tensors after DefaultFormatBundle)."""
    d = {
        "img": torch.zeros(3, 8, 10),
        "img_metas": _meta(),
        "gt_bboxes": torch.tensor([[4.0, 3.0, 4.0, 2.0, 0.1]]),
        "gt_labels": torch.tensor([1]),
    }
    d.update(overrides)
    return {k: v for k, v in d.items() if v is not None}


def _sample(filename: str | None = None, with_gt: bool = True, shape=(3, 6, 7)) -> DetSample:
    gt = GroundTruth(np.array([[3, 3, 2, 1, 0.5]], np.float32), np.array([0])) if with_gt else None
    return DetSample(np.ones(shape, np.float32), _meta(filename, (shape[1], shape[2], shape[0])), gt)


class _Items(torch.utils.data.Dataset):
    """A dataset returning the given items as they are."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> object:
        return self.items[i]


def test_detsamples_and_collect_dicts_collate_alike():
    batch = collate([_sample(), _item(), _sample(with_gt=True, shape=(3, 9, 4))])
    assert isinstance(batch, DetBatch) and batch.images.shape == (3, 3, 9, 10)
    assert batch.images.dtype == torch.float32 and batch.images[0, :, 6:].abs().sum() == 0
    assert [g.boxes.dtype for g in batch.gts] == [torch.float32] * 3
    assert [g.labels.dtype for g in batch.gts] == [torch.int64] * 3
    assert all(m.extra["batch_input_shape"] == (9, 10) for m in batch.metas)
    test = collate([_sample(with_gt=False), _item(gt_bboxes=None, gt_labels=None)])
    assert test.gts is None
    # numpy (H, W, C) uint8 img, float whole-number labels, flipped (negative-stride) arrays
    flipped = np.arange(8 * 10 * 3, dtype=np.uint8).reshape(8, 10, 3)[:, ::-1]
    b = collate([_item(img=flipped, gt_bboxes=np.zeros((2, 5))[::-1], gt_labels=np.array([1.0, 0.0]))])
    assert b.images.shape == (1, 3, 8, 10) and b.images[0, 0, 0, 0] == float(flipped[0, 0, 0])
    assert b.gts[0].labels.tolist() == [1, 0] and b.gts[0].labels.dtype == torch.int64


# (bad item, regex): the item is put at index 1 of a batch of the "ToyDataset" dataset
BAD = [
    ({"img": torch.zeros(3, 8, 10)},
     r"^collate: item 1 \(ToyDataset\) has no 'img_metas': a dataset's __getitem__ must return a DetSample "
     r"or a Collect dict with img, img_metas\[, gt_bboxes, gt_labels\]; see rdet_core.structures.DetSample$"),
    (_item(img=None), r"^collate: item 1 \(ToyDataset\), file P0001.png has no 'img'"),
    (_item(gt_labels=None), r"item 1 \(ToyDataset\), file P0001.png has 'gt_bboxes' but no 'gt_labels'"),
    (_item(gt_bboxes=torch.zeros(1, 4)), r"item 1 .*'gt_bboxes' must have shape \(K, 5\).*got \(1, 4\)"),
    (_item(gt_bboxes=torch.zeros(1, 8)), r"item 1 .*'gt_bboxes' must have shape \(K, 5\).*got \(1, 8\): polygons"),
    (_item(img=torch.zeros(8, 10)), r"item 1 .*'img' must be 3-D \(C, H, W\), got shape \(8, 10\)"),
    (_item(img_metas=_meta().as_mmrotate()), r"item 1 \(ToyDataset\), file P0001.png: 'img_metas' is a dict, not an"),
    (_item(gt_labels=torch.tensor([5.5])), r"item 1 .*'gt_labels' must be whole class indices"),
    (None, r"^collate: item 1 \(ToyDataset\) is None \(did a transform return None\?\)"),
    ((torch.zeros(3, 8, 10), {}), r"^collate: item 1 \(ToyDataset\) is a tuple: a dataset's __getitem__ must"),
    ({"img": np.zeros((8, 10, 3), np.uint8), "gt_bboxes": np.zeros((1, 5)), "gt_labels": np.zeros(1)},
     r"item 1 \(ToyDataset\) has no 'img_metas'"),  # the raw output of a dataset without Collect
]  # fmt: skip


@pytest.mark.parametrize(("item", "message"), BAD, ids=[m[:50] for _, m in BAD])
def test_collate_names_field_item_file_and_dataset(item, message):
    with pytest.raises(InvalidSampleError, match=message) as info:
        collate([_item(), item, _item()], dataset="ToyDataset")
    assert not isinstance(info.value, KeyError)


def test_collate_checks_the_batch_as_a_whole():
    with pytest.raises(
        InvalidSampleError, match=r"item 1 \(Toy\), file P0001.png has no ground truth but item 0 has"
    ):
        collate([_item(), _item(gt_bboxes=None, gt_labels=None)], dataset="Toy")
    with pytest.raises(InvalidSampleError, match=r"item 1, file P0001.png has 1 channels but item 0 has 3"):
        collate([_item(), _item(img=torch.zeros(1, 8, 10))])
    sample = _sample("a.png")
    sample.gt = {"boxes": np.zeros((0, 5))}  # reassigned after construction: checked again
    with pytest.raises(InvalidSampleError, match=r"item 0, file a.png: gt must be an rdet_core"):
        collate([sample])
    with pytest.raises(ValueError, match="empty batch"):
        collate([])


def test_collate_checks_test_time_augmentation_items():
    tta = {"img": [torch.zeros(3, 8, 10)] * 2, "img_metas": [_meta()] * 2}
    assert [b.images.shape for b in collate([tta, tta])] == [(2, 3, 8, 10)] * 2
    with pytest.raises(InvalidSampleError, match=r"item 1: 'img' must be a list of 2 .*got a list of 1"):
        collate([tta, dict(tta, img=tta["img"][:1])])
    with pytest.raises(InvalidSampleError, match=r"item 0 is one image but item 1 has a list of 2"):
        collate([_item(), tta])
    with pytest.raises(
        InvalidSampleError, match=r"item 0, augmentation 1, file P0001.png: 'img' must be 3-D"
    ):
        collate([dict(tta, img=[torch.zeros(3, 8, 10), torch.zeros(8, 10)])])


def test_loader_errors_name_the_dataset_through_wrappers():
    ds = RepeatDataset(_Items([_item(), {"img": torch.zeros(3, 8, 10)}]), times=2)
    loader = build_dataloader(ds, samples_per_gpu=2, workers_per_gpu=0, dist=False, shuffle=False)
    with pytest.raises(
        InvalidSampleError, match=r"collate: item 1 \(RepeatDataset\(_Items\)\) has no 'img_metas'"
    ):
        next(iter(loader))


def test_loader_errors_from_workers_keep_their_type_and_message():
    loader = build_dataloader(_Items([{"img": torch.zeros(3, 8, 10)}]), 1, 1, dist=False, shuffle=False)
    with pytest.raises(InvalidSampleError, match=r"collate: item 0 \(_Items\) has no 'img_metas'"):
        next(iter(loader))


def test_collect_output_keeps_the_contract():
    img = np.zeros((8, 10, 3), np.uint8)
    raw = {"img": img, "gt_bboxes": np.zeros((1, 5), np.float32), "gt_labels": np.array([0])}
    # no img_shape / ori_shape in the results: (H, W, C) of the image, numpy or formatted tensor
    out = Collect(keys=["img", "gt_bboxes", "gt_labels"])(dict(raw))
    assert out["img_metas"].img_shape == (8, 10, 3) and out["img_metas"].ori_shape == (8, 10, 3)
    formatted = Compose([DefaultFormatBundle(), Collect(keys=["img", "gt_bboxes", "gt_labels"])])(dict(raw))
    assert formatted["img_metas"].img_shape == (8, 10, 3)
    assert collate([out, formatted]).images.shape == (2, 3, 8, 10)
    with pytest.raises(KeyError, match=r"Collect: \['gt_labels'\] not in the results"):
        Collect(keys=["img", "gt_bboxes", "gt_labels"])({"img": img, "gt_bboxes": raw["gt_bboxes"]})
