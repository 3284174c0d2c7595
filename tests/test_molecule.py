"""Every molecule scenario (molecule/<name>/molecule.yml, shared/ excepted), each against a real
sshd test host: converge, idempotence, check mode and verify."""

import os
import subprocess
from pathlib import Path

import pytest

from tests import testhosts

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml"))


@pytest.mark.slow
@pytest.mark.needs_root
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_passes(scenario):
    reason = testhosts.skip_reason()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ)
    env.pop("ANSIBLE_CONFIG", None)  # molecule writes its own
    # Test host names (network namespaces, links, users) are machine-wide: a prefix of this process's
    # own keeps two checkouts testing at once from clashing.
    env["STALLSCOPE_MOLECULE_PREFIX"] = f"m{os.getpid() % 0xfff:03x}"
    proc = subprocess.run(["molecule", "test", "-s", scenario], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
