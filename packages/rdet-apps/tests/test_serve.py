"""`rdet serve` (issue 14): the real server on 127.0.0.1, real HTTP requests.

Most tests serve a small stand-in predictor (one detection per image that states the image's
size, so that each answer can be traced to its request) from uvicorn in a thread; the last
starts `rdet serve` on a golden case's checkpoint in a subprocess and compares its JSON with
MMRotate's detections.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from rbox_geometry import obb2poly
from rdet_apps.serve import (
    SERVE_EXTRA_HINT,
    BatcherClosedError,
    BatcherFullError,
    ImageLimits,
    MicroBatcher,
    PredictionError,
    bind,
    create_app,
)
from rdet_core.structures import Detections

httpx = pytest.importorskip("httpx", reason="the tests' HTTP client (httpx) is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install 'rdet-apps[serve]'")


class EchoPredictor:
    """Per image: label ``h % 2``, score 0.9, box ``(w/2, h/2, w, h, 0.25)``, and a second
    detection of score 0.1. Records the heights of each batch; raises on a batch holding an
    image of height ``poison``, and waits ``delay`` seconds per batch."""

    classes = ("plane", "ship")

    def __init__(self, delay: float = 0.0, poison: int | None = None) -> None:
        self.delay = delay
        self.poison = poison
        self.batches: list[list[int]] = []

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        heights = [int(img.shape[0]) for img in images]
        self.batches.append(heights)
        time.sleep(self.delay)
        if self.poison in heights:
            raise RuntimeError("boom: a poisoned batch")
        out = []
        for img in images:
            assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
            h, w = img.shape[:2]
            boxes = np.array([[w / 2, h / 2, w, h, 0.25], [1, 1, 2, 2, 0]], np.float32)
            out.append(Detections(boxes, np.array([0.9, 0.1], np.float32), np.array([h % 2, 0])))
        return out


@contextlib.contextmanager
def serving(app: object) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free port of 127.0.0.1; yields its URL."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"


def png(height: int, width: int, seed: int = 0) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


def post_raw(url: str, data: bytes, content_type: str = "image/png", **kw: object) -> httpx.Response:
    return httpx.post(
        f"{url}/predict", content=data, headers={"content-type": content_type}, timeout=60, **kw
    )


def check_echo(answer: dict, height: int, width: int) -> None:
    assert (answer["height"], answer["width"]) == (height, width)
    (det,) = answer["detections"]  # the default threshold, 0.3, keeps the 0.9 one
    assert det["class"] == EchoPredictor.classes[height % 2] and det["label"] == height % 2
    assert det["score"] == pytest.approx(0.9)
    np.testing.assert_allclose(det["box"], [width / 2, height / 2, width, height, 0.25], rtol=1e-6)
    np.testing.assert_allclose(det["polygon"], obb2poly(np.array(det["box"])), atol=1e-4)


def test_predict_takes_a_form_or_a_raw_body_and_answers_json() -> None:
    predictor = EchoPredictor()
    data = png(31, 40)
    with serving(create_app(predictor)) as url:
        form = httpx.post(f"{url}/predict", files={"image": ("a.png", data, "image/png")}, timeout=60)
        raw = post_raw(url, data)
        octets = post_raw(url, data, "application/octet-stream")
        jpeg = post_raw(url, cv2.imencode(".jpg", np.zeros((31, 40, 3), np.uint8))[1].tobytes(), "image/jpeg")
        everything = post_raw(url, data, params={"score_thr": "0"})
        classes = httpx.get(f"{url}/classes").json()
        health = httpx.get(f"{url}/health").json()
    for answer in (form, raw, octets, jpeg):
        assert answer.status_code == 200, answer.text
        check_echo(answer.json(), 31, 40)
    assert form.json() == raw.json() == octets.json()
    scores = [d["score"] for d in everything.json()["detections"]]
    assert scores == pytest.approx([0.9, 0.1])  # all of them, by falling score
    assert classes == {"classes": ["plane", "ship"]}
    assert health["status"] == "ok" and health["batcher"]["requests"] == 5
    assert sum(map(len, predictor.batches)) == 5


def test_torchserve_api_answers_as_mmrotates_handler() -> None:
    """MMRotate deploys with TorchServe (mmrotate2torchserve): clients PUT (curl -T) or POST an
    image to /predictions/<model> and get the handler's list, and GET /ping."""
    with serving(create_app(EchoPredictor(), model_name="rotated_retinanet")) as url:
        put = httpx.put(f"{url}/predictions/rotated_retinanet", content=png(31, 40), timeout=60)  # no type
        post = httpx.post(
            f"{url}/predictions/rotated_retinanet",
            content=png(31, 40),
            headers={"content-type": "image/png"},
            params={"score_thr": "0"},
            timeout=60,
        )
        # TorchServe's other clients: a form whose file is 'data', curl --data-binary's type
        form = httpx.post(
            f"{url}/predictions/rotated_retinanet", files={"data": ("a.png", png(31, 40))}, timeout=60
        )
        urlencoded = httpx.post(
            f"{url}/predictions/rotated_retinanet",
            content=png(31, 40),
            headers={"content-type": "application/x-www-form-urlencoded"},
            timeout=60,
        )
        other = httpx.post(f"{url}/predictions/ships", content=png(31, 40), timeout=60)
        ping = httpx.get(f"{url}/ping")
    assert put.status_code == 200, put.text
    (det,) = put.json()  # the handler's threshold, 0.5, keeps the 0.9 one
    assert (
        det["class_name"] == "ship"
        and det["score"] == pytest.approx(0.9)
        and set(det) == {"class_name", "bbox", "score"}
    )
    np.testing.assert_allclose(det["bbox"], [20, 15.5, 40, 31, 0.25], rtol=1e-6)
    # by class, then by falling score: plane's 0.1 first, then ship's 0.9
    assert [(d["class_name"], round(d["score"], 2)) for d in post.json()] == [("plane", 0.1), ("ship", 0.9)]
    assert form.json() == urlencoded.json() == put.json()
    assert other.status_code == 404 and other.json()["type"] == "ModelNotFoundException"
    assert "serves 'rotated_retinanet'" in other.json()["message"]
    assert ping.json() == {"status": "Healthy"}
    with pytest.raises(ValueError, match="model_name must be a non-empty name without '/'"):
        create_app(EchoPredictor(), model_name="a/b")


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer() -> None:
    predictor = EchoPredictor(delay=0.1)
    heights = [20 + i for i in range(8)]
    with serving(create_app(predictor, max_batch_size=4, max_wait_ms=1000)) as url:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda h: post_raw(url, png(h, 30 + h)), heights))
        stats = httpx.get(f"{url}/health").json()["batcher"]
    for h, answer in zip(heights, answers):
        assert answer.status_code == 200, answer.text
        check_echo(answer.json(), h, 30 + h)
    sizes = [len(b) for b in predictor.batches]
    assert sum(sizes) == 8 and max(sizes) > 1 and max(sizes) <= 4, sizes
    assert stats["largest_batch"] == max(sizes) and stats["batches"] == len(sizes)
    assert stats["requests"] == 8 and stats["failed_batches"] == 0


