"""The FastAPI application: ``POST /predict``, ``GET /health`` (with the batcher's counters),
``GET /classes``; and TorchServe's inference API as MMRotate deploys a model
(``mmrotate2torchserve``): ``POST /predictions/<model name>`` answers what MMRotate's handler
does, ``GET /ping`` TorchServe's health answer, so that existing clients keep working.

Requests are decoded in the thread pool, queued on a :class:`MicroBatcher` (one worker
thread, one batched predict per gathered batch) and answered as JSON. Refusals are
``{"detail": message}`` with a 4xx status (422: an image the model cannot take, such as a
2x5000 one that its test pipeline resizes to no pixels); a failed predict is a 500 for the
requests of its batch only, and the server goes on serving.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations
(``Request``, imported with the extra inside :func:`create_app`) as objects.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rdet_apps.serve.batcher import (
    BatcherClosedError,
    BatcherFullError,
    ImageRejectedError,
    MicroBatcher,
    PredictionError,
)
from rdet_apps.serve.detections_json import detections_to_json, detections_to_torchserve
from rdet_apps.serve.extra import require_serve_extra
from rdet_apps.serve.payload import ImageLimits, RequestError, decode_image, parse_score_thr, read_image_bytes
from rdet_apps.serve.predictor import Predictor, check_class_names

__all__ = ["create_app"]

logger = logging.getLogger("rdet.serve")


def create_app(
    predictor: Predictor,
    *,
    max_batch_size: int = 8,
    max_wait_ms: float = 5.0,
    max_queue: int = 256,
    limits: ImageLimits | None = None,
    score_thr: float = 0.3,
    model_name: str = "rdet",
    torchserve_score_thr: float = 0.5,
) -> Any:
    """A FastAPI app serving ``predictor``; its batcher starts and stops with the app (lifespan).

    Args:
        predictor: ``classes`` and ``predict(images) -> list[Detections]`` (``Predictor``).
        max_batch_size, max_wait_ms, max_queue: the micro-batcher's settings (``MicroBatcher``).
        limits: the most bytes and pixels one request may send (``ImageLimits()``'s defaults).
        score_thr: the default score threshold of ``/predict`` (a request's ``?score_thr=``
            overrides it).
        model_name: the name of ``/predictions/<model_name>`` (TorchServe's path; any other
            name is TorchServe's 404).
        torchserve_score_thr: the default threshold of ``/predictions`` (MMRotate's handler's,
            0.5; ``?score_thr=`` overrides it too).

    Returns:
        A ``fastapi.FastAPI``; ``app.state.batcher`` is its ``MicroBatcher``.

    Raises:
        ModuleNotFoundError: The serve extra is not installed (the message says how).
        ValueError: A bad setting, named.
    """
    require_serve_extra()
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    classes = check_class_names(getattr(predictor, "classes", None))
    if not callable(getattr(predictor, "predict", None)):
        raise ValueError(f"predictor must have a predict(images) method, got {type(predictor).__name__}")
    for name, thr in (("score_thr", score_thr), ("torchserve_score_thr", torchserve_score_thr)):
        if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not 0.0 <= thr <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1], got {thr!r}")
    if not isinstance(model_name, str) or not model_name or "/" in model_name:
        raise ValueError(f"model_name must be a non-empty name without '/', got {model_name!r}")
    limits = limits or ImageLimits()
    batcher = MicroBatcher(
        predictor.predict, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue=max_queue
    )

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            await run_in_threadpool(batcher.stop)

    app = FastAPI(title="rdet serve", summary="rotated object detection over HTTP", lifespan=lifespan)
    app.state.batcher = batcher

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("rdet serve: %s %s failed", request.method, request.url.path)
        return refuse(500, f"internal error: {type(exc).__name__}: {exc}")

    async def detect(request: Request, default_thr: float, torchserve: bool = False) -> Any:
        """``(detections, image, threshold)`` of the request's image, or the refusal."""
        try:
            thr = parse_score_thr(request.query_params.get("score_thr"), float(default_thr))
            data = await read_image_bytes(request, limits, torchserve)
            image = await run_in_threadpool(decode_image, data, limits.max_pixels)
            future = batcher.submit(image)
        except RequestError as e:
            return refuse(e.status, e.message)
        except BatcherFullError as e:
            return refuse(503, f"the server is busy: {e}")
        except BatcherClosedError as e:
            return refuse(503, str(e))
        try:
            dets = await asyncio.wrap_future(future)
        except ImageRejectedError as e:
            return refuse(422, e.message)
        except PredictionError as e:
            return refuse(500, str(e))
        except BatcherClosedError as e:
            return refuse(503, str(e))
        return dets, image, thr

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        """Detect objects in one image: the raw body or the ``image`` file of a form."""
        done = await detect(request, score_thr)
        if isinstance(done, JSONResponse):
            return done
        dets, image, thr = done
        return JSONResponse(detections_to_json(dets, classes, image.shape, thr))

    @app.api_route("/predictions/{name}", methods=["POST", "PUT"])  # curl -T: PUT
    async def predictions(name: str, request: Request) -> JSONResponse:
        """TorchServe's inference API with MMRotate's handler's answer (``curl -T image.png
        http://host:port/predictions/<model_name>``)."""
        if name != model_name:
            message = f"Model not found: {name} (this server serves {model_name!r})"
            return JSONResponse({"code": 404, "type": "ModelNotFoundException", "message": message}, 404)
        done = await detect(request, torchserve_score_thr, torchserve=True)
        if isinstance(done, JSONResponse):
            return done
        dets, _, thr = done
        return JSONResponse(detections_to_torchserve(dets, classes, thr))

    @app.get("/ping")
    async def ping() -> JSONResponse:
        """TorchServe's health check: ``{"status": "Healthy"}``, else 503 ``Unhealthy``."""
        if not batcher.alive:
            return JSONResponse({"status": "Unhealthy"}, status_code=503)
        return JSONResponse({"status": "Healthy"})

    @app.get("/health")
    async def health() -> JSONResponse:
        """``{"status": "ok", "batcher": counters}`` while the batcher's worker runs, else 503.
        The counters: requests, batches (by size), the largest, failures, what waits now."""
        if not batcher.alive:
            return refuse(503, "the batcher's worker is not running")
        return JSONResponse({"status": "ok", "batcher": batcher.stats()})

    @app.get("/classes")
    async def get_classes() -> dict[str, list[str]]:
        """The class names; a detection's ``label`` indexes this list."""
        return {"classes": classes}

    return app
