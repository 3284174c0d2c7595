import pytest


@pytest.fixture(scope="module")
def monkeypatch_module():
    """A monkeypatch usable from hypothesis tests (function-scoped fixtures are reset only per test)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch
