"""Sweeps (src/stallscope/sweep.py): a spec checked and expanded, resuming (recorded variants are not
run again, an interrupted one gets a new run id), how a variant's outcome is recorded (failed with its
reason), the failure message of a play, and the summary over real analyses."""

import json
from pathlib import Path

import pytest
import yaml

from stallscope.engine import InputError, analyze, write_outputs
from stallscope.sweep import SWEEP_ID_MAX, expand, job_failure, plan, play_failure, record_variant, summary, sweep_id
from tests.engine.batchlog import step_lines

PROFILE = yaml.safe_load((Path(__file__).resolve().parents[1] / "profiles" / "simrl.yml").read_text())
OBJECTIVE = {"metric": "throughput.completions_per_s", "better": "higher"}


def test_every_combination_in_the_spec_s_order_the_last_variable_fastest():
    variants = expand({"batch_size": [8, 16], "admin_client": ["shared", "dedicated"]}, PROFILE)
    assert [(v["name"], v["vars"]) for v in variants] == [
        ("v01", {"batch_size": 8, "admin_client": "shared"}), ("v02", {"batch_size": 8, "admin_client": "dedicated"}),
        ("v03", {"batch_size": 16, "admin_client": "shared"}), ("v04", {"batch_size": 16, "admin_client": "dedicated"})]


@pytest.mark.parametrize(("spec", "message"), [
    ([1, 2], "sweep: must map profile variables to lists of values"),
    ({}, "sweep: must map profile variables to lists of values"),
    ({"batchsize": [1]}, "sweep: batchsize: not a variable of profile simrl (it has admin_client, async_level, "),
    ({"batch_size": 8}, 'sweep: batch_size: must be a non-empty list of values, e.g. {"batch_size": [1, 2]}'),
    ({"batch_size": []}, "sweep: batch_size: must be a non-empty list of values"),
    ({"batch_size": [8, {"a": 1}]}, 'sweep: batch_size: {"a": 1} is not a single value (a string, number or boolean)'),
    ({"batch_size": [8, 8]}, "sweep: batch_size: a value is listed twice"),
    ({"batch_size": list(range(11)), "max_steps": list(range(10))}, "sweep: 110 combinations, more than 100: split the sweep"),
])
def test_a_bad_spec_is_one_line_naming_what_is_wrong(spec, message):
    with pytest.raises(InputError) as error:
        expand(spec, PROFILE)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_the_same_spec_gives_the_same_sweep_id_and_a_given_id_is_checked():
    spec = {"batch_size": [8, 16]}
    assert sweep_id("simrl", spec) == sweep_id("simrl", {"batch_size": [8, 16]}) != sweep_id("simrl", {"batch_size": [16, 8]})
    assert sweep_id("simrl", spec, "mine") == "mine"
    for bad in ("a b", "../x", "x" * (SWEEP_ID_MAX + 1)):
        with pytest.raises(InputError, match="sweep_id"):
            sweep_id("simrl", spec, bad)


def test_a_resumed_sweep_skips_recorded_variants_and_gives_an_interrupted_one_a_new_run_id(tmp_path):
    runs = tmp_path / "runs"
    sweep_dir = runs / "sweeps" / "s"
    spec = {"admin_client": ["shared", "dedicated"], "batch_size": [8]}
    variants = expand(spec, PROFILE)
    first = plan(str(sweep_dir), str(runs), "s", "simrl", spec, variants)
    assert [(v["run_id"], v["state"]) for v in first] == [("s-v01", "pending"), ("s-v02", "pending")]
    # v01 ran and failed; v02 was launched (its run record exists) and interrupted before its record.
    (runs / "s-v01" / "launch").mkdir(parents=True)
    record_variant(str(sweep_dir), str(runs / "s-v01"), first[0], {"launch": {"rc": 2, "msg": "port 8000 in use"}}, 900)
    (runs / "s-v02" / "launch").mkdir(parents=True)
    again = plan(str(sweep_dir), str(runs), "s", "simrl", spec, variants)
    assert [(v["run_id"], v["state"]) for v in again] == [("s-v01", "failed"), ("s-v02-a2", "pending")]
    retried = plan(str(sweep_dir), str(runs), "s", "simrl", spec, variants, retry_failed=True)
    assert [(v["run_id"], v["state"]) for v in retried] == [("s-v01-a2", "pending"), ("s-v02-a2", "pending")]
    with pytest.raises(InputError, match=r"sweep s: .*sweep.json holds another sweep \(profile simrl, .*choose another -e sweep_id"):
        plan(str(sweep_dir), str(runs), "s", "simrl", {"batch_size": [8]}, expand({"batch_size": [8]}, PROFILE))


def launched(runs, run_id, exits, analysed=None):
    """A run record as the plays leave it: the launch manifest, the collected exit codes and, with
    `analysed` (an orchestrator log's lines), the analysis."""
    record = runs / run_id
    (record / "launch").mkdir(parents=True)
    components = [{"name": name, "exit": f"logs/{name}.exit", "service": name == "inference"} for name in exits]
    (record / "launch" / "h1.json").write_text(json.dumps({"host": "h1", "components": components}))
    (record / "h1" / "logs").mkdir(parents=True)
    for name, code in exits.items():
        if code is not None:
            (record / "h1" / "logs" / f"{name}.exit").write_text(f"{code}\n")
    if analysed is not None:
        log = record / "h1" / "logs" / "orchestrator.log"
        log.write_text("\n".join(analysed) + "\n")
        write_outputs(analyze([str(log)]), str(record / "analysis"))
    return str(record)


