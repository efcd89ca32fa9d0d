"""Synthetic data written into tmp_path: DOTA, HRSC2016, DIOR-R and YOLO-OBB files with images,
covering the same code paths as the real samples in ../shared (headers, CRLF, floats,
difficult=2, zero-area quads, empty files, values outside [0, 1]), and the bad input of
test_bad_input.py (EXIF-rotated JPEG / PNG, written by hand: no Pillow needed)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

import rbox_geometry as rg

REAL = "data/real"

# (cx, cy, w, h, theta) boxes in an 400 x 300 image, some rotated, one crossing the border
SYN_BOXES = np.array(
    [
        [80, 60, 60, 30, 0.0],
        [200, 150, 90, 40, 0.5],
        [320, 220, 50, 50, -0.3],
        [150, 240, 70, 20, 1.2],
        [390, 40, 40, 30, 0.2],  # crosses the right border
    ],
    np.float64,
)
SYN_NAMES = ["plane", "ship", "storage-tank", "small-vehicle", "harbor"]


def draw_image(width: int, height: int, boxes: np.ndarray, seed: int = 0) -> np.ndarray:
    """A textured BGR image with each box filled in its own colour."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    for k, poly in enumerate(np.asarray(rg.obb2poly(boxes, "le90")).reshape(-1, 4, 2)):
        colour = (int(80 + 40 * k) % 256, int(200 - 30 * k) % 256, 255)
        cv2.fillPoly(
            img, [np.round((poly - 0.5) * 16).astype(np.int32)], colour, lineType=cv2.LINE_8, shift=4
        )
    return img


def write_dota(root: Path, n_images: int = 3, crlf: bool = True) -> tuple[Path, Path]:
    """``root/images/*.png`` and ``root/labelTxt/*.txt``: header + CRLF, floats, difficult 2,
    a zero-area quad, an empty file; returns (labelTxt, images)."""
    img_dir, ann_dir = root / "images", root / "labelTxt"
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    polys = np.asarray(rg.obb2poly(SYN_BOXES, "le90"))
    eol = "\r\n" if crlf else "\n"
    for i in range(n_images):
        shift = np.array([i * 3, i * 2] * 4)
        boxes = SYN_BOXES.copy()
        boxes[:, :2] += shift[:2]
        cv2.imwrite(str(img_dir / f"P{i:04d}.png"), draw_image(400, 300, boxes, seed=i))
        lines = ["imagesource:GoogleEarth", "gsd:0.5"] if i == 0 else []
        for k, (p, name) in enumerate(zip(polys + shift, SYN_NAMES)):
            flag = 2 if k == 4 else k % 2
            lines.append(" ".join(f"{v:.1f}" for v in p) + f" {name} {flag}")
        lines.append("1.0 187.0 1.0 187.0 1.0 219.0 1.0 219.0 small-vehicle 2")  # zero area: dropped
        (ann_dir / f"P{i:04d}.txt").write_bytes(eol.join(lines).encode() + eol.encode())
    cv2.imwrite(str(img_dir / "P9000.png"), draw_image(400, 300, SYN_BOXES[:0], seed=9))
    (ann_dir / "P9000.txt").write_bytes(b"")  # an image without objects
    return ann_dir, img_dir


@pytest.fixture
def dota_dir(tmp_path: Path) -> tuple[Path, Path]:
    return write_dota(tmp_path / "dota")


def write_hrsc(root: Path) -> Path:
    """HRSC2016 layout: ImageSets/trainval.txt, FullDataSet/Annotations/*.xml, AllImages/*.bmp."""
    (root / "ImageSets").mkdir(parents=True)
    ann = root / "FullDataSet" / "Annotations"
    imgs = root / "FullDataSet" / "AllImages"
    ann.mkdir(parents=True)
    imgs.mkdir(parents=True)
    ids = ["100000001", "100000002"]
    for n, img_id in enumerate(ids):
        boxes = SYN_BOXES[: 2 + n]
        cv2.imwrite(str(imgs / f"{img_id}.bmp"), draw_image(400, 300, boxes))
        objs = "".join(
            f"<HRSC_Object><Class_ID>1000000{c:02d}</Class_ID><truncated>0</truncated><difficult>{k % 2}</difficult>"
            f"<mbox_cx>{b[0]}</mbox_cx><mbox_cy>{b[1]}</mbox_cy><mbox_w>{b[2]}</mbox_w><mbox_h>{b[3]}</mbox_h>"
            f"<mbox_ang>{b[4]}</mbox_ang><header_x>{int(b[0])}</header_x><header_y>{int(b[1])}</header_y></HRSC_Object>"
            for k, (b, c) in enumerate(zip(boxes, [13, 1, 21, 5]))  # 21 is not an HRSC class id
        )
        (ann / f"{img_id}.xml").write_text(
            f"<HRSC_Image><Img_ID>{img_id}</Img_ID><Img_SizeWidth>400</Img_SizeWidth>"
            f"<Img_SizeHeight>300</Img_SizeHeight><HRSC_Objects>{objs}</HRSC_Objects></HRSC_Image>"
        )
    (root / "ImageSets" / "trainval.txt").write_text("\n".join(ids) + "\n")
    return root


