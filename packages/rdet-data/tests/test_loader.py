"""build_dataset / build_dataloader from MMRotate's configs, collate into DetBatch, wrappers, samplers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rdet_core import Config
from rdet_core.structures import DetBatch
from rdet_data import (
    ClassBalancedDataset,
    ConcatDataset,
    DistributedGroupSampler,
    DistributedSampler,
    GroupSampler,
    MultiImageMixDataset,
    RepeatDataset,
    build_dataloader,
    build_dataloaders,
    build_dataset,
    collate,
    dataloader_args,
)
from rdet_data.loader import default_workers

CONFIGS = "configs/mmrotate-0.3.4/_base_/datasets"


NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
# MMRotate's _base_/datasets/dotav1.py `data`, for runs without ../shared
DOTAV1_DATA = dict(
    samples_per_gpu=2,
    workers_per_gpu=2,
    train=dict(type="DOTADataset", pipeline=[
        dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True),
        dict(type="RResize", img_scale=(1024, 1024)), dict(type="RRandomFlip", flip_ratio=0.5),
        dict(type="Normalize", **NORM), dict(type="Pad", size_divisor=32), dict(type="DefaultFormatBundle"),
        dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels"])]),
    test=dict(type="DOTADataset", pipeline=[
        dict(type="LoadImageFromFile"),
        dict(type="MultiScaleFlipAug", img_scale=(1024, 1024), flip=False, transforms=[
            dict(type="RResize"), dict(type="Normalize", **NORM), dict(type="Pad", size_divisor=32),
            dict(type="DefaultFormatBundle"), dict(type="Collect", keys=["img"])])]),
)  # fmt: skip
DOTAV1_DATA["val"] = copy.deepcopy(DOTAV1_DATA["test"])


def _dota_data_cfg(shared_dir, ann, img) -> dict:
    """MMRotate's dotav1.py ``data`` (from ../shared, else the copy above) pointed at ``ann`` / ``img``."""
    if shared_dir is None:
        data = copy.deepcopy(DOTAV1_DATA)
    else:
        data = copy.deepcopy(Config.fromfile(str(shared_dir / CONFIGS / "dotav1.py")).data)
    for split in ("train", "val"):
        data[split].update(ann_file=str(ann), img_prefix=str(img))
    data["test"].update(ann_file=str(img), img_prefix=str(img))
    return data


@pytest.fixture
def shared_or_none(request):
    try:
        return request.getfixturevalue("shared_dir")
    except pytest.skip.Exception:
        return None


@pytest.fixture
def data_cfg(shared_or_none, syn, tmp_path):
    ann, img = syn.write_dota(tmp_path / "d")
    return _dota_data_cfg(shared_or_none, ann, img)


def test_dotav1_config_builds_unchanged_and_trains(data_cfg):
    loaders = build_dataloaders(data_cfg, splits=("train", "val", "test"), seed=0)
    train = loaders["train"]
    assert train.batch_size == 2 and train.num_workers == 2 and len(train.dataset) == 3
    batch = next(iter(train))
    assert isinstance(batch, DetBatch) and batch.images.shape == (2, 3, 768, 1024)
    assert batch.images.dtype == torch.float32 and len(batch.gts) == 2
    assert batch.gts[0].boxes.dtype == torch.float32 and batch.gts[0].labels.dtype == torch.int64
    assert batch.metas[0].extra["batch_input_shape"] == (768, 1024)
    assert batch.metas[0].img_shape == (768, 1024, 3)  # 400 x 300 -> keep-ratio 1024
    val = next(iter(loaders["val"]))
    assert val.gts is None and val.images.shape == (1, 3, 768, 1024)
    assert len(loaders["test"].dataset) == 4 and loaders["test"].dataset.test_mode