LIMITS = ImageLimits(max_upload_bytes=50_000, max_pixels=100 * 100)


def _chunks() -> Iterator[bytes]:
    for _ in range(8):
        yield b"\0" * 10_000


#: name -> (httpx.post keyword arguments, expected status, a piece of the message)
BAD_REQUESTS: dict[str, tuple[dict, int, str]] = {
    "not an image": (
        dict(content=b"hello world", headers={"content-type": "image/png"}),
        400,
        "not a format",
    ),
    "truncated png": (
        dict(content=png(50, 50)[:60], headers={"content-type": "image/png"}),
        400,
        "corrupt PNG",
    ),
    "empty body": (dict(content=b"", headers={"content-type": "image/png"}), 400, "empty"),
    "too many bytes": (
        dict(content=b"\0" * 60_000, headers={"content-type": "image/png"}),
        413,
        "--max-upload-bytes",
    ),
    "too many bytes, chunked": (
        dict(content=_chunks, headers={"content-type": "image/png"}),
        413,
        "50000 bytes",
    ),
    "too many pixels, from the header": (
        dict(content=cv2.imencode(".png", np.zeros((200, 120, 3), np.uint8))[1].tobytes()),
        413,
        "200x120",
    ),
    "too many pixels, decoded": (
        dict(content=cv2.imencode(".tiff", np.zeros((200, 120, 3), np.uint8))[1].tobytes()),
        413,
        "--max-pixels",
    ),
    "json": (dict(json={"image": "abc"}), 415, "'application/json' is not accepted"),
    "no content type": (dict(content=png(20, 20)), 415, "Content-Type is missing"),
    "form without an image": (dict(files={"picture": ("a.png", png(20, 20), "image/png")}), 400, "'picture'"),
    "form with a text image": (
        dict(data={"image": "abc"}, files={"other": ("a.png", png(20, 20), "image/png")}),
        400,
        "must be a file",
    ),
    "form with a text file": (dict(files={"image": ("a.txt", b"hello", "text/plain")}), 415, "text/plain"),
    "form with two files": (
        dict(files=[("image", ("a.png", png(20, 20), "image/png"))] * 2),
        400,
        "multipart form",
    ),
    "score_thr not a number": (dict(content=png(20, 20), params={"score_thr": "high"}), 400, "score_thr"),
    "score_thr over 1": (dict(content=png(20, 20), params={"score_thr": "1.5"}), 400, "score_thr"),
}


