"""``rdet analyze-logs``: MMRotate's tools/analysis_tools/analyze_logs.py on rdet's ``*.log.json``."""

from __future__ import annotations

import argparse

HELP = "plot loss / metric curves (plot_curve) or the time per iteration (cal_train_time) of .log.json files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    plot = sub.add_parser("plot_curve", help="plot curves of losses (by iteration) and metrics (by epoch)")
    plot.add_argument("json_logs", nargs="+", help="training logs, <timestamp>.log.json")
    plot.add_argument(
        "--keys", nargs="+", default=["mAP"], help="what to plot, e.g. loss_cls loss_bbox mAP (default mAP)"
    )
    plot.add_argument("--title", help="title of the figure")
    plot.add_argument("--legend", nargs="+", help="one name per log and key (default <log>_<key>)")
    plot.add_argument("--backend", help="matplotlib backend (default Agg with --out)")
    plot.add_argument("--style", default="dark", help="seaborn style, or a matplotlib style (default dark)")
    plot.add_argument("--out", help="save the figure to this file (else show it)")
    times = sub.add_parser("cal_train_time", help="average time per training iteration")
    times.add_argument("json_logs", nargs="+", help="training logs, <timestamp>.log.json")
    times.add_argument(
        "--include-outliers",
        action="store_true",
        help="count the first iteration of every epoch too (left out by default)",
    )


def run(args: argparse.Namespace) -> int:
    from rdet_apps.tools.logs import load_json_log, plot_curve, train_time

    if args.task == "plot_curve":
        for log in args.json_logs:
            print(f"plot curve of {log}, metrics: {', '.join(args.keys)}")
        plot_curve(args.json_logs, args.keys, args.out, args.title, args.legend, args.backend, args.style)
        if args.out:
            print(f"save curve to: {args.out}")
        return 0
    for log in args.json_logs:
        try:
            t = train_time(load_json_log(log), args.include_outliers)
        except ValueError as e:
            raise ValueError(f"{log}: {e}") from None
        print(f"-----Analyze train time of {log}-----")
        print(f"slowest epoch {t['slowest_epoch']}, average time is {t['slowest_time']:.4f}")
        print(f"fastest epoch {t['fastest_epoch']}, average time is {t['fastest_time']:.4f}")
        print(f"time std over epochs is {t['std_over_epochs']:.4f}")
        print(f"average iter time: {t['mean_iter_time']:.4f} s/iter")
        print()
    return 0