@pytest.mark.parametrize("name", ["dotav1", "hrsc", "ssdd", "hrsid"])
def test_every_base_config_builds(shared_dir, syn, tmp_path, name):
    data = copy.deepcopy(Config.fromfile(str(shared_dir / CONFIGS / f"{name}.py")).data)
    if name == "hrsc":
        root = syn.write_hrsc(tmp_path / "hrsc")
        for split in ("train", "val", "test"):
            data[split].update(
                ann_file=str(root / "ImageSets/trainval.txt"),
                ann_subdir=str(root / "FullDataSet/Annotations/"),
                img_subdir=str(root / "FullDataSet/AllImages/"),
                img_prefix=str(root / "FullDataSet/AllImages/"),
            )
    else:
        ann, img = syn.write_dota(tmp_path / "d")
        for split in ("train", "val", "test"):
            data[split].update(ann_file=str(img if split == "test" else ann), img_prefix=str(img))
        if name != "dotav1":  # SAR: one class
            for p in ann.glob("*.txt"):
                p.write_text(
                    "\n".join(
                        line.rsplit(" ", 2)[0] + " ship 0"
                        for line in p.read_text().splitlines()
                        if len(line.split()) >= 9
                    )
                )
    loaders = build_dataloaders(data, splits=("train", "test"), seed=1)
    batch = next(iter(loaders["train"]))
    assert isinstance(batch, DetBatch) and batch.gts is not None
    assert next(iter(loaders["test"])).gts is None


def test_imgs_per_gpu_is_samples_per_gpus_old_name():
    """MMRotate's docs (and its train_detector) take data.imgs_per_gpu; it wins over the
    samples_per_gpu that every base config sets, with a warning where they differ."""
    assert dataloader_args({"imgs_per_gpu": 3})["samples_per_gpu"] == 3
    assert dataloader_args({"imgs_per_gpu": 3, "samples_per_gpu": 3})["samples_per_gpu"] == 3
    with pytest.warns(UserWarning, match=r"data.imgs_per_gpu=4 is used, not data.samples_per_gpu=2"):
        assert dataloader_args({"imgs_per_gpu": 4, "samples_per_gpu": 2})["samples_per_gpu"] == 4
    with pytest.raises(ValueError, match=r"data.samples_per_gpu \(train\) must be an integer >= 1, got 0"):
        dataloader_args({"imgs_per_gpu": 0})


def test_dataloader_args_old_and_new_style():
    old = dict(samples_per_gpu=4, workers_per_gpu=3, train={}, val=dict(samples_per_gpu=8), test={})
    assert dataloader_args(old, "train")["samples_per_gpu"] == 4
    assert dataloader_args(old, "train")["workers_per_gpu"] == 3
    assert dataloader_args(old, "val")["samples_per_gpu"] == 8
    assert dataloader_args(old, "test") == {"samples_per_gpu": 1, "workers_per_gpu": 3, "shuffle": False,
                                            "persistent_workers": False, "dist": False, "seed": None, "num_gpus": 1}  # fmt: skip
    new = dict(
        old,
        train_dataloader=dict(samples_per_gpu=6),
        test_dataloader=dict(samples_per_gpu=3, workers_per_gpu=0),
    )
    assert (
        dataloader_args(new, "train")["samples_per_gpu"] == 6
        and dataloader_args(new, "train")["workers_per_gpu"] == 3
    )
    assert dataloader_args(new, "test")["samples_per_gpu"] == 3
    assert dataloader_args(new, "test")["workers_per_gpu"] == 0  # the loader's own setting wins
    with pytest.raises(KeyError, match=r"data\.train_dataloader\.batch: not a data loader setting; its keys"):
        dataloader_args(dict(train_dataloader=dict(batch=2)), "train")
    with pytest.raises(
        KeyError,
        match=r"test_dataloader\.sample_per_gpu: .*did you mean data\.test_dataloader\.samples_per_gpu",
    ):
        dataloader_args(dict(test_dataloader=dict(sample_per_gpu=2)), "test")
    # a string where a flag belongs ('False' is truthy: workers would persist and span epochs)
    with pytest.raises(
        ValueError, match=r"data\.persistent_workers \(train\) must be True or False, got 'False'"
    ):
        dataloader_args(dict(persistent_workers="False"), "train")
    with pytest.raises(ValueError, match=r"data\.shuffle \(val\) must be True or False, got 1"):
        dataloader_args(dict(val_dataloader=dict(shuffle=1)), "val")