@pytest.fixture(scope="module")
def limited_server() -> Iterator[tuple[str, EchoPredictor]]:
    predictor = EchoPredictor()
    with serving(create_app(predictor, limits=LIMITS)) as url:
        yield url, predictor


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_input_gets_a_4xx_naming_the_problem_and_the_server_goes_on(
    limited_server: tuple[str, EchoPredictor], case: str
) -> None:
    url, predictor = limited_server
    kwargs, status, message = BAD_REQUESTS[case]
    kwargs = dict(kwargs)
    if kwargs.get("content") is _chunks:
        kwargs["content"] = _chunks()  # a generator: sent chunked, without Content-Length
    if "content" in kwargs and "headers" not in kwargs and case != "no content type":
        kwargs["headers"] = {"content-type": "image/png"}
    seen = sum(map(len, predictor.batches))
    answer = httpx.post(f"{url}/predict", timeout=60, **kwargs)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"], answer.json()
    assert sum(map(len, predictor.batches)) == seen  # refused before the model
    good = post_raw(url, png(21, 22))
    assert good.status_code == 200 and httpx.get(f"{url}/health").json()["status"] == "ok"
    check_echo(good.json(), 21, 22)


def test_a_failing_predict_fails_its_batch_only_and_the_server_goes_on() -> None:
    predictor = EchoPredictor(delay=0.05, poison=13)
    heights = [13, 20, 21, 22]
    with serving(create_app(predictor, max_batch_size=4, max_wait_ms=1000)) as url:
        with ThreadPoolExecutor(4) as pool:
            first = list(pool.map(lambda h: post_raw(url, png(h, 20)), heights))
            second = list(pool.map(lambda h: post_raw(url, png(h, 20)), heights[1:]))
        health = httpx.get(f"{url}/health")
    poisoned = {h for batch in predictor.batches if 13 in batch for h in batch}
    for h, answer in zip(heights, first):
        if h in poisoned:
            assert answer.status_code == 500 and "RuntimeError: boom" in answer.json()["detail"]
        else:
            assert answer.status_code == 200
    assert first[0].status_code == 500 and all(a.status_code == 200 for a in second)
    for h, answer in zip(heights[1:], second):
        check_echo(answer.json(), h, 20)
    assert health.status_code == 200 and health.json()["batcher"]["failed_batches"] == 1


def _blocking_predict(release: threading.Event) -> Callable[[Sequence[np.ndarray]], list[Detections]]:
    def predict(images: Sequence[np.ndarray]) -> list[Detections]:
        release.wait(10)
        return [Detections.empty() for _ in images]

    return predict


def test_micro_batcher_checks_its_settings_and_bounds_its_queue() -> None:
    for kwargs, name in (
        (dict(max_batch_size=0), "max_batch_size"),
        (dict(max_wait_ms=-1), "max_wait_ms"),
        (dict(max_wait_ms=float("nan")), "max_wait_ms"),
        (dict(max_queue=0), "max_queue"),
    ):
        with pytest.raises(ValueError, match=name):
            MicroBatcher(lambda images: [], **kwargs)
    image = np.zeros((4, 4, 3), np.uint8)
    release = threading.Event()
    batcher = MicroBatcher(_blocking_predict(release), max_batch_size=1, max_wait_ms=0, max_queue=2)
    with pytest.raises(BatcherClosedError):
        batcher.submit(image)
    batcher.start()
    running = batcher.submit(image)
    deadline = time.monotonic() + 60
    while batcher.stats()["queued"] and time.monotonic() < deadline:  # the worker took it
        time.sleep(0.01)
    assert batcher.stats()["queued"] == 0, "the worker did not take the first image"
    waiting = [batcher.submit(image), batcher.submit(image)]
    with pytest.raises(BatcherFullError):
        batcher.submit(image)
    release.set()
    assert len(running.result(10)) == 0 and all(len(f.result(10)) == 0 for f in waiting)
    assert batcher.stats()["rejected"] == 1 and batcher.stats()["batch_sizes"] == {"1": 3}
    batcher.stop()
    assert not batcher.alive
    with pytest.raises(BatcherClosedError):
        batcher.submit(image)


