"""``rdet train``: MMRotate's tools/train.py."""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rdet_apps.amp import add_amp_argument
from rdet_core import Config, DictAction

HELP = "train a detector from an MMRotate config file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file")
    parser.add_argument(
        "--work-dir",
        help="where checkpoints and logs go (default: the config's work_dir, else ./work_dirs/<config name>)",
    )
    parser.add_argument("--resume-from", help="checkpoint to resume from (weights, optimizer, epoch, RNG)")
    parser.add_argument(
        "--auto-resume",
        action="store_true",
        help="resume from the work dir's latest checkpoint (latest.pth, else the highest epoch_N / iter_N), "
        "if there is one; --resume-from wins",
    )
    parser.add_argument("--load-from", help="checkpoint to start from (weights only)")
    parser.add_argument("--no-validate", action="store_true", help="do not evaluate during training")
    gpus = parser.add_mutually_exclusive_group()
    gpus.add_argument(
        "--gpu-id", type=int, help="the GPU to train on without a launcher (default 0; under a launcher each "
        "process takes the GPU of its local rank)",
    )  # fmt: skip
    gpus.add_argument(
        "--gpu-ids", type=int, nargs="+", help="(deprecated: --gpu-id) the first of these GPUs is used"
    )
    gpus.add_argument("--gpus", type=int, help="(deprecated: --gpu-id) one process trains on one GPU: GPU 0")
    parser.add_argument("--seed", type=int, help="random seed (default: the config's seed, else 0)")
    parser.add_argument(
        "--diff-seed",
        action="store_true",
        help="seed each process with seed + its rank (default: every process the same seed, as MMRotate)",
    )
    parser.add_argument("--deterministic", action="store_true", help="deterministic algorithms")
    parser.add_argument(
        "--launcher", choices=("none", "pytorch", "slurm"), default="none", help="distributed launcher"
    )
    add_amp_argument(parser, training=True)
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="override settings",
    )
    parser.add_argument(
        "--options", nargs="+", action=DictAction, metavar="KEY=VALUE", help="(deprecated: --cfg-options)"
    )
    parser.add_argument(
        "--local_rank",
        "--local-rank",
        dest="local_rank",
        type=int,
        default=0,
        help="what torch.distributed.launch passes: this process's GPU (LOCAL_RANK, unless the "
        "environment has it)",
    )


def apply_launcher_args(args: argparse.Namespace, eval_alias: bool = False) -> None:
    """MMRotate's tools' handling of ``--local_rank`` (``LOCAL_RANK`` unless the environment has it)
    and the deprecated ``--options`` (of ``--cfg-options``; in ``rdet test``, of ``--eval-options``,
    as MMDetection's tools/test.py).

    Raises:
        ValueError: ``--options`` given with the option it stands for.
    """
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    if args.options:
        new = "--eval-options" if eval_alias else "--cfg-options"
        dest = "eval_options" if eval_alias else "cfg_options"
        if getattr(args, dest):
            raise ValueError(
                f"--options and {new} cannot be both given: --options is deprecated in favor of {new}"
            )
        warnings.warn(f"--options is deprecated in favor of {new}", stacklevel=2)
        setattr(args, dest, args.options)


def gpu_device(args: argparse.Namespace, distributed: bool) -> Any:
    """The device ``--gpu-id`` / ``--gpu-ids`` / ``--gpus`` choose (MMDetection's tools: one GPU per
    process; of ``--gpu-ids`` the first, with a warning when there are more), None when none of
    them is given or a launcher starts the processes (each takes the GPU of its local rank; a
    warning says the option is not used).

    Raises:
        ValueError: The GPU does not exist on this machine (no CUDA, or fewer GPUs).
    """
    ids = (
        [args.gpu_id]
        if getattr(args, "gpu_id", None) is not None
        else list(args.gpu_ids)
        if getattr(args, "gpu_ids", None)
        else list(range(args.gpus))
        if getattr(args, "gpus", None) is not None
        else None
    )
    if ids is None:
        return None
    if distributed:
        warnings.warn(
            f"--gpu-id / --gpu-ids / --gpus {ids}: not used under a launcher (each process takes the GPU of "
            "its local rank)",
            stacklevel=2,
        )
        return None
    if len(ids) > 1:
        warnings.warn(
            f"We treat {ids} as gpu-ids, and reset to {ids[:1]} as gpu-ids to avoid potential error in "
            "non-distribute training time.",
            stacklevel=2,
        )
    if not ids:
        return None
    from rdet_apps.apis.inference import resolve_device

    return resolve_device(f"cuda:{ids[0]}", "--gpu-id")