def test_data_workers_per_gpu_reaches_val_and_test_loaders():
    """MMDetection's compat_cfg copies data.workers_per_gpu into all three loaders (it used to
    reach the training loader only: val / test silently got default_workers())."""
    data = dict(workers_per_gpu=0, train={}, val={}, test={})
    for split in ("train", "val", "test"):
        assert dataloader_args(data, split)["workers_per_gpu"] == 0, split
    data["val_dataloader"] = dict(workers_per_gpu=1)
    assert dataloader_args(data, "val")["workers_per_gpu"] == 1  # the more specific setting wins
    assert dataloader_args(dict(workers_per_gpu="auto"), "test")["workers_per_gpu"] == default_workers()
    with pytest.raises(ValueError, match=r"data\.workers_per_gpu \(val\) must be an integer >= 0, got -1"):
        dataloader_args(dict(workers_per_gpu=-1), "val")


def test_default_workers_follow_the_cpus(monkeypatch):
    import os

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for cpus, procs, want in ((2, 1, 2), (4, 1, 3), (16, 1, 8), (64, 1, 8), (16, 4, 3), (16, 8, 2)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cpus: set(range(n)), raising=False)
        assert default_workers(procs) == want, (cpus, procs)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert default_workers() == 3  # 16 CPUs shared by torchrun's 4 processes
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    # the config's number wins; None or 'auto' ask for the default
    assert dataloader_args(dict(workers_per_gpu=3), "train")["workers_per_gpu"] == 3
    assert dataloader_args(dict(workers_per_gpu="auto"), "train")["workers_per_gpu"] == 8
    assert dataloader_args(dict(test_dataloader=dict(workers_per_gpu=None)), "test")["workers_per_gpu"] == 8
    assert dataloader_args({}, "val")["workers_per_gpu"] == 8


def test_workers_give_different_random_draws(shared_or_none, syn, tmp_path):
    ann, img = syn.write_dota(tmp_path / "d", n_images=6)
    data = _dota_data_cfg(shared_or_none, ann, img)
    data["train"]["pipeline"][2]["img_scale"] = (64, 64)
    ds = build_dataset(data["train"])
    flips = []
    for workers in (0, 2):
        loader = build_dataloader(ds, 1, workers, dist=False, seed=5)
        flips.append([m.flip for _ in range(3) for b in loader for m in b.metas])
    assert 0 < sum(flips[1]) < len(flips[1])  # not all equal: workers are seeded apart


def test_collate_pads_and_accepts_samples():
    a = {
        "img": torch.ones(3, 4, 6),
        "img_metas": _meta((4, 6, 3)),
        "gt_bboxes": torch.zeros(2, 5),
        "gt_labels": torch.tensor([0, 1]),
    }
    b = {
        "img": torch.ones(3, 5, 3),
        "img_metas": _meta((5, 3, 3)),
        "gt_bboxes": torch.zeros(0, 5),
        "gt_labels": torch.zeros(0),
    }
    batch = collate([a, b])
    assert batch.images.shape == (2, 3, 5, 6) and batch.images[1, :, :, 3:].abs().sum() == 0
    assert [len(g) for g in batch.gts] == [2, 0] and batch.gts[1].labels.dtype == torch.int64
    ign = dict(a, gt_bboxes_ignore=torch.zeros(1, 5))
    assert collate([ign]).gts[0].labels_ignore.tolist() == [-1]


def _meta(shape):
    from rdet_core.structures import ImageMeta

    return ImageMeta(filename=None, ori_shape=shape, img_shape=shape)


class _Toy(torch.utils.data.Dataset):
    CLASSES = ("a", "b", "c")

    def __init__(self, n=10, flag=None, cats=None):
        self.n = n
        self.flag = np.zeros(n, np.uint8) if flag is None else np.asarray(flag, np.uint8)
        self.cats = cats or [[0]] * n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i

    def get_cat_ids(self, i):
        return self.cats[i]

    def get_ann_info(self, i):
        return {"labels": np.asarray(self.cats[i])}


