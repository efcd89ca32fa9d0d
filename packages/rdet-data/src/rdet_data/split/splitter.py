"""Split huge DOTA images into patches with their labels (MMRotate's ``img_split.py``), in parallel, resumable.

Output (MMRotate's layout): ``save_dir/images/<id>__<size>__<x>___<y><ext>`` and, for labelled
sets, ``save_dir/annfiles/<same name>.txt`` (DOTA lines without header; truncated objects
``difficult = 2``). ``save_dir/split_progress.jsonl`` lists the finished images with their
counts: a split run again with the same settings skips them (an interrupted split continues);
with other settings it refuses.

Every file is written under a temporary name in its own folder (``<name>.tmp<pid>``, which no
dataset reads) and then renamed (``os.replace``), so a split killed at any moment (SIGINT,
SIGTERM, SIGKILL) leaves whole patches or temporary files, never half a label file under a
label's name; the next run deletes the temporary files (and the ``*.part<pid>.<ext>`` ones of
earlier versions), keeps only whole lines of the progress log, and redoes the unfinished images.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import os.path as osp
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from rdet_data.formats.dota import DotaLabels, read_dota_labels
from rdet_data.split.windows import check_sizes_gaps, sliding_windows, window_objects

__all__ = ["PRESETS", "SplitSettings", "split_dota"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
PROGRESS = "split_progress.jsonl"
SETTINGS = "split_settings.json"
# what an interrupted run leaves: ours (name.tmp<pid>) and earlier versions' (name.part<pid>.ext)
LEFTOVER = re.compile(r"(\.tmp\d+|\.part\d+\.[A-Za-z0-9]+)$")

# MMRotate's tools/data/dota/split/split_configs/*.json (without the paths)
PRESETS: dict[str, dict[str, Any]] = {
    "ss_trainval": {"sizes": [1024], "gaps": [200], "rates": [1.0]},
    "ss_train": {"sizes": [1024], "gaps": [200], "rates": [1.0]},
    "ss_val": {"sizes": [1024], "gaps": [200], "rates": [1.0]},
    "ss_test": {"sizes": [1024], "gaps": [200], "rates": [1.0]},
    "ms_trainval": {"sizes": [1024], "gaps": [500], "rates": [0.5, 1.0, 1.5]},
    "ms_train": {"sizes": [1024], "gaps": [500], "rates": [0.5, 1.0, 1.5]},
    "ms_val": {"sizes": [1024], "gaps": [500], "rates": [0.5, 1.0, 1.5]},
    "ms_test": {"sizes": [1024], "gaps": [500], "rates": [0.5, 1.0, 1.5]},
}
for _p in PRESETS.values():
    _p.update(img_rate_thr=0.6, iof_thr=0.7, no_padding=False, padding_value=[104, 116, 124], save_ext=".png")


@dataclass
class SplitSettings:
    """Everything that decides the patches (compared when resuming)."""

    sizes: list[int] = field(default_factory=lambda: [1024])
    gaps: list[int] = field(default_factory=lambda: [200])
    rates: list[float] = field(default_factory=lambda: [1.0])
    img_rate_thr: float = 0.6
    iof_thr: float = 0.7
    no_padding: bool = False
    padding_value: list[int] = field(default_factory=lambda: [104, 116, 124])
    save_ext: str = ".png"
    clip: bool = True

    def windows(self) -> tuple[list[int], list[int]]:
        """Window sizes and gaps for every rate: ``int(size / rate)``, ``int(gap / rate)`` (MMRotate)."""
        sizes, gaps = [], []
        for rate in self.rates:
            sizes += [int(s / rate) for s in self.sizes]
            gaps += [int(g / rate) for g in self.gaps]
        return sizes, gaps


def _fmt(v: float) -> str:
    return f"{v:.1f}" if float(v).is_integer() else f"{v:.2f}"


def _write_atomic(path: str, data: bytes) -> None:
    """``data`` to ``path`` through ``<path>.tmp<pid>`` in the same folder and ``os.replace``.

    Atomic against a killed process (the rename is all or nothing; a leftover temporary name
    ends in neither ``.txt`` nor an image extension, so no dataset reads it), not against a
    power cut (no fsync: a split is redone, not recovered).
    """
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _read_image(path: str) -> np.ndarray:
    """Pixels as the pipeline sees them (EXIF orientation applied), keeping grayscale and 16 bits.

    ``IMREAD_ANYDEPTH | IMREAD_ANYCOLOR``: OpenCV turns JPEG / PNG / TIFF by their EXIF
    Orientation as ``LoadImageFromFile``'s ``IMREAD_COLOR`` does (``IMREAD_UNCHANGED`` would
    not); an alpha channel is dropped, as the pipeline drops it.
    """
    buf = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if buf.size else None
    if img is None:
        raise FileNotFoundError(f"cannot decode image file: {path} ({buf.size} bytes)")
    return img


def _split_one(job: tuple[str, str | None, str, dict[str, Any]]) -> dict[str, Any]:
    """Split one image; returns its counts (runs in a worker)."""
    img_path, ann_path, save_dir, cfg = job
    s = SplitSettings(**cfg)
    img_id = osp.splitext(osp.basename(img_path))[0]
    labels = None
    if (
        ann_path is not None
    ):  # a labelled split: an image without a label file (on_error='warn') has no objects
        labels = read_dota_labels(ann_path) if osp.isfile(ann_path) else _no_labels(ann_path)
    img = _read_image(img_path)
    if img.ndim == 2:
        img = img[..., None]
    height, width = img.shape[:2]
    sizes, gaps = s.windows()
    windows = sliding_windows(width, height, sizes, gaps, s.img_rate_thr)
    polys = labels.polygons if labels is not None else np.zeros((0, 8), np.float32)
    per_window = window_objects(polys, windows, s.iof_thr, s.clip) if labels is not None else None
    pad = _padding(s.padding_value, img, img_path) if not s.no_padding else np.zeros(1, img.dtype)
    kept = np.zeros(len(polys), bool)
    n_objects = n_trunc = 0
    for j, (x0, y0, x1, y1) in enumerate(windows.tolist()):
        name = f"{img_id}__{x1 - x0}__{x0}___{y0}"
        patch = img[y0:y1, x0:x1]
        if not s.no_padding and (patch.shape[0] < y1 - y0 or patch.shape[1] < x1 - x0):
            full = np.empty((y1 - y0, x1 - x0, img.shape[2]), img.dtype)
            full[...] = pad[: img.shape[2]] if pad.size >= img.shape[2] else pad[0]
            full[: patch.shape[0], : patch.shape[1]] = patch
            patch = full
        out = patch[..., 0] if patch.shape[2] == 1 else patch
        _write_atomic(osp.join(save_dir, "images", name + s.save_ext), _encode(out, s.save_ext, name))
        if per_window is None:
            continue
        w = per_window[j]
        kept[w.index] = True
        n_objects += len(w.index)
        n_trunc += int(w.truncated.sum())
        lines = []
        for poly, i, t in zip(w.polygons, w.index, w.truncated):
            flag = 2 if t else int(labels.difficult[i])
            lines.append(" ".join(_fmt(v) for v in poly) + f" {labels.names[i]} {flag}\n")
        _write_atomic(osp.join(save_dir, "annfiles", name + ".txt"), "".join(lines).encode("utf-8"))
    return {
        "id": img_id,
        "width": width,
        "height": height,
        "patches": len(windows),
        "objects": len(polys),
        "kept": int(kept.sum()),
        "dropped": int((~kept).sum()),
        "patch_objects": n_objects,
        "truncated": n_trunc,
        "labelled": labels is not None,
    }


def _padding(values: Sequence[int], img: np.ndarray, img_path: str) -> np.ndarray:
    """``values`` as pixels of ``img``'s dtype; ValueError naming the image and ``--padding-value``
    when one does not fit (300 for an 8-bit image)."""
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        bad = [v for v in values if not info.min <= v <= info.max]
        if bad:
            raise ValueError(
                f"padding_value {list(values)} (--padding-value): {bad} does not fit the {img.dtype} pixels "
                f"of {img_path} ({info.min}..{info.max})"
            )
    return np.asarray(values, img.dtype)


def _encode(img: np.ndarray, ext: str, name: str) -> bytes:
    ok, buf = cv2.imencode(ext, img)
    if not ok:
        raise OSError(f"cannot encode patch {name} as {ext}")
    return buf.tobytes()


def _no_labels(path: str) -> DotaLabels:
    """The labels of an image whose label file is missing: no objects (MMRotate's rule)."""
    return DotaLabels(Path(path), np.zeros((0, 8), np.float32), [], np.zeros(0, np.int64))


def _some(names: Sequence[str]) -> str:
    return f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"


def _jobs(
    img_dirs: Sequence[str], ann_dirs: Sequence[str | None], on_error: str = "raise"
) -> tuple[list[tuple[str, str | None]], int, int]:
    """``(image, label file or None)`` for every image of ``img_dirs``; how many label files have
    no image (left out) and how many images have no label file (split with no objects), both
    with a warning when ``on_error='warn'``.

    Raises:
        FileNotFoundError: a folder does not exist; no image in any of ``img_dirs``; unless
            ``on_error='warn'``, label files (``*.txt`` of ``ann_dirs``) without an image of the
            same stem (their objects would be lost) or images without a label file (their
            patches would be written without labels: negatives, or left out of training),
            naming the first five and how many.
    """
    jobs = []
    orphaned = unlabelled = 0
    for img_dir, ann_dir in zip(img_dirs, ann_dirs):
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f"image folder {img_dir!r} does not exist (--img-dirs)")
        if ann_dir is not None and not osp.isdir(ann_dir):
            raise FileNotFoundError(f"annotation folder {ann_dir!r} does not exist (--ann-dirs)")
        images = [n for n in sorted(os.listdir(img_dir)) if osp.splitext(n)[1].lower() in IMAGE_EXTS]
        stems = {osp.splitext(n)[0] for n in images}
        for name in images:
            ann = None if ann_dir is None else osp.join(ann_dir, osp.splitext(name)[0] + ".txt")
            jobs.append((osp.join(img_dir, name), ann))
        if ann_dir is None:
            continue
        orphans = sorted(
            n for n in os.listdir(ann_dir) if n.lower().endswith(".txt") and osp.splitext(n)[0] not in stems
        )
        if orphans:
            message = (
                f"{len(orphans)} label files in {ann_dir!r} (--ann-dirs) have no image in {img_dir!r} "
                f"(--img-dirs; {', '.join(IMAGE_EXTS)}): {_some(orphans)}"
            )
            if on_error == "raise":
                raise FileNotFoundError(message + "; on_error='warn' (--on-error warn) leaves them out")
            warnings.warn(message + ": left out", stacklevel=3)
            orphaned += len(orphans)
        labels = {osp.splitext(n)[0] for n in os.listdir(ann_dir) if n.lower().endswith(".txt")}
        bare = [n for n in images if osp.splitext(n)[0] not in labels]
        if bare:
            message = (
                f"{len(bare)} images in {img_dir!r} (--img-dirs) have no label file (<name>.txt) in "
                f"{ann_dir!r} (--ann-dirs): {_some(bare)}"
            )
            if on_error == "raise":
                raise FileNotFoundError(
                    message + "; on_error='warn' (--on-error warn) splits them as images without objects"
                )
            warnings.warn(message + ": split as images without objects", stacklevel=3)
            unlabelled += len(bare)
    if not jobs:
        raise FileNotFoundError(
            f"no images ({', '.join(IMAGE_EXTS)}) in --img-dirs {list(img_dirs)}: nothing to split"
        )
    return jobs, orphaned, unlabelled


