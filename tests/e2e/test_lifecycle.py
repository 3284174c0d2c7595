"""The whole lifecycle on real sshd test hosts: run_experiment.yml (preflight, provision, checkout
with an offline install, launch), status.yml, stop_experiment.yml and collect_and_analyze.yml,
unchanged, with the simulated prime-rl stack installed from the checkout on each host."""

import dataclasses
import json

import pytest

from stallscope.engine.correlation import SLACK_S
from tests.e2e.harness import GROUPS

pytestmark = [pytest.mark.slow, pytest.mark.needs_root]

# Short runs: a reset and a few weight updates are enough for every finding asserted here.
STEPS = 5


def finish(deployment, run_id, across_hosts=None):
    """Let the run's jobs end, stop its server, collect and analyse; return report.json.
    `across_hosts`: the diagnosis status must give from the hosts' merged states."""
    status = deployment.play("status.yml", run_id=run_id, wait=True)
    assert status.rc == 0, status.summary()
    if across_hosts:
        assert f"across hosts: {across_hosts}" in status.text, status.summary()
    for component in ("trainer", "orchestrator"):
        assert f"{component}: exited with code 0" in status.text, status.summary()
    assert "inference: alive, pid" in status.text, status.summary()
    stop = deployment.play("stop_experiment.yml", run_id=run_id)
    assert stop.rc == 0, stop.summary()
    collected = deployment.play("collect_and_analyze.yml", run_id=run_id)
    assert collected.rc == 0, collected.summary()
    return json.loads((deployment.runs_dir / run_id / "analysis" / "report.json").read_text())


def test_one_host_shared_client_saturates_validate_fix_runs_the_dedicated_client_rerun_changes_nothing(one_host, deploy):
    host = one_host.hosts[0]
    deployment = deploy(one_host, {group: [host] for group in GROUPS}, {"max_steps": STEPS})

    started = deployment.play("run_experiment.yml", run_id="shared")
    assert started.rc == 0, started.summary()
    assert "attach -t stallscope-shared" in started.text

    # The same run id again while it is live: every role runs again and changes nothing.
    again = deployment.play("run_experiment.yml", run_id="shared")
    assert again.rc == 0, again.summary()
    assert set(again.stats["ok"]) == {host.name}
    assert again.stats["changed"].get(host.name, 0) == 0, again.summary()

    report = finish(deployment, "shared")
    assert report["diagnosis"] == "frontend_queue_saturation", report["findings"]

    # The closed loop: the profile's fix for the diagnosis (the dedicated admin client) runs as its
    # own run, is waited for, stopped, collected, analysed and judged against the baseline.
    variant = "shared-fix-dedicated-admin-client"
    deployment.run_ids.append(variant)  # stopped at teardown if the playbook fails midway
    validated = deployment.play("validate_fix.yml", baseline="shared")
    assert validated.rc == 0, validated.summary()
    assert f"trying dedicated-admin-client ({{\"admin_client\": \"dedicated\"}}) as run {variant}" in validated.text
    verdict = json.loads((deployment.runs_dir / variant / "fix_verdict.json").read_text())
    assert f"**Verdict: {verdict['verdict']}**" in validated.text
    queue = next(row for row in verdict["decided_by"] if row["figure"] == "queue_ms.p95")
    assert queue["before"] == report["metrics"]["queue_ms"]["p95"] and queue["after"] < queue["before"] / 5
    criteria = {c["name"].split(" ")[0]: c["result"] for c in verdict["comparison"]["criteria"]}
    assert criteria["generation"] == "pass", verdict["comparison"]["criteria"]
    # `fixed` needs queue_ms p95 < 300 ms; the dedicated client's few ms can exceed that when other
    # tests load the machine (seen: one update of four at 506 ms), and the verdict then honestly says
    # `improved` with the queue target as the only failing criterion.
    if criteria["queue_ms"] == "pass":
        assert verdict["verdict"] == "fixed", verdict["reason"]
    else:
        assert verdict["verdict"] == "improved" and queue["after"] >= 300, verdict["reason"]
    assert json.loads((deployment.runs_dir / variant / "launch" / f"{host.name}.json").read_text())["config"][
        "admin_client"] == "dedicated"