def test_wrappers():
    a, b = _Toy(4), _Toy(3, flag=[1, 1, 0])
    cat = ConcatDataset([a, b])
    assert (
        len(cat) == 7
        and cat[5] == 1
        and cat.flag.tolist() == [0, 0, 0, 0, 1, 1, 0]
        and cat.get_cat_ids(6) == [0]
    )
    rep = RepeatDataset(b, 3)
    assert len(rep) == 9 and rep[4] == 1 and rep.flag.tolist() == [1, 1, 0] * 3
    cats = [[0]] * 8 + [[1]] + [[]]
    cb = ClassBalancedDataset(_Toy(10, cats=cats), oversample_thr=0.5)
    assert cb.repeat_indices.count(8) == 3 and cb.repeat_indices.count(0) == 1  # sqrt(0.5 / 0.1) = 2.24 -> 3
    assert cb.repeat_indices.count(9) == 1


def test_concat_separate_eval_and_list_ann_file(syn, tmp_path):
    a1, i1 = syn.write_dota(tmp_path / "a", n_images=2)
    a2, i2 = syn.write_dota(tmp_path / "b", n_images=1)
    cfg = dict(
        type="DOTADataset",
        ann_file=[str(a1), str(a2)],
        img_prefix=[str(i1), str(i2)],
        pipeline=[],
        version="le90",
    )
    ds = build_dataset(cfg)
    assert isinstance(ds, ConcatDataset) and len(ds) == 3 and ds.summary()["objects"] == 15

    def scorer(results, annotations, **kw):
        return float(len(annotations)), []

    assert ds.evaluate([[]] * 3, scorer=scorer) == {"0_mAP": 2.0, "1_mAP": 1.0}
    ds.separate_eval = False
    assert ds.evaluate([[]] * 3, scorer=scorer) == {"mAP": 3.0}
    rep = build_dataset(
        dict(type="RepeatDataset", times=2, dataset=dict(cfg, ann_file=str(a1), img_prefix=str(i1)))
    )
    assert len(rep) == 4


def test_multi_image_mix_with_rmosaic(syn, tmp_path):
    ann, img = syn.write_dota(tmp_path / "m", n_images=4)
    cfg = dict(
        type="MultiImageMixDataset",
        dataset=dict(type="DOTADataset", ann_file=str(ann), img_prefix=str(img), version="le90",
                     pipeline=[dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True)]),
        pipeline=[dict(type="RMosaic", img_scale=(256, 256), min_bbox_size=4, version="le90"),
                  dict(type="RRandomFlip", flip_ratio=0.0, version="le90")],
    )  # fmt: skip
    ds = build_dataset(cfg)
    assert isinstance(ds, MultiImageMixDataset)
    np.random.seed(2)
    out = ds[0]
    assert out["img"].shape == (512, 512, 3) and "mix_results" not in out
    boxes = out["gt_bboxes"]
    assert len(boxes) > 0 and len(boxes) == len(out["gt_labels"])
    # every box centre that lies on the canvas shows the box colour (red channel 255) of draw_image
    cx, cy = boxes[:, 0].astype(int), boxes[:, 1].astype(int)
    assert (out["img"][cy, cx, 2] > 200).mean() > 0.9
    ds.update_skip_type_keys(["RMosaic"])
    assert ds[0]["img"].shape == (300, 400, 3)


def test_samplers():
    flag = [0] * 5 + [1] * 3
    ds = _Toy(8, flag=flag)
    np.random.seed(0)
    idx = list(GroupSampler(ds, 2))
    assert len(idx) == 10 and len(GroupSampler(ds, 2)) == 10  # each group padded to whole batches: 6 + 4
    for k in range(0, 10, 2):
        assert flag[idx[k]] == flag[idx[k + 1]]  # batches hold one group
    per_rank = [list(DistributedGroupSampler(ds, 2, num_replicas=2, rank=r, seed=3)) for r in range(2)]
    assert len(per_rank[0]) == len(per_rank[1]) == 6  # groups padded to whole batches on every rank
    assert set(per_rank[0]) | set(per_rank[1]) == set(range(8))
    s = DistributedSampler(ds, num_replicas=3, rank=1, shuffle=False)
    assert list(s) == [1, 4, 7]
    g = DistributedGroupSampler(ds, 2, num_replicas=1, rank=0)
    first = list(g)
    assert first == list(g)  # deterministic within an epoch
    g.set_epoch(1)
    assert set(g) == set(range(8)) and list(g) != first
