"""``rdet train``: MMRotate's tools/train.py."""

from __future__ import annotations

import argparse
import time
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
    parser.add_argument("--load-from", help="checkpoint to start from (weights only)")
    parser.add_argument("--no-validate", action="store_true", help="do not evaluate during training")
    parser.add_argument("--seed", type=int, help="random seed (default: the config's seed, else 0)")
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


def run(args: argparse.Namespace) -> int:
    import rdet_models
    from rdet_apps.apis.train import default_device, train_detector
    from rdet_apps.commands.env import collect
    from rdet_apps.engine import dist_params, init_dist, leave_process_group, set_random_seed
    from rdet_apps.engine.config_checks import check_runtime_config
    from rdet_apps.logs import get_logger
    from rdet_data import build_dataset

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_runtime_config(cfg)  # before anything is built or written (build_runner checks again)
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or str(Path("work_dirs") / Path(args.config).stem)
    if args.resume_from:
        cfg.resume_from = args.resume_from
    if args.load_from:
        cfg.load_from = args.load_from
    distributed = args.launcher != "none"
    rank = init_dist(args.launcher, **dist_params(cfg))[0] if distributed else 0
    Path(cfg.work_dir).mkdir(parents=True, exist_ok=True)
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    logger = get_logger(Path(cfg.work_dir) / f"{timestamp}.log", cfg.get("log_level", "INFO"), rank)
    if rank == 0:
        cfg.dump(Path(cfg.work_dir) / Path(args.config).name)
        logger.info("environment:\n" + "\n".join(f"{k}: {v}" for k, v in collect().items()))
    seed = args.seed if args.seed is not None else cfg.get("seed", 0)
    cfg.seed = set_random_seed(seed, args.deterministic)
    model = rdet_models.build_detector(cfg.model)
    model.init_weights()
    model.to(default_device(distributed))
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