def split_dota(
    img_dirs: str | Sequence[str],
    save_dir: str,
    ann_dirs: str | Sequence[str | None] | None = None,
    sizes: Sequence[int] = (1024,),
    gaps: Sequence[int] = (200,),
    rates: Sequence[float] = (1.0,),
    img_rate_thr: float = 0.6,
    iof_thr: float = 0.7,
    no_padding: bool = False,
    padding_value: int | Sequence[int] = (104, 116, 124),
    save_ext: str = ".png",
    clip: bool = True,
    nproc: int = 1,
    progress: bool = True,
    on_error: str = "raise",
) -> dict[str, Any]:
    """Split the images of ``img_dirs`` (labels in ``ann_dirs``, or None: unlabelled) into ``save_dir``.

    Defaults are MMRotate's ``ss_trainval`` (``PRESETS['ms_trainval']`` for multi-scale).

    Args:
        sizes, gaps: Window size(s) and overlap(s) in pixels of the rate-1 image.
        rates: Multi-scale rates: each rate adds windows of ``size / rate`` (MMRotate's
            rule: the image is not resized; ``RResize`` brings the patches to one scale).
        img_rate_thr: Windows mostly outside the image are dropped (see ``sliding_windows``).
        iof_thr: An object is written in a window when >= this fraction of its area is inside;
            if it is cut (< 1) it is marked ``difficult = 2`` (and clipped, see ``clip``).
        no_padding: Keep border patches smaller than the window (else pad with ``padding_value``, BGR).
        save_ext: Image format of the patches.
        clip: Clip truncated objects to the window (DOTA_devkit); False: MMRotate's whole polygons.
        nproc: Worker processes.
        progress: Print a progress bar on stderr.
        on_error: ``'raise'``: label files without an image, and in a labelled split images
            without a label file, are an error (as in the datasets); ``'warn'``: such label files
            are left out and such images split as images without objects (MMRotate's rule), with
            a warning, and counted (``labels_without_image``, ``images_without_labels``).

    Returns:
        ``{'images', 'patches', 'objects', 'kept', 'dropped', 'patch_objects', 'truncated',
        'per_image': [...]}``: objects in the originals, those written to at least one patch,
        those in none (too small a share in every window, or zero area), object lines written,
        of which truncated (``difficult = 2``), label files left out for want of an image
        (``labels_without_image``) and images split without objects for want of a label file
        (``images_without_labels``), these two this run's counts. Counts include images
        finished by earlier runs.

    Raises:
        ValueError: a bad setting, naming its option (``--gaps``, ``--rates``, ``--padding-value``
            ...): a negative gap, a gap >= its size (also after dividing by a rate), a rate <= 0,
            padding values that are neither 1 nor 3 or do not fit an image's pixels.
        FileNotFoundError: a folder is missing, ``img_dirs`` hold no image, label files have
            no image or images no label file (see ``_jobs``); raised before ``save_dir`` is touched.
        FileExistsError: ``save_dir`` holds a split with other settings, or other files.
    """
    if on_error not in ("raise", "warn"):
        raise ValueError(f"on_error must be 'raise' or 'warn' (--on-error), got {on_error!r}")
    img_dirs = [img_dirs] if isinstance(img_dirs, str) else list(img_dirs)
    if ann_dirs is None:
        ann_dirs = [None] * len(img_dirs)
    elif isinstance(ann_dirs, str):
        ann_dirs = [ann_dirs]
    if len(ann_dirs) != len(img_dirs):
        raise ValueError("ann_dirs must match img_dirs one to one")
    check_sizes_gaps(sizes, gaps)
    if not len(rates) or not all(math.isfinite(r) and r > 0 for r in rates):
        raise ValueError(f"rates must be > 0 (--rates), got {list(rates)}")
    if len(sizes) != 1 and len(rates) != 1:
        raise ValueError(
            "several sizes need a single rate (and several rates a single size) (--sizes, --rates)"
        )
    if not 0 <= iof_thr <= 1:
        raise ValueError(f"iof_thr must be in [0, 1], got {iof_thr}")
    if not 0 <= img_rate_thr < 1:  # a window's share inside the image is at most 1: none is kept
        raise ValueError(f"img_rate_thr must be in [0, 1) (--img-rate-thr), got {img_rate_thr}")
    if save_ext not in (".png", ".jpg", ".bmp", ".tif"):
        raise ValueError(f"save_ext must be .png, .jpg, .bmp or .tif, got {save_ext!r}")
    pv = [int(padding_value)] if isinstance(padding_value, (int, float)) else [int(v) for v in padding_value]
    if len(pv) not in (1, 3) or not all(0 <= v <= 65535 for v in pv):
        raise ValueError(
            f"padding_value must be 1 value or one per channel (3, BGR), each in 0..65535 "
            f"(--padding-value), got {pv}"
        )
    settings = SplitSettings(list(sizes), list(gaps), [float(r) for r in rates], img_rate_thr, iof_thr,
                             no_padding, pv, save_ext, clip)  # fmt: skip
    for rate in settings.rates:  # the windows of each rate (int(size / rate) may reach the gap)
        try:
            check_sizes_gaps(*SplitSettings(settings.sizes, settings.gaps, [rate]).windows())
        except ValueError as err:
            raise ValueError(f"at rate {rate} (--rates): {err}") from None
    labelled = any(a is not None for a in ann_dirs)
    all_jobs, orphaned, unlabelled = _jobs(img_dirs, ann_dirs, on_error)
    done = _prepare(save_dir, settings, labelled)
    jobs = [j for j in all_jobs if osp.splitext(osp.basename(j[0]))[0] not in done]
    total = len(jobs) + len(done)
    cfg = asdict(settings)
    records = list(done.values())
    patches = sum(r["patches"] for r in records)
    with open(osp.join(save_dir, PROGRESS), "a", encoding="utf-8") as log, _sigterm_as_exit():
        results: Iterable[dict[str, Any]]
        args = [(img, ann, save_dir, cfg) for img, ann in jobs]
        if nproc > 1 and len(args) > 1:
            # not fork: a process that has started threads (torch's and OpenCV's pools, a server)
            # may hold a lock at fork time, and the forked worker then waits on it forever
            pool = get_context("spawn" if sys.platform in ("win32", "darwin") else "forkserver").Pool(nproc)
            results = pool.imap_unordered(_split_one, args)
        else:
            pool, results = None, map(_split_one, args)
        finished = False
        # tqdm draws only on a terminal (disable=None): logs and pipes get no carriage returns
        bar = tqdm(
            total=total, initial=len(records), unit="img", desc="split", disable=None if progress else True
        )
        try:
            for rec in results:
                log.write(json.dumps(rec) + "\n")
                log.flush()
                records.append(rec)
                patches += rec["patches"]
                bar.set_postfix(patches=patches, refresh=False)
                bar.update()
            finished = True
        finally:
            bar.close()
            if pool is not None:
                pool.terminate()
                pool.join()
            if not finished:  # interrupted (Ctrl-C, SIGTERM, an error): no temporary files stay
                _remove_leftovers(save_dir)
    return {**_report(records), "labels_without_image": orphaned, "images_without_labels": unlabelled}


