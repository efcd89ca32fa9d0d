"""Running a detector over a test set: MMDetection's ``single_gpu_test`` / ``multi_gpu_test``,
and evaluating the results with rdet-eval through the dataset's ``evaluate``.

Results are one ``Detections`` (numpy) per image, as ``model.predict`` gives them.
rdet-eval takes them as they are; :func:`to_mmrotate_results` makes MMRotate's per-class
lists where that format is asked for (``rdet test --out results.pkl``, a dataset whose
``evaluate`` is not rdet-data's).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rdet_apps.progress import track
from rdet_core.structures import Detections, detections_to_result

__all__ = [
    "check_show_dir",
    "evaluate_results",
    "multi_gpu_test",
    "picture_names",
    "single_gpu_test",
    "to_mmrotate_results",
]

# evaluation-config keys that steer the hook, not the metric
_HOOK_KEYS = (
    "interval",
    "by_epoch",
    "save_best",
    "rule",
    "start",
    "gpu_collect",
    "tmpdir",
    "dynamic_intervals",
)

Results = Sequence[Detections] | Sequence[Sequence[np.ndarray]]
"""Per image, ``Detections`` or MMRotate's list per class of (k, 6) arrays."""


def _num_classes(model: nn.Module | None, dataset: Any) -> int:
    classes = getattr(dataset, "CLASSES", None) or getattr(model, "CLASSES", None)
    if classes is not None:
        return len(classes)
    if model is None:
        raise ValueError("the dataset has no CLASSES: how many classes?")
    return int(model.num_classes)


def _dataset_images(dataset: Any) -> tuple[list[Path], list[Path]]:
    """(image folders, image files) a dataset reads: its ``img_prefix`` and ``data_infos``
    filenames, through wrappers (``datasets`` / ``dataset``)."""
    parts = list(getattr(dataset, "datasets", None) or [])
    if getattr(dataset, "dataset", None) is not None:
        parts.append(dataset.dataset)
    if parts:
        folders: list[Path] = []
        files: list[Path] = []
        for part in parts:
            more_folders, more_files = _dataset_images(part)
            folders += more_folders
            files += more_files
        return folders, files
    prefix = getattr(dataset, "img_prefix", None) or ""
    infos = getattr(dataset, "data_infos", None) or []
    files = [Path(prefix) / str(info["filename"]) for info in infos if info.get("filename")]
    return ([Path(prefix)] if prefix else []), files


def check_show_dir(dataset: Any, show_dir: str | os.PathLike, what: str = "show_dir") -> dict[str, Path]:
    """``show_dir`` does not overwrite the dataset's images: it is not an image folder of the
    dataset (its ``img_prefix``), and no picture ``show_dir / <picture name>`` (:func:`picture_names`)
    is an image. Returns the picture names (:func:`picture_names`' map).

    Raises:
        ValueError: naming ``what`` (``--show-dir`` for ``rdet test``) and the folder or image
            it would overwrite.
    """
    show = Path(show_dir).resolve()
    folders, files = _dataset_images(dataset)
    for folder in folders:
        if folder.resolve() == show:
            raise ValueError(
                f"{what} {show_dir}: is the dataset's image folder {folder} (img_prefix); its "
                "pictures would overwrite the images; give another folder"
            )
    pictures = _picture_map(files)
    images = set(pictures.values())
    for name, image in pictures.items():
        if (show / name) in images:
            raise ValueError(
                f"{what} {show_dir}: the picture {show / name} would overwrite the dataset's image "
                f"of that path (the picture drawn from {image}); give another folder"
            )
    return pictures


def _picture_name(image: Path, taken: dict[str, Path]) -> str:
    """The ``show_dir`` picture name of ``image``: its file name; where another image (of
    another folder) has that name already, the name with its folders' names in front, one more
    until it is free (``val_images_P0001.png`` beside ``P0001.png`` of ``trainval/images``), then
    ``<folders>_<stem>_<k><suffix>``. ``taken`` maps the names given so far to their images."""
    source = image.resolve()
    name = image.name
    folders = source.parent.parts[::-1]
    for depth in range(len(folders) + 1):
        if depth:
            name = f"{folders[depth - 1]}_{name}"
        if taken.setdefault(name, source) == source:
            return name
    k = 2
    while taken.setdefault(f"{Path(name).stem}_{k}{image.suffix}", source) != source:
        k += 1
    return f"{Path(name).stem}_{k}{image.suffix}"


def picture_names(dataset: Any) -> dict[str, Path]:
    """The ``show_dir`` picture name of each of the dataset's images (its ``data_infos``, through
    wrappers), given in dataset order so that every rank of a distributed test agrees:
    {picture name: image}."""
    return _picture_map(_dataset_images(dataset)[1])


def _picture_map(images: list[Path]) -> dict[str, Path]:
    taken: dict[str, Path] = {}
    for image in images:
        _picture_name(image, taken)
    return taken


