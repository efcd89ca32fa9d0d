"""The analysis commands on real, small inputs: `rdet analyze-logs`, `flops`, `benchmark`,
`confusion-matrix`, `publish`, `test --pr-curves`, `infer` on a video, and the
`results.csv` that training writes.

One quick training (module fixture: 3 epochs of 8 generated 256-pixel images, evaluated at
epoch 2, about 30 s on 2 cores) gives the log, the checkpoint and the work dir they read.
"""

from __future__ import annotations

import csv
import json
import re
import sys

import numpy as np
import pytest
import torch

from rdet_apps.cli import main
from rdet_apps.commands.demo import CONFIG
from rdet_apps.demo_data import make_demo_dota


def _data_options(train, val) -> list[str]:
    opts = []
    for split, s in (("train", train), ("val", val), ("test", val)):
        opts += [f"data.{split}.ann_file={s.labels}/", f"data.{split}.img_prefix={s.images}/"]
    return opts


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    train = make_demo_dota(root / "data/train", num_images=8, size=256, seed=0)
    val = make_demo_dota(root / "data/val", num_images=4, size=256, seed=1)
    work = root / "work"
    options = [*_data_options(train, val), "data.workers_per_gpu=0"]
    train_options = [
        *options,
        "runner.max_epochs=3",
        "evaluation.interval=2",
        "data.samples_per_gpu=2",
        "log_config.interval=1",
    ]
    assert main(["train", str(CONFIG), "--work-dir", str(work), "--cfg-options", *train_options]) == 0
    # an untrained model scores about 0.01: keep its boxes so that the curves have points
    test_options = [*options, "model.test_cfg.score_thr=0.001", "model.test_cfg.max_per_img=20"]
    return dict(root=root, work=work, options=test_options, data=options, val=val, ckpt=work / "latest.pth")


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[0] if err else ""


# -- results.csv -------------------------------------------------------------------------------


