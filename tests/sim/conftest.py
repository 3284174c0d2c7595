"""Fixtures that run the simulation's real processes."""

import pytest

from .simproc import Component


@pytest.fixture
def start(tmp_path):
    started: list[Component] = []

    def start_component(name: str, *args) -> Component:
        component = Component(tmp_path / f"{name}.log", *args)
        started.append(component)
        return component

    yield start_component
    for component in started:
        if component.proc.poll() is None:
            component.proc.kill()
            component.proc.wait()


@pytest.fixture
def server(start):
    """A real inference server on a free port; yields (component, base_url)."""
    component = start("inference", "inference", "--port", 0, "--engine-delay-ms", 50)
    port = component.wait_for(r"listening on http://127\.0\.0\.1:(\d+)")[1]
    return component, f"http://127.0.0.1:{port}"
