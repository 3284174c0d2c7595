"""run_lookup only reads: the controller's record is as prepare left it and the host is untouched."""

import os
from pathlib import Path

RUNS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "runs"


def test_the_controller_record_is_unchanged():
    assert os.readlink(RUNS / "latest") == "molecule.run-2"
    assert sorted(p.name for p in RUNS.iterdir()) == [
        "latest", "molecule.elsewhere", "molecule.run-1", "molecule.run-2"]
    for run in ("molecule.run-1", "molecule.run-2", "molecule.elsewhere"):
        assert [p.name for p in (RUNS / run).iterdir()] == ["launch"], run
    assert not (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "no-runs").exists()


def test_the_host_is_not_touched(host):
    assert not host.file(f"/home/{host.user().name}/stallscope-runs").exists
