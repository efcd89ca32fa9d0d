"""The ``serve`` extra: FastAPI, uvicorn and python-multipart, imported only when serving."""

from __future__ import annotations

import importlib

__all__ = ["SERVE_EXTRA_HINT", "require_serve_extra"]

SERVE_EXTRA_HINT = "pip install 'rdet-apps[serve]'"

#: import name -> distribution name of each package of the extra
_EXTRA_MODULES = {"fastapi": "fastapi", "uvicorn": "uvicorn", "python_multipart": "python-multipart"}


def require_serve_extra() -> None:
    """Import the serve extra's packages, or say which is missing and how to install it.

    Raises:
        ModuleNotFoundError: A package of the extra is not installed; the message names it and
            ``pip install 'rdet-apps[serve]'``.
    """
    for module, dist in _EXTRA_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ModuleNotFoundError(
                f"rdet serve needs {dist}, which is not installed ({e}); install the serve extra: "
                f"{SERVE_EXTRA_HINT}",
                name=module,
            ) from e