def test_micro_batcher_fails_a_batch_with_a_wrong_number_of_results() -> None:
    batcher = MicroBatcher(lambda images: [Detections.empty()], max_batch_size=2, max_wait_ms=60000)
    batcher.start()
    try:
        futures = [batcher.submit(np.zeros((4, 4, 3), np.uint8)) for _ in range(2)]
        for f in futures:
            with pytest.raises(PredictionError, match="1 results for 2 images"):
                f.result(10)
        assert batcher.alive and batcher.stats()["failed_batches"] == 1
    finally:
        batcher.stop()


def test_torch_predictor_batches_images_of_one_shape_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Padding an image to a larger companion's shape changes its detections: each shape is
    its own ``model.predict``, and the answers come back in the images' order."""
    import rdet_apps.apis
    from rdet_apps.serve import TorchPredictor

    calls: list[list[int]] = []

    def fake_predict_images(model: object, images: list[np.ndarray]) -> list[Detections]:
        calls.append([int(img[0, 0, 0]) for img in images])
        return [
            Detections(np.full((1, 5), img[0, 0, 0], np.float32), np.ones(1), np.zeros(1)) for img in images
        ]

    monkeypatch.setattr(rdet_apps.apis, "predict_images", fake_predict_images)
    predictor = TorchPredictor(type("Model", (), {"CLASSES": ("a", "b")})())
    shapes = [(10, 20), (30, 20), (10, 20), (30, 20), (5, 5)]
    images = [np.full((*shape, 3), i, np.uint8) for i, shape in enumerate(shapes)]
    dets = predictor.predict(images)
    assert calls == [[0, 2], [1, 3], [4]] and predictor.classes == ["a", "b"]
    assert [int(d.boxes[0, 0]) for d in dets] == [0, 1, 2, 3, 4]