def test_training_writes_results_csv(trained):
    rows = list(csv.DictReader((trained["work"] / "results.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for r in rows:
        assert float(r["loss"]) == pytest.approx(float(r["loss_cls"]) + float(r["loss_bbox"]), rel=1e-4)
        assert float(r["lr"]) > 0
    assert rows[1]["mAP"] != "" and rows[0]["mAP"] == "" and rows[2]["mAP"] == ""
    # the epoch means are the means of the per-iteration values in the .log.json (interval 1)
    (log,) = trained["work"].glob("*.log.json")
    records = [json.loads(x) for x in log.read_text().splitlines()]
    epoch1 = [r["loss_cls"] for r in records if r.get("mode") == "train" and r.get("epoch") == 1]
    assert len(epoch1) == 4 and float(rows[0]["loss_cls"]) == pytest.approx(np.mean(epoch1), rel=1e-4)


def test_results_csv_hook_keeps_resumed_rows_and_writes_atomically(tmp_path):
    from rdet_apps.engine.hooks import ResultsCsvHook
    from rdet_apps.engine.log_buffer import LogBuffer

    class Runner:
        work_dir, rank, max_epochs, iter, logger = tmp_path, 0, 4, 0, None
        epoch = 2  # resumed after epoch 2
        log_buffer = LogBuffer()
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)

    (tmp_path / "results.csv").write_text("epoch,loss,lr\n1,2.0,0.01\n2,1.5,0.01\n3,9.0,0.01\n")
    hook, runner = ResultsCsvHook(), Runner()
    hook.before_run(runner)
    hook.before_train_epoch(runner)
    runner.log_buffer.update({"loss": 1.0, "loss_cls": 0.5, "time": 0.1})
    runner.log_buffer.update({"loss": 2.0, "loss_cls": 1.0, "time": 0.1})
    runner.log_buffer.clear()  # the text logger's interval does not reset the epoch's means
    hook.after_train_epoch(runner)
    runner.log_buffer.update({"mAP": 0.25})
    hook.after_val_epoch(runner)
    text = (tmp_path / "results.csv").read_text()
    assert text.splitlines() == [
        "epoch,loss,lr,loss_cls,mAP",
        "1,2,0.01,,",
        "2,1.5,0.01,,",
        "3,1.5,0.01,0.75,0.25",
    ]
    assert not list(tmp_path.glob(".results.csv.tmp*"))


# -- analyze-logs ------------------------------------------------------------------------------


def test_analyze_logs_plot_curve_and_train_time(trained, tmp_path, capsys):
    (log,) = trained["work"].glob("*.log.json")
    out = tmp_path / "curve.png"
    assert main(["analyze-logs", "plot_curve", str(log), "--keys", "loss_cls", "mAP", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"
    assert (
        main(
            [
                "analyze-logs",
                "plot_curve",
                str(log),
                str(log),
                "--keys",
                "loss",
                "--legend",
                "a",
                "b",
                "--title",
                "t",
                "--style",
                "whitegrid",
                "--out",
                str(tmp_path / "new/folder/two.png"),  # made: it failed only at the save
            ]
        )
        == 0
    )
    assert (tmp_path / "new/folder/two.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["analyze-logs", "cal_train_time", str(log)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"average iter time: [0-9.]+ s/iter", text) and "slowest epoch" in text
    assert main(["analyze-logs", "cal_train_time", str(log), "--include-outliers"]) == 0


def test_analyze_logs_errors_are_one_line(trained, tmp_path, capsys):
    (log,) = trained["work"].glob("*.log.json")
    assert (
        main(["analyze-logs", "plot_curve", str(log), "--keys", "nope", "--out", str(tmp_path / "x.png")])
        == 1
    )
    line = _error(capsys)
    assert "--keys nope" in line and "loss_cls" in line
    assert main(["analyze-logs", "cal_train_time", str(tmp_path / "missing.log.json")]) == 1
    assert "missing.log.json" in _error(capsys)
    bad = tmp_path / "bad.log.json"
    bad.write_text('{"epoch": 1, "mode": "train"}\nnot json\n')
    assert main(["analyze-logs", "cal_train_time", str(bad)]) == 1
    assert "bad.log.json:2" in _error(capsys)
    assert main(["analyze-logs", "plot_curve", str(log), "--legend", "a", "b"]) == 1
    assert "--legend" in _error(capsys)
    assert (
        main(["analyze-logs", "plot_curve", str(log), "--keys", "loss", "--out", str(tmp_path / "c.pgn")])
        == 1
    )
    assert re.search(r"--out .*c\.pgn: matplotlib cannot write 'pgn'; use one of .*png", _error(capsys))


def test_cal_train_time_names_a_log_without_times(tmp_path, capsys):
    log = tmp_path / "val_only.log.json"
    log.write_text('{"seed": 0}\n{"mode": "val", "epoch": 1, "iter": 0, "mAP": 0.5}\n')
    assert main(["analyze-logs", "cal_train_time", str(log)]) == 1
    assert f"{log}: no training records with a 'time'" in _error(capsys)


def test_analyze_logs_without_matplotlib_names_the_extra(trained, tmp_path, capsys, monkeypatch):
    (log,) = trained["work"].glob("*.log.json")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    assert main(["analyze-logs", "plot_curve", str(log), "--out", str(tmp_path / "c.png")]) == 1
    assert "pip install 'rdet-apps[plot]'" in _error(capsys)


# -- flops -------------------------------------------------------------------------------------


def test_flops_of_the_golden_retinanet_match_a_hand_count(golden_case, capsys):
    from rdet_apps.apis import init_detector
    from rdet_apps.tools.flops import count_flops

    case = golden_case("retinanet_obb_le90")
    overrides = {k: v for k, v in case["overrides"].items() if k.startswith("model.")}
    model = init_detector(case["config"], None, cfg_options=overrides)
    report = count_flops(model, (256, 256))
    # the head by hand: per pixel of the 5 levels (strides 8..128 on 256: 32^2+16^2+8^2+4^2+2^2
    # = 1364 pixels), 2 + 2 stacked 3x3 convs 32->32, retina_cls 32->9*15, retina_reg 32->9*5
    macs_per_pixel = 4 * 32 * 32 * 9 + 9 * 15 * 32 * 9 + 9 * 5 * 32 * 9
    assert report.modules["bbox_head"][0] == 2 * macs_per_pixel * 1364  # 241,984,512 FLOPs
    # the stem: conv1 7x7 / 2, 3->16 channels on 256x256 -> 128x128
    stem = 2 * 16 * 128 * 128 * 3 * 7 * 7
    assert report.modules["backbone"][0] > stem
    assert report.total_flops == sum(f for f, _ in report.modules.values())
    assert report.total_params == sum(p.numel() for p in model.parameters())
    args = [f"{k}={v}" for k, v in overrides.items() if not isinstance(v, (list, tuple))]
    args += ["model.neck.in_channels=[16,32,64,128]", "model.backbone.init_cfg=None"]
    capsys.readouterr()
    assert main(["flops", str(case["config"]), "--shape", "256", "256", "--cfg-options", *args]) == 0
    out = capsys.readouterr().out
    assert "bbox_head" in out and "0.2420" in out and "Not counted" in out and "NMS" in out


def test_flops_count_deform_conv_as_a_conv():
    from torch.utils.flop_counter import FlopCounterMode

    import rbox_ops
    from rdet_apps.tools.flops import _custom_mapping

    conv = rbox_ops.DeformConv2d(4, 8, 3, padding=1)
    counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping(torch.device("cpu")))
    with torch.no_grad(), counter:
        conv(torch.zeros(1, 4, 8, 8), torch.zeros(1, 18, 8, 8))
    assert counter.get_total_flops() == 2 * 8 * 8 * 8 * 4 * 3 * 3
    dcn2 = rbox_ops.ModulatedDeformConv2dPack(4, 8, 3, padding=1)  # conv_offset: 4 -> 27 channels
    counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping(torch.device("cpu")))
    with torch.no_grad(), counter:
        dcn2(torch.zeros(1, 4, 8, 8))
    assert counter.get_total_flops() == 2 * 8 * 8 * (8 + 27) * 4 * 3 * 3


def test_flops_bad_input(capsys, tmp_path):
    assert main(["flops", str(CONFIG), "--shape", "0", "64"]) == 1
    assert "--shape" in _error(capsys)
    assert main(["flops", str(tmp_path / "nope.py")]) == 1
    assert "nope.py" in _error(capsys)


# -- benchmark ---------------------------------------------------------------------------------


def test_benchmark_on_test_data_and_random_images(trained, capsys):
    ckpt = str(trained["ckpt"])
    args = ["--max-iter", "8", "--log-interval", "2", "--device", "cpu"]
    assert main(["benchmark", str(CONFIG), ckpt, *args, "--cfg-options", *trained["data"]]) == 0
    out = capsys.readouterr().out
    assert "the config's test data (4 images" in out and "Overall fps" in out
    assert len(re.findall(r"Done image \[", out)) == 2  # images 6 and 8, after 5 warm-ups


def test_benchmark_random_images(trained, capsys):
    ckpt = str(trained["ckpt"])
    args = ["--max-iter", "8", "--log-interval", "1", "--device", "cpu", "--shape", "256", "256"]
    assert (
        main(["benchmark", str(CONFIG), ckpt, *args, "--repeat-num", "2", "--cfg-options", *trained["data"]])
        == 0
    )
    out = capsys.readouterr().out
    assert "random 256x256 images" in out and "5 warm-up" in out
    fps = [float(x) for x in re.findall(r"Overall fps: ([0-9.]+) img / s", out)]
    assert len(fps) == 2 and all(f > 0 for f in fps) and "Overall average fps" in out
    print(f"benchmark: {fps} images/s on this CPU (demo RetinaNet, 256x256)")


def test_benchmark_under_a_launcher(trained, capsys, monkeypatch):
    """MMRotate's docs run the benchmark under torch.distributed.launch with --launcher pytorch
    (one process here: the group is joined, timed, and left)."""
    import socket

    import torch.distributed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    args = ["--max-iter", "6", "--device", "cpu", "--shape", "128", "128", "--launcher", "pytorch"]
    assert (
        main(["benchmark", str(CONFIG), str(trained["ckpt"]), *args, "--cfg-options", *trained["data"]]) == 0
    )
    assert "Overall fps" in capsys.readouterr().out and not torch.distributed.is_initialized()


def test_benchmark_bad_input(trained, capsys):
    ckpt = str(trained["ckpt"])
    assert main(["benchmark", str(CONFIG), ckpt, "--max-iter", "3"]) == 1
    assert "--max-iter 3" in _error(capsys)
    assert main(["benchmark", str(CONFIG), ckpt + ".missing", "--shape", "64", "64", "--max-iter", "6"]) == 1
    assert ".missing" in _error(capsys)


# -- test --pr-curves, confusion-matrix ---------------------------------------------------------


@pytest.fixture(scope="module")
def tested(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("tested")
    args = ["test", str(CONFIG), str(trained["ckpt"]), "--eval", "mAP", "--out", str(out / "results.pkl")]
    assert main([*args, "--pr-curves", str(out / "pr"), "--cfg-options", *trained["options"]]) == 0
    return out


def test_test_writes_pr_curves(tested, trained):
    from rdet_apps.tools.pr_curves import pr_curves

    files = sorted(p.name for p in (tested / "pr").iterdir())
    assert files == ["pr_curves.png", "pr_plane.csv", "pr_ship.csv", "pr_storage-tank.csv"]
    rows = list(csv.reader((tested / "pr" / "pr_ship.csv").open()))
    assert rows[0] == ["recall", "precision"] and len(rows) > 1
    recall = np.array([float(r[0]) for r in rows[1:]])
    assert np.all(np.diff(recall) >= 0) and recall.max() <= 1  # by falling score: recall grows
    # the same numbers as rdet-eval's on the pickled results
    import pickle

    from rdet_core import Config
    from rdet_data import build_dataset

    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({k: v for k, v in (o.split("=", 1) for o in trained["options"][:6])})
    results = pickle.loads((tested / "results.pkl").read_bytes())
    dataset = build_dataset({**dict(cfg.data.test), "test_mode": True})
    anns = [dataset.get_ann_info(i) for i in range(len(dataset))]
    curves = {c["name"]: c for c in pr_curves(results, anns, dataset.CLASSES)}
    assert np.allclose(curves["ship"]["recall"], recall, rtol=1e-5, atol=1e-6)


def test_pr_curves_need_eval_map(trained, tmp_path, capsys):
    args = [
        "test",
        str(CONFIG),
        str(trained["ckpt"]),
        "--out",
        str(tmp_path / "r.pkl"),
        "--pr-curves",
        str(tmp_path),
    ]
    assert main([*args, "--cfg-options", *trained["options"]]) == 1
    line = _error(capsys)
    assert "--pr-curves" in line and "needs --eval mAP" in line


def test_confusion_matrix(tested, trained, tmp_path, capsys):
    out = tmp_path / "cm"
    args = ["confusion-matrix", str(CONFIG), str(tested / "results.pkl"), str(out), "--score-thr", "0.0"]
    assert (
        main(
            [*args, "--nms-iou-thr", "0.5", "--color-theme", "viridis", "--cfg-options", *trained["options"]]
        )
        == 0
    )
    matrix = np.load(out / "confusion_matrix.npy")
    assert matrix.shape == (4, 4) and (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.reader((out / "confusion_matrix.csv").open()))
    assert rows[0] == ["gt \\ pred", "plane", "ship", "storage-tank", "background"]
    assert np.array([[int(v) for v in r[1:]] for r in rows[1:]]).tolist() == matrix.astype(int).tolist()
    # every object is counted: found by some class, or missed (background column)
    num_objects = trained["val"].num_objects
    assert matrix[:-1].sum() >= num_objects and matrix[:-1, -1].sum() <= num_objects
    assert "written:" in capsys.readouterr().out


def test_confusion_matrix_bad_input(tested, trained, tmp_path, capsys):
    base = ["confusion-matrix", str(CONFIG)]
    opts = ["--cfg-options", *trained["options"]]
    assert main([*base, str(tmp_path / "none.pkl"), str(tmp_path), *opts]) == 1
    assert "none.pkl" in _error(capsys)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    assert main([*base, str(bad), str(tmp_path), *opts]) == 1
    assert "bad.pkl" in _error(capsys)
    import pickle

    short = tmp_path / "short.pkl"
    short.write_bytes(pickle.dumps(pickle.loads((tested / "results.pkl").read_bytes())[:2]))
    assert main([*base, str(short), str(tmp_path), *opts]) == 1
    assert "short.pkl: 2 results for a test set of 4 images" in _error(capsys)
    assert main([*base, str(tested / "results.pkl"), str(tmp_path), "--tp-iou-thr", "1.5", *opts]) == 1
    assert "--tp-iou-thr" in _error(capsys)


def test_confusion_matrix_results_are_checked_per_image_and_class(tmp_path):
    import pickle

    from rdet_apps.tools.confusion import load_results

    det = np.array([[50, 50, 20, 10, 0.1, 0.9]], np.float32)
    none = np.zeros((0, 6), np.float32)
    path = tmp_path / "r.pkl"
    cases = {
        "result of image 1 is a int": [[det, none], 3],
        "result of image 0 has 1 classes, the test set has 2": [[det], [none, none]],
        # 12 columns would otherwise be read as two detections
        r"image 0, class 0 is of shape \(1, 12\)": [[np.hstack([det, det]), none], [none, none]],
        r"image 1, class 1 is of shape \(1, 5\)": [[det, none], [none, det[:, :5]]],
    }
    for message, results in cases.items():
        path.write_bytes(pickle.dumps(results))
        with pytest.raises(ValueError, match=rf"r.pkl: (result of )?{message}"):
            load_results(path, 2, 2)
    path.write_bytes(pickle.dumps([[det, none], [det[0], []]]))
    assert len(load_results(path, 2, 2)) == 2


def test_confusion_matrix_checks_options_before_the_work(tmp_path, capsys):
    base = ["confusion-matrix", str(CONFIG), str(tmp_path / "r.pkl"), str(tmp_path / "cm")]
    for thr in ("1.5", "-0.1"):
        assert main([*base, "--score-thr", thr]) == 1
        assert f"--score-thr {thr}: must lie in [0, 1]" in _error(capsys)
    pytest.importorskip("matplotlib")
    assert main([*base, "--color-theme", "plasm"]) == 1
    assert "--color-theme plasm: not a matplotlib colour map (close: plasma" in _error(capsys)
    assert not (tmp_path / "cm").exists()


# -- browse-dataset ----------------------------------------------------------------------------


def test_browse_dataset_bad_options(tmp_path, capsys):
    from rdet_apps.commands.browse_dataset import _picture

    out = tmp_path / "browse"
    for n in ("0", "-1"):
        assert main(["browse-dataset", str(CONFIG), "--output-dir", str(out), "--max-images", n]) == 1
        assert f"--max-images {n}: must be positive" in _error(capsys)
    assert main(["browse-dataset", str(CONFIG), "--output-dir", str(out), "--skip-type", "Colect"]) == 1
    line = _error(capsys)
    assert "--skip-type Colect: not a step of data.train's pipeline" in line and "Collect" in line
    assert not out.exists()
    # a formatted (C, H, W) image (Normalize/DefaultFormatBundle not skipped) is named, not drawn
    item = {"img": torch.zeros(3, 8, 8), "gt_bboxes": np.zeros((0, 5)), "gt_labels": np.zeros(0)}
    with pytest.raises(ValueError, match=r"shape \(3, 8, 8\), not \(H, W, 3\).*--skip-type"):
        _picture(item)


# -- publish -----------------------------------------------------------------------------------


def test_publish_strips_the_optimizer_and_names_by_hash(trained, tmp_path, capsys):
    import hashlib

    before = torch.load(trained["ckpt"], weights_only=False)
    assert "optimizer" in before and "rng_state" in before["meta"]
    assert main(["publish", str(trained["ckpt"]), str(tmp_path / "demo.pth")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    final = tmp_path / lines[-1].rsplit("/", 1)[-1]
    assert re.fullmatch(r"demo-[0-9a-f]{8}\.pth", final.name) and final.is_file()
    assert hashlib.sha256(final.read_bytes()).hexdigest()[:8] == final.stem.split("-")[-1]
    assert [p.name for p in tmp_path.iterdir()] == [final.name]
    after = torch.load(final, weights_only=True)
    assert "optimizer" not in after and "rng_state" not in after["meta"]
    assert after["meta"]["CLASSES"] == before["meta"]["CLASSES"]
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())
    assert "optimizer, meta.rng_state" in lines[0]


def test_publish_bad_input(tmp_path, capsys):
    assert main(["publish", str(tmp_path / "in.pth"), str(tmp_path / "out.pth")]) == 1
    assert "in.pth" in _error(capsys)
    (tmp_path / "in.pth").write_bytes(b"")
    assert main(["publish", str(tmp_path / "in.pth"), str(tmp_path / "no" / "out.pth")]) == 1
    assert "out.pth" in _error(capsys)
    # a pickled dict that holds no weights is not published
    torch.save({"a": 1}, tmp_path / "dict.pth")
    assert main(["publish", str(tmp_path / "dict.pth"), str(tmp_path / "out.pth")]) == 1
    assert "dict.pth: not a checkpoint" in _error(capsys)
    torch.save({"state_dict": {}, "meta": {}}, tmp_path / "empty_sd.pth")
    assert main(["publish", str(tmp_path / "empty_sd.pth"), str(tmp_path / "out.pth")]) == 1
    assert "empty_sd.pth: not a checkpoint: its state_dict is an empty dict" in _error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dict.pth", "empty_sd.pth", "in.pth"]


# -- infer on a video --------------------------------------------------------------------------


def test_infer_a_video(trained, tmp_path, capsys):
    import cv2

    frames = [cv2.imread(str(p)) for p in sorted(trained["val"].images.iterdir())][:3] * 2
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (256, 256))
    for f in frames:
        writer.write(f)
    writer.release()
    out = tmp_path / "out"
    args = [
        "infer",
        str(CONFIG),
        str(trained["ckpt"]),
        str(video),
        "--out-dir",
        str(out),
        "--score-thr",
        "0.005",
    ]
    assert main([*args, "--device", "cpu", "--cfg-options", *trained["options"]]) == 0
    assert "clip.mp4: 6 frames" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (256, 256)
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 6
    lines = [json.loads(x) for x in (out / "clip.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(6)) and lines[1]["time"] == pytest.approx(
        1 / 12, abs=1e-3
    )
    assert {"boxes_cxcywha", "scores", "classes", "width", "height"} <= set(lines[0])
    assert all(r["scores"] for r in lines)  # the untrained model's boxes above 0.005 (mp4v is lossy:
    # the same picture twice decodes to slightly different frames, so no exact comparison)


def test_infer_a_broken_video_is_named(trained, tmp_path, capsys):
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"not a video at all")
    args = ["infer", str(CONFIG), str(trained["ckpt"]), str(video), "--out-dir", str(tmp_path / "out")]
    assert main([*args, "--device", "cpu", "--cfg-options", *trained["options"]]) == 1
    assert "broken.mp4" in capsys.readouterr().err


def test_infer_a_video_the_model_cannot_take_leaves_nothing_behind(trained, tmp_path, capsys):
    """Frames 2 px high and 400 wide resize to 0 rows: the video is skipped (exit 1) with the
    frame named, and no stub .mp4 / empty .jsonl stays in --out-dir."""
    import cv2

    video = tmp_path / "strip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (4000, 2))
    for _ in range(3):
        writer.write(np.zeros((2, 4000, 3), np.uint8))
    writer.release()
    assert cv2.VideoCapture(str(video)).read()[0]  # OpenCV reads it back
    out = tmp_path / "out"
    args = ["infer", str(CONFIG), str(trained["ckpt"]), str(video), "--out-dir", str(out)]
    assert main([*args, "--device", "cpu", "--cfg-options", *trained["options"]]) == 1
    err = capsys.readouterr().err
    assert "strip.mp4: frame 0:" in err and "skipped" in err
    assert list(out.iterdir()) == []