def test_three_hosts_run_is_collected_from_each_and_correlated(three_hosts, deploy, shared_output_dir):
    inference, trainer, orchestrator = three_hosts.hosts
    placement = {"inference": [inference], "trainer": [trainer], "orchestrator": [orchestrator]}
    # Trainer, orchestrator and inference exchange rollouts and checkpoints through output_dir.
    deployment = deploy(three_hosts, placement, {"max_steps": STEPS, "output_dir": str(shared_output_dir)})

    started = deployment.play("run_experiment.yml", run_id="apart")
    assert started.rc == 0, started.summary()
    # The server listens on its host's address, for the orchestrator on another host, and only there.
    run_dir = deployment.runs_dir / "apart"
    listen = json.loads((run_dir / "launch" / f"{inference.name}.json").read_text())["components"][0]["listen"]
    assert listen["bind_address"] == inference.address
    server = deployment.remote(inference)
    assert server.socket(f"tcp://{inference.address}:{listen['port']}").is_listening
    assert not server.socket(f"tcp://0.0.0.0:{listen['port']}").is_listening

    # status merges the hosts' analysis states (fetched, not the logs) into the cross-host diagnosis.
    report = finish(deployment, "apart", across_hosts="frontend_queue_saturation")
    for host in three_hosts.hosts:
        assert (deployment.runs_dir / "apart" / "status" / host.name / "state.sqlite").is_file()
    for group, (host,) in placement.items():
        collected = json.loads((run_dir / host.name / "collect.json").read_text())
        assert collected["host"] == host.name and collected["clock"]["uncertainty_s"] >= 0
        manifest = json.loads((run_dir / host.name / "run_manifest.json").read_text())
        assert [component["name"] for component in manifest["components"]] == [group]
        assert (run_dir / host.name / "logs" / f"{group}.log").stat().st_size > 0
        assert (run_dir / host.name / "logs" / f"{group}.exit").read_text().strip() == (
            "130" if group == "inference" else "0")
    # The orchestrator reached the server through the inventory address of the inference host.
    orchestrator_manifest = json.loads((run_dir / orchestrator.name / "run_manifest.json").read_text())
    assert f"--base-url http://{inference.address}:" in orchestrator_manifest["components"][0]["command"]

    # Still the shared client's bottleneck, seen across hosts.
    assert report["diagnosis"] == "frontend_queue_saturation", report["findings"]
    correlation = report["correlation"]
    assert correlation["note"], correlation
    (pair,) = [pair for pair in correlation["host_pairs"]
               if (pair["client_host"], pair["server_host"]) == (orchestrator.name, inference.name)]
    assert pair["updates"] >= STEPS - 2  # the reset and the updates past the async barrier
    slowest = report["slowest_updates"][0]
    if pair["method"] == "estimated_offset":
        assert correlation["method"] == "estimated_offset", correlation
        # The namespaces share this machine's monotonic clock: the true offset is 0, and the
        # estimate's interval must hold it.
        assert abs(pair["offset_s"]) <= pair["uncertainty_s"] + SLACK_S, pair
        # The split is given, and the shared client's wait is on the client side.
        assert slowest["client_queue_ms"] > slowest["server_queue_ms"] >= 0, slowest
    else:  # the updates cannot fix an offset: the one collect measured (collect.json) is used
        assert pair["method"] == "measured_offset" and pair["reason"], pair
        assert abs(pair["offset_s"]) <= pair["uncertainty_s"] + SLACK_S, pair
        assert slowest["client_queue_ms"] is not None, slowest

    # collect_mode=digest: each host reduces its logs to its analysis state and only the states come
    # home; the diagnosis is the one the full collection gave.
    wrong = deployment.play("collect_and_analyze.yml", run_id="apart", collect_mode="everything")
    assert wrong.rc != 0 and "collect_mode" in wrong.text and "fetch, digest" in wrong.text, wrong.summary()
    digested = deployment.play("collect_and_analyze.yml", run_id="apart", collect_mode="digest")
    assert digested.rc == 0, digested.summary()
    for host in three_hosts.hosts:
        collected = json.loads((run_dir / host.name / "collect.json").read_text())
        assert collected["mode"] == "digest" and collected["state_bytes"] > 0, collected
        assert (run_dir / host.name / "analysis_state" / "state.sqlite").is_file()
    from_states = json.loads((run_dir / "analysis" / "report.json").read_text())
    assert from_states["diagnosis"] == report["diagnosis"], from_states["findings"]
    assert from_states["updates"] == report["updates"]
    assert from_states["throughput"]["steps"] == report["throughput"]["steps"]
    # The client-side split may rest on the clock offset collect measured, measured again by this
    # collection: equal within its uncertainty, like the rest of the correlation.
    assert {name: stats for name, stats in from_states["metrics"].items() if name != "client_queue_ms"} == {
        name: stats for name, stats in report["metrics"].items() if name != "client_queue_ms"}
    for digest_pair, full_pair in zip(from_states["correlation"]["host_pairs"], report["correlation"]["host_pairs"],
                                      strict=True):
        assert {key: digest_pair[key] for key in ("client_host", "server_host", "updates")} == {
            key: full_pair[key] for key in ("client_host", "server_host", "updates")}
        if digest_pair["offset_s"] is not None:
            assert abs(digest_pair["offset_s"]) <= digest_pair["uncertainty_s"] + SLACK_S, digest_pair
    assert [finding["id"] for finding in from_states["findings"]] == [finding["id"] for finding in report["findings"]]


