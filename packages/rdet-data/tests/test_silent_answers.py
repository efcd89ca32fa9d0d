"""Bad input that used to give a silent wrong answer: each is now an error naming the file or
argument (or, where the user says so, the asked-for behaviour)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rdet_data import TRANSFORMS
from rdet_data.datasets import DIORDataset, DOTADataset, HRSCDataset
from rdet_data.transforms.loading import LoadImageFromFile, imread

# -- label sizes against the image (HRSC, DIOR) ---------------------------------------------------


def _half_size_image(path):
    img = cv2.imread(str(path))
    cv2.imwrite(str(path), cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2)))


def test_hrsc_xml_size_other_than_the_images_is_an_error(tmp_path, syn):
    d = str(syn.write_hrsc(tmp_path / "hrsc"))
    _half_size_image(tmp_path / "hrsc/FullDataSet/AllImages/100000002.bmp")
    kw = dict(ann_subdir=d + "/FullDataSet/Annotations/", img_prefix=d + "/FullDataSet/AllImages/")
    with pytest.raises(
        ValueError, match=r"100000002\.xml: the image size it states, 400 x 300, .*100000002\.bmp, 200 x 150"
    ):
        HRSCDataset(d + "/ImageSets/trainval.txt", [], **kw)
    with pytest.warns(UserWarning, match=r"100000002\.xml"):
        ds = HRSCDataset(d + "/ImageSets/trainval.txt", [], on_error="warn", **kw)
    assert len(ds) == 1 and ds.summary()["images_bad_size"] == 1
    assert "size not the label's (dropped)" in str(ds.summary())


def test_dior_xml_size_other_than_the_images_is_an_error(tmp_path, syn):
    root = syn.write_dior(tmp_path / "dior")
    _half_size_image(root / "JPEGImages-trainval/00001.jpg")
    with pytest.raises(
        ValueError, match=r"00001\.xml: the image size it states, 400 x 300, .*00001\.jpg, 200 x 150"
    ):
        DIORDataset(
            str(root / "ImageSets/Main/trainval.txt"), [], img_prefix=str(root / "JPEGImages-trainval")
        )


# -- bool arguments -------------------------------------------------------------------------------

BOOL_ARGS = [
    (dict(type="Normalize", mean=[0] * 3, std=[1] * 3), "to_rgb"),
    (dict(type="RResize", img_scale=(64, 64)), "keep_ratio"),
    (dict(type="RResize", img_scale=(64, 64)), "override"),
    (dict(type="MultiScaleFlipAug", transforms=[dict(type="RRandomFlip")], img_scale=(64, 64)), "flip"),
    (dict(type="PolyRandomRotate"), "auto_bound"),
    (dict(type="PolyRandomRotate"), "allow_negative"),
    (dict(type="RRandomCrop", crop_size=(32, 32)), "allow_negative_crop"),
    (dict(type="Pad", size_divisor=32), "pad_to_square"),
    (dict(type="RMosaic"), "bbox_clip_border"),
    (dict(type="RMosaic"), "skip_filter"),
    (dict(type="LoadImageFromFile"), "to_float32"),
    (dict(type="LoadPatchFromImage"), "to_float32"),
    (dict(type="DefaultFormatBundle"), "img_to_float"),
    (dict(type="Albu", transforms=[]), "update_pad_shape"),
    (dict(type="Albu", transforms=[]), "skip_img_without_anno"),
] + [
    (dict(type="LoadAnnotations"), name)
    for name in ("with_bbox", "with_label", "with_mask", "with_seg", "poly2mask", "denorm_bbox", "with_poly")
]


@pytest.mark.parametrize(("cfg", "name"), BOOL_ARGS, ids=[f"{c['type']}.{n}" for c, n in BOOL_ARGS])
def test_a_bool_argument_refuses_strings_and_numbers(cfg, name):
    for bad in ("False", 1, None):
        with pytest.raises(ValueError, match=rf"{cfg['type']}: {name} must be True or False, got .*{bad!r}"):
            TRANSFORMS.build(dict(cfg, **{name: bad}))


def test_normalize_to_rgb_false_keeps_the_channels():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 0] = 255
    out = TRANSFORMS.build(dict(type="Normalize", mean=[0] * 3, std=[1] * 3, to_rgb=np.bool_(False)))(
        dict(img=img, img_fields=["img"])
    )
    assert out["img"][0, 0].tolist() == [255, 0, 0]


# -- images of more than 8 bits -------------------------------------------------------------------


@pytest.fixture
def sar16(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(1000, 4096, (40, 60), dtype=np.uint16)  # 12-bit data, as SAR images
    img[0, 0] = 4095
    cv2.imwrite(str(tmp_path / "sar.png"), img)
    return tmp_path, img


def test_a_16_bit_image_is_an_error_naming_it_and_the_way_out(sar16):
    root, _ = sar16
    with pytest.raises(
        ValueError,
        match=r"sar\.png: a 16-bit image \(uint16, largest value 4095\).*high_bit_depth='keep'.*'unchanged'.*high_bit_depth='scale'",
    ):
        imread(str(root / "sar.png"))
    with pytest.raises(ValueError, match=r"sar\.png: a 16-bit image"):
        LoadImageFromFile()({"img_prefix": str(root), "img_info": {"filename": "sar.png"}})
    with pytest.raises(
        ValueError, match=r"LoadImageFromFile: high_bit_depth must be one of 'error', 'scale', 'keep'"
    ):
        LoadImageFromFile(high_bit_depth="16")


def test_16_bit_opt_ins_keep_or_scale_and_the_pipeline_takes_them(sar16):
    root, img = sar16
    results = {"img_prefix": str(root), "img_info": {"filename": "sar.png"}}
    kept = LoadImageFromFile(high_bit_depth="keep")(dict(results))["img"]
    assert kept.dtype == np.uint16 and kept.shape == (40, 60, 3) and (kept[..., 1] == img).all()
    unchanged = LoadImageFromFile(color_type="unchanged")(dict(results))["img"]
    assert unchanged.dtype == np.uint16 and (unchanged == img).all()
    scaled = LoadImageFromFile(high_bit_depth="scale")(dict(results))["img"]
    assert scaled.dtype == np.uint8 and (scaled[..., 0] == img >> 8).all()  # MMCV's conversion
    pipeline = [
        dict(type="LoadImageFromFile", high_bit_depth="keep"),
        dict(type="RResize", img_scale=(120, 80)),
        dict(type="Normalize", mean=[2048] * 3, std=[1024] * 3, to_rgb=True),
        dict(type="Pad", size_divisor=32),
        dict(type="DefaultFormatBundle"),
        dict(type="Collect", keys=["img"]),
    ]
    from rdet_data.transforms.compose import Compose

    out = Compose(pipeline)(dict(results))
    x = out["img"].data if hasattr(out["img"], "data") else out["img"]
    assert tuple(x.shape) == (3, 96, 128)
    np.testing.assert_allclose(float(x[0, :80, :120].mean()), (img.mean() - 2048) / 1024, atol=0.01)


def test_8_bit_images_read_as_before(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    assert (imread(str(tmp_path / "a.png")) == img).all()
    assert imread(str(tmp_path / "a.png"), "grayscale").dtype == np.uint8


# -- one stem, two images (DOTA) ------------------------------------------------------------------


def test_a_stem_with_two_images_is_an_error_unless_img_suffix_names_one(tmp_path, dota_dir):
    """Two non-png images of one stem: an error (the listing order chose one). Beside a png, DOTA
    takes the png, the only image MMRotate's DOTADataset reads."""
    ann_dir, img_dir = dota_dir
    stem = sorted(p.stem for p in ann_dir.glob("*.txt"))[0]
    src = next(img_dir.glob(stem + ".*"))
    pixels = cv2.imread(str(src))
    src.unlink()
    for ext in (".jpg", ".bmp"):
        cv2.imwrite(str(img_dir / (stem + ext)), pixels)
    with pytest.raises(
        ValueError, match=rf"holds 2 images for '{stem}': {stem}.bmp, {stem}.jpg.*img_suffix="
    ):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir))
    for suffix in ("jpg", "bmp"):
        ds = DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), img_suffix=suffix)
        assert ds.data_infos[ds.img_ids.index(stem)]["filename"] == f"{stem}.{suffix}"
    cv2.imwrite(str(img_dir / (stem + ".png")), pixels)
    ds = DOTADataset(str(ann_dir), [], img_prefix=str(img_dir))
    assert ds.data_infos[ds.img_ids.index(stem)]["filename"] == f"{stem}.png"
    with pytest.raises(ValueError, match=r"img_suffix must be an image extension"):
        DOTADataset(str(ann_dir), [], img_prefix=str(img_dir), img_suffix="")
