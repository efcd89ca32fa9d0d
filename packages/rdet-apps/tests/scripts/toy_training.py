"""A toy regression trained by rdet's engine: used by the engine tests in subprocesses.

    python toy_training.py WORK_DIR [--kill-at ITER] [--resume CKPT] [--launcher pytorch]

Writes one line per training iteration to WORK_DIR/losses-<rank>.txt: ``iter loss``.
"""

import argparse
import os
import signal
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from rdet_apps.engine import (
    Hook,
    build_runner,
    get_dist_info,
    init_dist,
    leave_process_group,
    set_random_seed,
)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 1)

    def loss(self, batch):
        x, y = batch
        return {"loss_reg": ((self.lin(x).squeeze(-1) - y) ** 2).mean()}


class Record(Hook):
    def __init__(self, path, kill_at):
        self.path, self.kill_at = path, kill_at

    def after_train_iter(self, runner):
        with open(self.path, "a") as f:
            f.write(f"{runner.iter} {runner.losses_history[-1]!r}\n")
            f.flush()
        if self.kill_at is not None and runner.iter == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("work_dir")
    p.add_argument("--kill-at", type=int)
    p.add_argument("--resume")
    p.add_argument("--launcher", default="none")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--shuffle", type=int, default=1)
    a = p.parse_args()
    distributed = a.launcher != "none"
    if distributed:
        init_dist(a.launcher, backend="gloo")
    rank, _ = get_dist_info()
    set_random_seed(0, rank_offset=False)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 6, generator=g)
    y = x @ torch.arange(1.0, 7.0) + 0.1 * torch.randn(64, generator=g)
    ds = TensorDataset(x, y)
    if distributed:
        loader = DataLoader(ds, batch_size=a.batch, sampler=DistributedSampler(ds, shuffle=False))
    else:
        loader = DataLoader(ds, batch_size=a.batch, shuffle=bool(a.shuffle))
    model = Toy()
    cfg = {
        "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9},
        "optimizer_config": {"grad_clip": {"max_norm": 10, "norm_type": 2}},
        "lr_config": {
            "policy": "step",
            "warmup": "linear",
            "warmup_iters": 5,
            "warmup_ratio": 0.1,
            "step": [3],
        },
        "runner": {"type": "EpochBasedRunner", "max_epochs": 4},
        "checkpoint_config": {"interval": 1},
        "log_config": {"interval": 4, "hooks": [{"type": "TextLoggerHook"}]},
        "resume_from": a.resume,
    }
    runner = build_runner(cfg, model, a.work_dir, distributed=distributed)
    runner.register_hook(Record(os.path.join(a.work_dir, f"losses-{rank}.txt"), a.kill_at), "LOWEST")
    runner.run({"train": loader})
    leave_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