def test_crashed_component_is_reported_and_its_logs_collected(one_host, deploy):
    host = one_host.hosts[0]
    deployment = deploy(one_host, {group: [host] for group in GROUPS},
                        {"max_steps": STEPS, "trainer_args": "--crash-at-step 2"})
    started = deployment.play("run_experiment.yml", run_id="crash")
    assert started.rc == 0, started.summary()

    # The orchestrator waits for a checkpoint that never comes, so poll rather than wait for jobs.
    for _ in range(20):
        status = deployment.play("status.yml", run_id="crash")
        assert status.rc == 0, status.summary()
        if "trainer: exited" in status.text:
            break
    assert "trainer: exited with code 1" in status.text, status.summary()
    assert "inference: alive, pid" in status.text, status.summary()

    # Collected while the rest of the run is still live: the crashed component's logs come home.
    collected = deployment.play("collect_and_analyze.yml", run_id="crash")
    assert collected.rc == 0, collected.summary()
    logs = deployment.runs_dir / "crash" / host.name / "logs"
    assert (logs / "trainer.exit").read_text().strip() == "1"
    assert "crashed at step 2" in (logs / "trainer.log").read_text()
    assert (deployment.runs_dir / "crash" / "analysis" / "report.json").is_file()


def test_unreachable_host_fails_clearly_and_leaves_no_run_record(one_host, deploy):
    host = one_host.hosts[0]
    # The test host's own address, on a port where no sshd listens.
    nowhere = dataclasses.replace(host, name="unreachable-trainer", port=9)
    deployment = deploy(one_host, {"inference": [host], "trainer": [nowhere], "orchestrator": [host]},
                        {"max_steps": STEPS})
    failed = deployment.play("run_experiment.yml", run_id="never")
    assert failed.rc != 0
    assert set(failed.stats["dark"]) == {nowhere.name}, failed.summary()
    reason = failed.host_events("runner_on_unreachable")[nowhere.name]["res"]["msg"]
    assert f"connect to host {host.address} port 9: Connection refused" in reason, reason
    # Nothing started anywhere and nothing recorded on the controller.
    assert not (deployment.runs_dir / "never").exists()
    assert not (deployment.runs_dir / "latest").exists()
    assert not deployment.remote(host).file(f"{host.home}/stallscope-runs/never").exists