def write_dior(root: Path) -> Path:
    """DIOR-R layout with the space in 'Oriented Bounding Boxes'."""
    ann = root / "Annotations" / "Oriented Bounding Boxes"
    imgs = root / "JPEGImages-trainval"
    (root / "ImageSets" / "Main").mkdir(parents=True)
    ann.mkdir(parents=True)
    imgs.mkdir(parents=True)
    polys = np.asarray(rg.obb2poly(SYN_BOXES[:3], "le90"))
    names = ["airplane", "Expressway-Service-area", "vehicle"]
    cv2.imwrite(str(imgs / "00001.jpg"), draw_image(400, 300, SYN_BOXES[:3]))
    corners = ("left_top", "right_top", "right_bottom", "left_bottom")
    objs = ""
    for k, (p, name) in enumerate(zip(polys, names)):
        box = "".join(
            f"<x_{c}>{p[2 * i]:.0f}</x_{c}><y_{c}>{p[2 * i + 1]:.0f}</y_{c}>" for i, c in enumerate(corners)
        )
        objs += f"<object><type>robndbox</type><name>{name}</name><difficult>{int(k == 2)}</difficult><robndbox>{box}</robndbox></object>"
    (ann / "00001.xml").write_text(
        f"<annotation><size><width>400</width><height>300</height><depth>3</depth></size>{objs}</annotation>"
    )
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("00001\n")
    return root


def write_yolo(root: Path) -> Path:
    """DOTA8 layout: images/train/*.jpg, labels/train/*.txt, data.yaml; one value > 1."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "train" / "a.jpg"), draw_image(400, 300, SYN_BOXES))
    polys = np.asarray(rg.obb2poly(SYN_BOXES, "le90")) / np.array([400, 300] * 4)
    lines = [f"{k} " + " ".join(f"{v:.6f}" for v in p) for k, p in enumerate(polys)]
    (root / "labels" / "train" / "a.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nnames:\n  0: plane\n  1: ship\n  2: storage tank\n  3: small vehicle\n  4: harbor\n"
    )
    return root


def _exif(orientation: int) -> bytes:
    """A big-endian EXIF (TIFF) block whose IFD0 holds only Orientation (tag 0x0112, SHORT)."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"MM\x00*" + struct.pack(">IH", 8, 1) + entry + struct.pack(">I", 0)


def exif_jpeg(img: np.ndarray, orientation: int) -> bytes:
    """``img`` as a JPEG with an EXIF APP1 segment (written by hand, right after SOI) holding ``orientation``.

    The stored pixels are ``img``; OpenCV's IMREAD_COLOR turns them by the tag (6: 90 deg clockwise).
    """
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert ok
    payload = b"Exif\x00\x00" + _exif(orientation)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    data = buf.tobytes()
    return data[:2] + app1 + data[2:]


def exif_png(img: np.ndarray, orientation: int, after_idat: bool = False) -> bytes:
    """``img`` as a PNG with an ``eXIf`` chunk holding ``orientation`` (before the image data, or after it)."""
    ok, buf = cv2.imencode(".png", img)
    assert ok
    data = buf.tobytes()
    body = _exif(orientation)
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    at = data.index(b"IEND" if after_idat else b"IDAT") - 4
    return data[:at] + chunk + data[at:]


@pytest.fixture(scope="session")
def syn():
    """The synthetic-data helpers of this file (tests import no helper modules: pytest runs in importlib mode)."""
    import types

    return types.SimpleNamespace(
        REAL=REAL, SYN_BOXES=SYN_BOXES, SYN_NAMES=SYN_NAMES, draw_image=draw_image,
        write_dota=write_dota, write_hrsc=write_hrsc, write_dior=write_dior, write_yolo=write_yolo,
        exif_jpeg=exif_jpeg, exif_png=exif_png,
    )  # fmt: skip