def single_gpu_test(
    model: nn.Module,
    loader: Iterable[Any],
    show_dir: str | os.PathLike | None = None,
    show_score_thr: float = 0.3,
    progress: bool = True,
) -> list[Detections]:
    """Predict every image of ``loader`` with ``model.predict``; returns one numpy
    ``Detections`` per image, in dataset order. A batch that is a list of ``DetBatch`` (test-time
    augmentation: one per augmentation) gives the augmentations' merged detections.

    With ``show_dir``, each image is drawn with its detections above ``show_score_thr``, under
    its file name (two images of one name from different folders: the second is prefixed with
    its folders' names, :func:`picture_names`, rather than overwriting the first's picture).

    Raises:
        ValueError: ``show_score_thr`` outside [0, 1]; a ``show_dir`` whose pictures would
            overwrite the images (:func:`check_show_dir`, and each picture before it is written).
    """
    dataset = getattr(loader, "dataset", None)
    pictures: dict[str, Path] = {}
    if show_dir is not None:
        if not 0 <= show_score_thr <= 1:
            raise ValueError(f"show_score_thr = {show_score_thr}: must be in [0, 1]")
        if dataset is not None:
            pictures = check_show_dir(dataset, show_dir)  # by dataset order: the same on every rank
    model.eval()
    device = next(model.parameters()).device
    results: list[Detections] = []
    names: list[str] | None = None
    items = track(loader, desc="testing") if progress else loader
    with torch.no_grad():
        for batch in items:
            if isinstance(batch, list):  # test-time augmentation: one DetBatch per augmentation
                metas, batch = batch[0].metas, [b.to(device) for b in batch]
            else:
                metas, batch = batch.metas, batch.to(device)
            for meta, dets in zip(metas, model.predict(batch)):
                dets = dets.numpy()
                results.append(dets)
                if show_dir is not None and meta.filename:
                    from rdet_apps.visualization import show_result

                    if names is None:
                        classes = getattr(dataset, "CLASSES", None) or getattr(model, "CLASSES", None)
                        names = [str(n) for n in (classes or range(_num_classes(model, dataset)))]
                    out = Path(show_dir) / _picture_name(Path(meta.filename), pictures)
                    if out.resolve() == Path(meta.filename).resolve():
                        raise ValueError(
                            f"show_dir {show_dir}: the picture would overwrite the image "
                            f"{meta.filename}; give another folder"
                        )
                    show_result(meta.filename, dets, names, show_score_thr, out)
    return results


def multi_gpu_test(
    model: nn.Module,
    loader: Iterable[Any],
    progress: bool = True,
    show_dir: str | os.PathLike | None = None,
    show_score_thr: float = 0.3,
    tmpdir: str | os.PathLike | None = None,
) -> list[Detections] | None:
    """``single_gpu_test`` on every rank, results gathered on rank 0 in dataset order (None
    elsewhere). Expects an unshuffled distributed sampler (rank r gets items r, r + world, ...).
    With ``show_dir`` each rank draws its own images (picture names are given by dataset order,
    so two ranks never share one). The results travel through the process group
    (``all_gather_object``), or with ``tmpdir`` (MMCV's CPU collection, ``rdet test --tmpdir``)
    through files there (``part_<rank>.pkl``, removed afterwards), a folder every rank sees."""
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    mine = single_gpu_test(model, loader, show_dir, show_score_thr, progress=progress and rank == 0)
    gathered: list[Any] = [None] * world
    if tmpdir is None:
        dist.all_gather_object(gathered, mine)
    else:
        gathered = _gather_by_files(mine, Path(tmpdir), rank, world)
    if rank != 0:
        return None
    size = len(loader.dataset)
    ordered = [gathered[i % world][i // world] for i in range(size)]
    return ordered


def _gather_by_files(mine: Any, folder: Path, rank: int, world: int) -> list[Any]:
    """Every rank's ``mine`` on rank 0 (others: Nones), through pickles in ``folder``."""
    import pickle

    import torch.distributed as dist

    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"part_{rank}.pkl"
    with open(part, "wb") as f:
        pickle.dump(mine, f)
    dist.barrier()
    gathered: list[Any] = [None] * world
    if rank == 0:
        for r in range(world):
            with open(folder / f"part_{r}.pkl", "rb") as f:
                gathered[r] = pickle.load(f)  # written by this job's ranks just now
    dist.barrier()
    part.unlink(missing_ok=True)
    return gathered


def to_mmrotate_results(results: Results, num_classes: int) -> list[list[np.ndarray]]:
    """MMRotate's result format, per image a list per class of (k, 6) float32 arrays
    ``(cx, cy, w, h, theta, score)``; results already in that format pass through.

    Raises:
        ValueError: A label outside ``[0, num_classes)``.
    """
    return [detections_to_result(r, num_classes) if isinstance(r, Detections) else r for r in results]


def _evaluates_with_scorer(dataset: Any) -> bool:
    """Whether ``dataset.evaluate`` is rdet-data's, which hands the results to the scorer
    untouched (so rdet-eval gets ``Detections`` as they are); wrappers ask their datasets."""
    evaluate = getattr(type(dataset), "evaluate", None)
    if not getattr(evaluate, "__module__", "").startswith("rdet_data."):
        return False
    inner = list(getattr(dataset, "datasets", None) or [])
    if getattr(dataset, "dataset", None) is not None:
        inner.append(dataset.dataset)
    return all(_evaluates_with_scorer(d) for d in inner)


def evaluate_results(
    dataset: Any, results: Results, eval_cfg: dict[str, Any] | None = None
) -> dict[str, float]:
    """``dataset.evaluate(results, ...)`` with rdet-eval's ``eval_rbbox_map`` as the scorer.

    ``results`` are per image ``Detections`` (what ``single_gpu_test`` gives) or MMRotate's
    per-class lists. rdet-data's datasets pass them on to rdet-eval untouched; for any other
    dataset ``Detections`` are converted to per-class lists first. ``eval_cfg`` is the
    config's ``evaluation`` dict (or ``--eval-options``); keys that steer the evaluation hook
    (interval, save_best, ...) are ignored here.
    """
    from rdet_eval import eval_rbbox_map

    kwargs = {k: v for k, v in dict(eval_cfg or {}).items() if k not in _HOOK_KEYS}
    if not _evaluates_with_scorer(dataset):
        results = to_mmrotate_results(results, _num_classes(None, dataset))
    return dataset.evaluate(list(results), scorer=eval_rbbox_map, **kwargs)
