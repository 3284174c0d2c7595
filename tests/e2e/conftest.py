"""Fixtures of the end-to-end tests: the code under test as a git repository the test hosts can
clone, a wheelhouse for their offline install, test host sets, and deployments that are stopped at
the end of each test."""

import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("ansible_runner")

from tests.e2e import harness  # noqa: E402 (after the skip: the harness imports ansible_runner)


@pytest.fixture(scope="session")
def public_dir():
    """A directory the test users can read (pytest's own temp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="stallscope-e2e-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="session")
def project_repo(public_dir):
    """file:// URL of a bare repository holding the working tree under test on branch main."""
    return "file://" + str(harness.make_bare_repo(public_dir))


@pytest.fixture(scope="session")
def sim_wheelhouse():
    try:
        return harness.build_wheelhouse()
    except RuntimeError as error:
        pytest.skip(f"no wheelhouse for the test hosts: {error}")


def _host_set(testhosts, project_repo, count):
    host_set = testhosts.create(count)
    for host in host_set.hosts:
        harness.trust_repo(host, Path(project_repo.removeprefix("file://")))
    return host_set


@pytest.fixture(scope="session")
def one_host(testhosts, project_repo):
    """One test host, shared by the single-host tests (each stops its runs): its checkout and venv
    are made once."""
    return _host_set(testhosts, project_repo, 1)


@pytest.fixture(scope="session")
def three_hosts(testhosts, project_repo):
    return _host_set(testhosts, project_repo, 3)


@pytest.fixture
def shared_output_dir(public_dir, request):
    """A world-writable sticky directory: the shared filesystem prime-rl's multi-node setup needs
    (trainer, orchestrator and inference are different users on different hosts here)."""
    path = public_dir / f"shared-{request.node.name}"
    path.mkdir()
    path.chmod(0o1777)
    return path


@pytest.fixture
def deploy(tmp_path, project_repo, sim_wheelhouse):
    """Factory: deploy(host_set, placement, profile_vars) -> harness.Deployment. Every run the test
    launched is stopped at the end and the test hosts' tmux server ended."""
    made = []

    def make(host_set, placement, profile_vars=None):
        deployment = harness.Deployment(host_set, placement, tmp_path / f"controller-{len(made)}",
                                        project_repo, sim_wheelhouse, dict(profile_vars or {}))
        made.append(deployment)
        return deployment

    yield make
    leftovers = [line for deployment in made for line in deployment.teardown()]
    assert not leftovers, f"processes left running on the test hosts: {leftovers}"
