"""The ``rdet`` logger: messages to stderr and, during training, to ``<work_dir>/<time>.log``."""

from __future__ import annotations

import logging
import os

__all__ = ["get_logger"]

_FORMAT = "%(asctime)s - rdet - %(levelname)s - %(message)s"


def get_logger(
    log_file: str | os.PathLike | None = None, level: str | int = "INFO", rank: int = 0
) -> logging.Logger:
    """The ``rdet`` logger with one stream handler (rank 0 only) and, if given, a file handler."""
    logger = logging.getLogger("rdet")
    logger.setLevel(level if rank == 0 else "ERROR")
    logger.propagate = False
    if not any(
        isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        for h in logger.handlers
    ):
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(stream)
    if log_file is not None and rank == 0:
        for h in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(h)
            h.close()
        handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    return logger
