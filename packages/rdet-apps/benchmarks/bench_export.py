"""ONNX Runtime (CPU) against eager PyTorch on the same images, same machine.

    python -m pytest packages/rdet-apps/benchmarks/bench_export.py --benchmark-enable --benchmark-group-by=param:name

Per golden model case (small ResNet-18 variants of MMRotate's configs, one 256 x 320 image):
``graph``: the network and box decoding (eager ``ExportGraph`` vs the ``.onnx`` in ONNX Runtime);
``end_to_end``: image file to per-class results (``rdet_apps.apis.inference_detector`` vs
``rdet_deploy.inference_detector``, whose NMS runs in numpy).

Both run on ``$RDET_BENCH_THREADS`` intra-op threads (default 1): on a shared, oversubscribed
machine torch's OpenMP pool collapses (measured on the 2-core dev box under load: the RetinaNet
graph 3.1 s with 2 threads, 0.08 s with 1), which would measure the machine, not the runtimes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

CASES = ("retinanet_obb_le90", "oriented_rcnn_le90")
THREADS = int(os.environ.get("RDET_BENCH_THREADS", "1"))


def _case(shared_dir: Path, name: str) -> dict:
    models = shared_dir / "golden" / "mmrotate-0.3.4" / "models"
    case = json.loads((models / "cases.json").read_text())[name]
    overrides = dict(case["overrides"])
    overrides["data.test.pipeline.1.img_scale"] = tuple(overrides["data.test.pipeline.1.img_scale"])
    config = shared_dir / "configs" / "mmrotate-0.3.4" / case["config"]
    return dict(
        config=config,
        checkpoint=models / case["checkpoint"],
        image=models / case["image"],
        overrides=overrides,
    )


@pytest.fixture(scope="module", params=CASES)
def exported(request, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rdet_deploy import OnnxDetector

    from rdet_apps.apis import init_detector
    from rdet_apps.export import export_onnx
    from rdet_apps.export.graph import ExportGraph

    torch.set_num_threads(THREADS)
    case = _case(shared_dir, request.param)
    model = init_detector(case["config"], case["checkpoint"], cfg_options=case["overrides"])
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    export_onnx(model, path, input_shape=(256, 320))
    return (
        request.param,
        model,
        ExportGraph(model, (256, 320)).eval(),
        OnnxDetector(path, num_threads=THREADS),
        case,
    )


@pytest.mark.parametrize("runtime", ["eager", "onnxruntime"])
def test_graph(benchmark, exported, runtime: str) -> None:  # type: ignore[no-untyped-def]
    name, _, graph, onnx_model, _ = exported
    benchmark.group = f"{name} graph"
    img = np.random.default_rng(0).standard_normal((1, 3, 256, 320)).astype(np.float32)
    if runtime == "eager":
        x = torch.from_numpy(img)

        def run() -> None:
            with torch.no_grad():
                graph(x)
    else:

        def run() -> None:
            onnx_model.session.run(None, {"img": img, "img_shape": np.array([[256, 320]], np.int64)})

    benchmark(run)


@pytest.mark.parametrize("runtime", ["eager", "onnxruntime"])
def test_end_to_end(benchmark, exported, runtime: str) -> None:  # type: ignore[no-untyped-def]
    from rdet_deploy import inference_detector as deploy_inference

    from rdet_apps.apis import inference_detector

    name, model, _, onnx_model, case = exported
    benchmark.group = f"{name} end to end"
    image = str(case["image"])
    if runtime == "eager":
        result = benchmark(lambda: inference_detector(model, image))
    else:
        result = benchmark(lambda: deploy_inference(onnx_model, image))
    assert len(result) == model.num_classes
