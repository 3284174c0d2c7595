"""After converge and idempotence: the analysis files of the collected run on the controller, the
diagnosis the logs' signature implies, and the fingerprint that kept the second converge a no-op."""

import hashlib
import json
import os
from pathlib import Path

import testinfra

HOST = "analyze-host"
RUN = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "runs/molecule.run-1"

controller = testinfra.get_host("local://")


def report():
    return json.loads(controller.file(str(RUN / "analysis/report.json")).content_string)


def test_the_analysis_files_are_written():
    for name in ("SUMMARY.md", "report.json"):
        assert controller.file(str(RUN / "analysis" / name)).is_file, name
    summary = controller.file(str(RUN / "analysis/SUMMARY.md")).content_string
    assert "**Diagnosis: `frontend_queue_saturation` (critical)**" in summary


def test_the_diagnosis_is_the_one_the_logs_signature_implies():
    data = report()
    assert data["diagnosis"] == "frontend_queue_saturation" and data["severity"] == "critical"
    (finding,) = [f for f in data["findings"] if f["id"] == "frontend_queue_saturation"]
    # frontend_queue_saturation's signature: updates queue for seconds before the server runs them, the RPC is fast.
    assert finding["evidence"]["p95"] > finding["evidence"]["critical_threshold"] == 1000.0
    assert finding["evidence"]["rpc_ms_p95"] < 2000.0


def test_every_collected_log_was_read_with_its_host_and_the_manifests_async_level():
    data = report()
    read = sorted(Path(i["path"]).name for i in data["inputs"])
    assert read == ["inference.log", "orchestrator.log", "trainer.log"]
    for item in data["inputs"]:
        assert Path(item["path"]).is_relative_to(RUN / HOST / "logs") and item["host"] == HOST
        assert item["recognised"] > 0 and item["malformed"] == 0
    assert data["async_level"] == {"value": 2, "source": "run_manifest.json"}


def test_the_analysis_records_the_collection_it_was_made_from_and_was_not_redone():
    collect_json = controller.file(str(RUN / HOST / "collect.json")).sha256sum
    fingerprint = controller.file(str(RUN / "analysis/collections.sha256")).content_string.strip()
    assert fingerprint == hashlib.sha256(collect_json.encode()).hexdigest()
    # The idempotence run found the analysis current: nothing was moved aside.
    assert not (RUN / "snapshots").exists()


def test_the_host_is_not_touched(host):
    run_dir = host.check_output("ls -A ~/stallscope-runs/molecule.run-1")
    assert sorted(run_dir.split()) == ["logs", "run_manifest.json"]
