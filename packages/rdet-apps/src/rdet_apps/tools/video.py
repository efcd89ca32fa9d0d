"""``rdet infer`` on a video file: OpenCV reads the frames, each frame goes through the
detector, and an annotated video (same fps and size, ``mp4v``) and one JSON line of
detections per frame are written."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["VIDEO_SUFFIXES", "infer_video"]

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv"}


def infer_video(
    model: Any,
    path: str | os.PathLike,
    out_video: str | os.PathLike,
    out_jsonl: str | os.PathLike,
    names: Sequence[str],
    score_thr: float,
    record: Callable[[Any, Sequence[str], float, tuple[int, ...]], dict],
) -> int:
    """Detect objects in every frame of ``path``; write the drawn frames to ``out_video``
    (``mp4v``, the input's fps and size) and to ``out_jsonl`` one line per frame:
    ``{"frame": i, "time": seconds, **record(dets, names, score_thr, shape)}``. Returns the
    number of frames.

    Raises:
        ValueError: The video cannot be opened or has no readable frame; the writer cannot
            write ``out_video``; ``out_video`` is the input itself.
    """
    import cv2

    from rdet_apps.apis import predict_images
    from rdet_apps.progress import track
    from rdet_apps.visualization import show_result

    path, out_video = Path(path), Path(out_video)
    if out_video.resolve() == path.resolve():
        raise ValueError(f"{path}: the annotated video would overwrite it; give another --out-dir")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(
            f"{path}: cannot open this video (OpenCV has no reader for it, or it is not a video)"
        )
    writer = None
    frames = 0
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and fps > 0 else 25.0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None

        def read():
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame

        with open(out_jsonl, "w", encoding="utf-8") as lines:
            for frame in track(read(), total=total, desc=path.name, unit="frame"):
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(out_video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                    if not writer.isOpened():
                        raise ValueError(f"{out_video}: OpenCV cannot write an mp4v video there")
                try:
                    (dets,) = predict_images(model, frame)
                except ValueError as e:  # the model cannot take this frame (its aspect ratio ...)
                    kept = f"; its first {frames} frames are in {out_video}, {out_jsonl}" if frames else ""
                    raise ValueError(f"{path}: frame {frames}: {e}{kept}") from e
                drawn = show_result(frame, dets, names, score_thr)
                writer.write(drawn)
                entry = {"frame": frames, "time": round(frames / fps, 4)}
                entry.update(record(dets, names, score_thr, frame.shape))
                lines.write(json.dumps(entry) + "\n")
                frames += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if frames == 0:  # nothing was written: no stub video or empty lines file stays behind
            for out in (out_video, out_jsonl):
                with contextlib.suppress(OSError):  # (an unwritable place: the error says so)
                    Path(out).unlink(missing_ok=True)
    if frames == 0:
        raise ValueError(f"{path}: no frame could be read")
    return frames
