import pytest

from .cluster import RayHead


@pytest.fixture(scope="session")
def head(tmp_path_factory):
    """One real Ray head for the session's Ray tests (starting one takes 10-20 s here)."""
    pytest.importorskip("ray")
    started = RayHead(tmp_path_factory.mktemp("ray") / "run").start()
    yield started
    started.stop()
    assert not started.leftover_processes()