def run(args: argparse.Namespace) -> int:
    import rdet_models
    from rdet_apps.apis.train import default_device, train_detector
    from rdet_apps.commands.env import collect
    from rdet_apps.engine import dist_params, init_dist, leave_process_group, set_random_seed
    from rdet_apps.engine.config_checks import check_runtime_config, model_config
    from rdet_apps.engine.workers import setup_multi_processes
    from rdet_apps.logs import get_logger
    from rdet_data import build_dataset

    apply_launcher_args(args)
    cfg = Config.fromfile(args.config)
    from rdet_apps.cfg_options import merge_cfg_options

    merge_cfg_options(cfg, args.cfg_options)
    check_runtime_config(cfg)  # before anything is built or written (build_runner checks again)
    setup_multi_processes(cfg)
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or str(Path("work_dirs") / Path(args.config).stem)
    if args.resume_from:
        cfg.resume_from = args.resume_from
    if args.auto_resume:
        cfg.auto_resume = True
    if args.load_from:
        cfg.load_from = args.load_from
    distributed = args.launcher != "none"
    device = gpu_device(args, distributed)
    rank = init_dist(args.launcher, **dist_params(cfg))[0] if distributed else 0
    Path(cfg.work_dir).mkdir(parents=True, exist_ok=True)
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    logger = get_logger(Path(cfg.work_dir) / f"{timestamp}.log", cfg.get("log_level", "INFO"), rank)
    if rank == 0:
        cfg.dump(Path(cfg.work_dir) / Path(args.config).name)
        logger.info("environment:\n" + "\n".join(f"{k}: {v}" for k, v in collect().items()))
    seed = args.seed if args.seed is not None else cfg.get("seed", 0)
    cfg.seed = set_random_seed(seed, args.deterministic, rank_offset=args.diff_seed)
    model = rdet_models.build_detector(model_config(cfg))  # a top-level train_cfg / test_cfg moved in
    model.init_weights()
    if device is not None and device.type == "cuda":
        import torch

        torch.cuda.set_device(device)
    model.to(device if device is not None else default_device(distributed))
    datasets = [build_dataset(cfg.data.train)]
    if any(phase == "val" for phase, _ in cfg.get("workflow") or []):
        datasets.append(build_dataset(_val_with_train_pipeline(cfg.data.val, cfg.data.train)))
    meta = {"seed": cfg.seed, "exp_name": Path(args.config).name, "env_info": ""}
    runner = train_detector(
        model,
        datasets,
        cfg,
        distributed,
        not args.no_validate,
        timestamp,
        meta,
        args.amp,
        logger,
    )
    leave_process_group()
    if rank == 0:
        logger.info(f"done: {runner.iter} iterations; checkpoints and logs in {cfg.work_dir}")
    return 0


def _val_with_train_pipeline(val: Any, train: Any) -> dict[str, Any]:
    """``data.val`` with the training pipeline (MMDetection's ``('val', 1)`` workflow computes
    losses on it). The pipeline is found inside wrappers (``RepeatDataset.dataset``); a dataset
    that has none (it returns ``DetSample`` itself) keeps its own settings."""
    inner = dict(train)
    while "pipeline" not in inner and isinstance(inner.get("dataset"), Mapping):
        inner = dict(inner["dataset"])
    out = dict(val)
    if "pipeline" in inner:
        out["pipeline"] = inner["pipeline"]
    return out