def test_a_missing_extra_is_named_with_its_pip_install(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from rdet_apps.cli import main

    with pytest.raises(ValueError, match="classes"):
        create_app(type("NoClasses", (), {"classes": [], "predict": None})())
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # None in sys.modules: import fails
    with pytest.raises(ModuleNotFoundError, match=re.escape(SERVE_EXTRA_HINT)):
        create_app(EchoPredictor())
    assert main(["serve", "missing.py", "missing.pth"]) == 1
    err = capsys.readouterr().err
    assert "uvicorn" in err and SERVE_EXTRA_HINT in err


def test_importing_the_cli_and_serve_loads_no_web_framework_nor_torch() -> None:
    code = (
        "import sys, rdet_apps.cli, rdet_apps.serve; "
        "print(sorted({'fastapi', 'uvicorn', 'starlette', 'torch'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out


def _wait_for_address(proc: subprocess.Popen, lines: list[str], timeout: float) -> str:
    """Read the server's output until it says where it listens (a reader thread keeps the
    rest flowing into ``lines``)."""
    found = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "listening on" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        proc.kill()
        raise AssertionError("rdet serve did not start:\n" + "".join(lines))
    return re.search(r"listening on (http://\S+)", "".join(lines)).group(1)  # type: ignore[union-attr]


def test_rdet_serve_answers_a_golden_cases_detections(golden_case, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`rdet serve` on the golden Rotated RetinaNet: two concurrent requests (a form and a raw
    body) form one batch, and each answer holds MMRotate's detections."""
    case = golden_case("retinanet_obb_le90")
    options = [
        f"{k}={'None' if v is None else repr(v).replace(' ', '')}" for k, v in case["overrides"].items()
    ]
    command = [sys.executable, "-m", "rdet_apps", "serve", str(case["config"]), str(case["checkpoint"])]
    # the batch closes as soon as the second image arrives: a long wait costs nothing, and a busy
    # 2-core machine may take seconds between the two requests
    command += ["--port", "0", "--device", "cpu", "--max-batch-size", "2", "--max-wait-ms", "60000"]
    command += ["--log-level", "warning", "--cfg-options", *options]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    try:
        url = _wait_for_address(proc, lines, timeout=600)
        data = case["image"].read_bytes()
        with ThreadPoolExecutor(2) as pool:
            form = pool.submit(
                httpx.post,
                f"{url}/predict",
                files={"image": ("p.png", data, "image/png")},
                params={"score_thr": 0},
                timeout=600,
            )
            raw = pool.submit(post_raw, url, data, params={"score_thr": 0})
            answers = [form.result(), raw.result()]
        health = httpx.get(f"{url}/health").json()
        classes = httpx.get(f"{url}/classes").json()["classes"]
        # TorchServe's path, named after the checkpoint as mmrotate2torchserve names the .mar
        served = httpx.put(f"{url}/predictions/{case['checkpoint'].stem}", content=data, timeout=600)
    finally:
        proc.terminate()
        proc.wait(60)
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers] + lines
    assert health["batcher"]["batch_sizes"] == {"2": 1}, health  # the warm-up is not a request
    assert len(classes) == 15 and classes[0] == "plane"
    assert answers[0].json() == answers[1].json()
    ref = case["result"]
    dets = answers[0].json()["detections"]
    assert len(dets) == case["num_detections"] == sum(len(ref[f"class{c:02d}"]) for c in range(15))
    img = cv2.imread(str(case["image"]))
    assert (answers[0].json()["height"], answers[0].json()["width"]) == img.shape[:2]
    matched = 0
    for det in dets:
        rows = ref[f"class{classes.index(det['class']):02d}"]
        close = (np.abs(rows[:, :5] - np.array(det["box"])).max(1) < 1e-2) & (
            np.abs(rows[:, 5] - det["score"]) < 1e-3
        )
        matched += bool(close.any())
        np.testing.assert_allclose(det["polygon"], obb2poly(np.array(det["box"])), atol=1e-3)
    assert matched >= 0.98 * len(dets), f"{matched} of {len(dets)} detections match MMRotate's"
    # MMRotate's handler: every class's rows of score >= 0.5, class by class
    assert served.status_code == 200, served.text
    want = [(c, row) for c in range(15) for row in ref[f"class{c:02d}"] if row[5] >= 0.5]
    got = served.json()
    assert [d["class_name"] for d in got] == [classes[c] for c, _ in want]
    for d, (_, row) in zip(got, want):
        np.testing.assert_allclose(d["bbox"] + [d["score"]], row, atol=1e-2)
    assert json.dumps(answers[0].json())  # plain JSON types all the way down


def test_an_exported_onnx_model_is_served_without_torch_in_the_request_path(
    golden_case, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """`rdet export` of the golden Rotated RetinaNet, served by OnnxPredictor (rdet_deploy +
    ONNX Runtime): the answer holds MMRotate's detections; another image size is padded to the
    exported input, not refused."""
    pytest.importorskip(
        "onnxruntime", reason="the export extra is not installed: pip install 'rdet-apps[export]'"
    )
    from rdet_apps.apis import init_detector
    from rdet_apps.export import export_onnx
    from rdet_apps.serve import OnnxPredictor

    case = golden_case("retinanet_obb_le90")
    model = init_detector(case["config"], case["checkpoint"], cfg_options=case["overrides"])
    path = tmp_path / "retina.onnx"
    export_onnx(model, path, input_shape=(256, 320))  # the golden image: 256 x 320
    predictor = OnnxPredictor(path)
    assert predictor.classes[0] == "plane" and len(predictor.classes) == 15
    with serving(create_app(predictor, max_wait_ms=1)) as url:
        answer = post_raw(url, case["image"].read_bytes(), params={"score_thr": 0})
        smaller = post_raw(url, png(100, 140), params={"score_thr": 0})
    assert answer.status_code == 200 and smaller.status_code == 200, (answer.text, smaller.text)
    assert (smaller.json()["height"], smaller.json()["width"]) == (100, 140)
    ref = case["result"]
    dets = answer.json()["detections"]
    assert abs(len(dets) - case["num_detections"]) <= 0.02 * case["num_detections"]
    matched = 0
    for det in dets:
        rows = ref[f"class{predictor.classes.index(det['class']):02d}"]
        close = (np.abs(rows[:, :5] - np.array(det["box"])).max(1) < 1e-2) & (
            np.abs(rows[:, 5] - det["score"]) < 1e-3
        )
        matched += bool(close.any())
    assert matched >= 0.98 * len(dets), f"{matched} of {len(dets)} detections match MMRotate's"


def test_serve_names_what_does_not_fit_an_onnx_model_or_a_missing_checkpoint(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from rdet_apps.cli import main

    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    assert main(["serve", str(model), "epoch_12.pth"]) != 0
    assert "exported model" in capsys.readouterr().err
    assert main(["serve", "configs/some_config.py"]) != 0
    assert "give the checkpoint" in capsys.readouterr().err