OK = {"launch": {"rc": 0, "msg": None}, "wait": {"rc": 0, "msg": None}, "stop": {"rc": 0, "msg": None},
      "collect": {"rc": 0, "msg": None}}


@pytest.mark.parametrize(("exits", "plays", "analysed", "failed"), [
    ({"inference": 143, "trainer": 0, "orchestrator": 0}, OK, True, None),
    ({"inference": 143, "trainer": 1, "orchestrator": 130},
     dict(OK, wait={"rc": 2, "msg": "on h1, orchestrator still running after 20 s: wait longer"}), True,
     "jobs still running after 20 s, stopped (hung); trainer on h1 exited with code 1"),
    ({"inference": 143, "trainer": 0, "orchestrator": None}, OK, True, "orchestrator on h1 did not end (no exit code collected)"),
    ({"inference": None, "trainer": None, "orchestrator": None}, {"launch": {"rc": 2, "msg": "h1 still runs another run"}},
     False, "launch failed (exit 2): h1 still runs another run"),
    ({"inference": 143, "trainer": 0, "orchestrator": 0}, dict(OK, collect={"rc": 2, "msg": None}), False,
     "collect and analysis failed (exit 2)"),
])
def test_a_variant_is_recorded_done_or_failed_with_its_reason(tmp_path, exits, plays, analysed, failed):
    runs = tmp_path / "runs"
    run_dir = launched(runs, "s-v01", exits, step_lines([(0.0, 2.0)] * 5) if analysed else None)
    variant = {"name": "v01", "vars": {"batch_size": 8}, "run_id": "s-v01", "state": "pending", "vars_file": "x"}
    (tmp_path / "sweep" / "variants").mkdir(parents=True)
    record = record_variant(str(tmp_path / "sweep"), run_dir, variant, plays, 20)
    assert record == {"name": "v01", "vars": {"batch_size": 8}, "run_id": "s-v01", "failed": failed,
                      "plays": {step: play["rc"] for step, play in plays.items()}}
    assert json.loads((tmp_path / "sweep" / "variants" / "v01.json").read_text()) == record


def test_job_failure_without_a_launch_record(tmp_path):
    assert job_failure(str(tmp_path)) == f"the run has no launch record in {tmp_path}"


def test_the_failure_message_of_a_play():
    output = "\n".join([
        "TASK [Check the host's GPUs, disk and ports.] ***",
        'ok: [h0] => {"changed": false}',
        '\x1b[K\x1b[KeyJ1dWlk\x1b[64D\x1b[Kfatal: [h1]: FAILED! => {"changed": false, "msg": "port 8000 on h1 is in use\\n(by pid 12)"}',
        'fatal: [h2]: FAILED! => {"changed": false, "msg": "second"}'])
    assert play_failure(output) == "port 8000 on h1 is in use (by pid 12)"
    assert play_failure("ERROR! the playbook: x.yml could not be found") == "the playbook: x.yml could not be found"
    assert play_failure("PLAY RECAP\nh1 : ok=3 failed=0") is None


def test_the_summary_ranks_the_analysed_variants_and_lists_failed_and_pending_ones(tmp_path):
    runs = tmp_path / "runs"
    sweep_dir = runs / "sweeps" / "s"
    spec = {"batch_size": [8, 16, 32, 64]}
    planned = plan(str(sweep_dir), str(runs), "s", "simrl", spec, expand(spec, PROFILE))
    exits = {"inference": 143, "trainer": 0, "orchestrator": 0}
    for variant, steps in zip(planned[:2], ([(0.0, 2.0)] * 7, [(0.0, 1.0)] * 7)):
        record_variant(str(sweep_dir), launched(runs, variant["run_id"], exits, step_lines(steps)), variant, OK, 900)
    record_variant(str(sweep_dir), str(runs / "s-v03"), planned[2], {"launch": {"rc": 2, "msg": "no GPU"}}, 900)
    result, markdown = summary(str(sweep_dir), str(runs), OBJECTIVE)
    rows = {row["name"]: row for row in result["rows"]}
    assert result["best"] == "v02" and rows["v02"]["objective"] > rows["v01"]["objective"] > 0
    assert rows["v02"]["run_id"] == "s-v02" and result["not_run"] == ["v04"]
    assert "| **v02** (best) | 16 | `no_weight_updates` (warning) | 16 |" in markdown
    assert "| v03 | 32 | variant failed: launch failed (exit 2): no GPU | - |" in markdown
    assert 'Not run yet (run the sweep again to resume): v04 ({"batch_size": 64})' in markdown
    assert (sweep_dir / "summary.md").read_text() == markdown
    assert json.loads((sweep_dir / "summary.json").read_text())["best"] == "v02"
