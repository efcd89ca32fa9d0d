import pytest

from rdet_core.custom_imports import discard_pending_custom_imports


@pytest.fixture(autouse=True)
def _no_leftover_custom_imports():
    """A config loaded by one test must not make the next test's registry look-ups import."""
    discard_pending_custom_imports()
    yield
    discard_pending_custom_imports()