@contextlib.contextmanager
def _sigterm_as_exit():
    """SIGTERM raises SystemExit while splitting, so the workers are stopped and temporary files removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _remove_leftovers(save_dir: str) -> list[str]:
    """Delete what interrupted runs left in ``images/`` and ``annfiles/``; the names deleted."""
    removed = []
    for sub in ("images", "annfiles"):
        folder = osp.join(save_dir, sub)
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            if LEFTOVER.search(name):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(osp.join(folder, name))
                removed.append(osp.join(sub, name))
    return removed


def _prepare(save_dir: str, settings: SplitSettings, labelled: bool) -> dict[str, dict[str, Any]]:
    """Create ``save_dir`` or check it for a resume; the records of the images already done."""
    path = osp.join(save_dir, SETTINGS)
    wanted = {**asdict(settings), "labelled": labelled}
    if osp.isdir(save_dir) and os.listdir(save_dir):
        if not osp.isfile(path):
            raise FileExistsError(
                f"{save_dir} exists and is not a split made by rdet_data: choose another save_dir"
            )
        try:
            with open(path, encoding="utf-8") as f:
                found = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise FileExistsError(
                f"{path} is not a split settings file ({err}): choose another save_dir"
            ) from None
        if found != wanted:
            diff = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
            raise FileExistsError(
                f"{save_dir} holds a split with other settings {diff}: choose another save_dir"
            )
        _remove_leftovers(save_dir)
    else:
        os.makedirs(save_dir, exist_ok=True)
        _write_atomic(path, json.dumps(wanted, indent=1).encode("utf-8"))
    os.makedirs(osp.join(save_dir, "images"), exist_ok=True)
    if labelled:
        os.makedirs(osp.join(save_dir, "annfiles"), exist_ok=True)
    return _read_progress(osp.join(save_dir, PROGRESS))


def _read_progress(path: str) -> dict[str, dict[str, Any]]:
    """The records of the finished images; the log is rewritten with whole lines only, so that
    the next record does not continue a line an interruption cut."""
    done: dict[str, dict[str, Any]] = {}
    if not osp.isfile(path):
        return done
    with open(path, "rb") as f:
        data = f.read()
    lines = []
    for raw in data.splitlines():
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):  # a line cut by an interruption
            continue
        if isinstance(rec, dict) and "id" in rec:
            done[rec["id"]] = rec
            lines.append(raw + b"\n")
    if b"".join(lines) != data:
        _write_atomic(path, b"".join(lines))
    return done


def _report(records: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("patches", "objects", "kept", "dropped", "patch_objects", "truncated")
    out: dict[str, Any] = {"images": len(records), **{k: sum(r[k] for r in records) for k in keys}}
    out["per_image"] = sorted(records, key=lambda r: r["id"])
    return out
