"""matplotlib, the ``plot`` extra of rdet-apps, imported only where a picture is drawn."""

from __future__ import annotations

from typing import Any

__all__ = ["pyplot"]


def pyplot(what: str, backend: str | None = "Agg") -> Any:
    """``matplotlib.pyplot`` on ``backend`` (None: matplotlib's default).

    Raises:
        ImportError: matplotlib is missing; the message names ``what`` needs it and the extra.
    """
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(f"{what} needs matplotlib: pip install 'rdet-apps[plot]'") from e
    if backend is not None:
        matplotlib.use(backend)
    import matplotlib.pyplot as plt

    return plt
