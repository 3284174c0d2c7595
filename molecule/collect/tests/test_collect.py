"""After converge and a second collection (side_effect): the controller's tree, collect.json with the
archive checksum and the clock, the snapshot of the first collection, the run collected with become,
and nothing left behind on the test host."""

import hashlib
import json
import os
from pathlib import Path

import testinfra

HOST = "collect-host"
RUN_ID = "molecule.run-1"
ROOT_RUN_ID = "molecule.run-root"
FIXTURE = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "molecule/shared/run_dir"
RUNS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "runs"
APPENDED = "12:22:40    INFO [rollout] trunc_pct=2.4 current_step=14 ckpt_step=13 staleness=1"

controller = testinfra.get_host("local://")


def record(path):
    return json.loads(controller.file(f"{path}/collect.json").content_string)


def snapshots(run_id):
    return sorted(p for p in (RUNS / run_id / "snapshots").iterdir())


def fixture_logs():
    return sorted(p.name for p in (FIXTURE / "logs").iterdir())


def test_the_latest_collection_holds_the_logs_as_they_are_on_the_host(host):
    collected = RUNS / RUN_ID / HOST
    assert sorted(p.name for p in (collected / "logs").iterdir()) == fixture_logs()
    for name in fixture_logs():
        on_host = host.file(f"/home/{host.user().name}/stallscope-runs/{RUN_ID}/logs/{name}")
        assert controller.file(str(collected / "logs" / name)).sha256sum == on_host.sha256sum, name
    assert APPENDED in controller.file(str(collected / "logs/orchestrator.log")).content_string
    manifest = json.loads(controller.file(str(collected / "run_manifest.json")).content_string)
    assert manifest["run_id"] == RUN_ID and manifest["host"] == HOST
    assert not (RUNS / RUN_ID / ".incoming").exists() or not any((RUNS / RUN_ID / ".incoming").iterdir())


def test_collect_json_has_the_checksum_of_the_archive_the_host_makes(host):
    data = record(RUNS / RUN_ID / HOST)
    assert data["schema_version"] == 1 and data["run_id"] == RUN_ID and data["host"] == HOST
    assert data["members"] == ["run_manifest.json", "logs"]
    assert data["compression"] == ("zstd" if host.exists("zstd") else "gzip")
    # The same archive again, made on the host from the run directory as it is now.
    compress = "zstd -q" if data["compression"] == "zstd" else "gzip -n"
    archive = host.check_output(
        f"tar --sort=name --numeric-owner --owner=0 --group=0 -C ~/stallscope-runs/{RUN_ID} "
        f"-I '{compress}' -cf - -- run_manifest.json logs | sha256sum")
    assert data["archive_sha256"] == archive.split()[0]
    assert int(data["archive_bytes"]) > 0


def test_collect_json_has_the_host_clock_bracketed_by_the_controller_clock():
    clock = record(RUNS / RUN_ID / HOST)["clock"]
    offset, uncertainty = float(clock["offset_from_controller_s"]), float(clock["uncertainty_s"])
    assert uncertainty >= 0
    # Network namespaces share the controller's wall clock, so the host's reading falls between the
    # controller's readings before and after it: the offset is within its own uncertainty.
    assert abs(offset) <= uncertainty + 1e-6, clock
    assert abs(float(clock["host_wall_time"]) - float(clock["host_monotonic_time"])
               - float(clock["host_wall_minus_monotonic"])) < 1e-3


def test_the_first_collection_is_kept_as_a_snapshot():
    latest = record(RUNS / RUN_ID / HOST)
    (stamp,) = snapshots(RUN_ID)
    earlier_dir = latest["previous_collection"]
    assert earlier_dir == str(stamp / HOST)
    earlier = record(earlier_dir)
    assert earlier["archive_sha256"] != latest["archive_sha256"]
    for name in fixture_logs():
        assert (Path(earlier_dir) / "logs" / name).read_bytes() == (FIXTURE / "logs" / name).read_bytes()


def test_the_run_owned_by_root_was_collected_with_become(host):
    # The SSH user alone cannot read it.
    assert host.run(f"ls ~/root-owned-runs/{ROOT_RUN_ID}").rc != 0
    collected = RUNS / ROOT_RUN_ID / HOST
    for name in fixture_logs():
        digest = hashlib.sha256((FIXTURE / "logs" / name).read_bytes()).hexdigest()
        assert controller.file(str(collected / "logs" / name)).sha256sum == digest, name
    assert record(collected)["previous_collection"] is None
    # The controller's copy belongs to whoever ran the playbook, not to the host's root.
    assert controller.file(str(collected / "logs/orchestrator.log")).uid == os.getuid()


def test_no_scratch_directory_is_left_on_the_host(host):
    left = host.check_output(f"find /tmp -maxdepth 1 -name 'stallscope-collect.*' -user {host.user().name}")
    assert left == ""
    run_dir = host.check_output(f"ls -A ~/stallscope-runs/{RUN_ID}")
    assert sorted(run_dir.split()) == ["logs", "run_manifest.json"]
