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
def start_server(start):
    """Start a real inference server on a free port; returns (component, base_url)."""

    def start_inference(*args):
        component = start("inference", "inference", "--port", 0, "--engine-delay-ms", 50, *args)
        port = component.wait_for(r"listening on http://127\.0\.0\.1:(\d+)")[1]
        return component, f"http://127.0.0.1:{port}"

    return start_inference


@pytest.fixture
def server(start_server):
    return start_server()
