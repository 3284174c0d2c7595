"""Partial states: any split of the input (files among hosts' states, each file read in pieces as it
grew) gives the report of one pass over all of it; a changed file is read again; a bad state file is
set aside."""

import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stallscope.engine import analyze, analyze_states
from stallscope.engine.render import timeline_text
from stallscope.engine.state import STATE_FILE

from .seedlog import PREFIXES, SEED

FIXTURES = Path(__file__).parent / "fixtures"
SPLITS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SEED_LINES = [line for lines in SEED.values() for line in lines]
DASK_LINES = [line for path in sorted((FIXTURES / "dask").rglob("*.log"))
              for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:40]]
# A batch job's lines of every kind the batch family reads (job start and done, progress, SLA,
# latency, engine stats, preemptions, Ray Data's plan and stats), from real jobs.
BATCH_LINES = [line for name in ("sla_at_risk.log", "slow_worker.log")
               for number, line in enumerate((Path(__file__).parents[1] / "fixtures" / "ray_batch" / name)
                                             .read_text(encoding="utf-8").splitlines())
               if any(tag in line for tag in ("job start", "job done", "SLA ", "Execution plan", "Operator ",
                                              "Remote wall time", "KV cache size"))
               or number % 4 == 0 and any(tag in line for tag in ("Progress:", "Latency:", "Engine 000"))] + [
    "(MapWorker(MapBatches(EngineUDF)) pid=7) WARNING 12-03 12:39:31 [engine.py:171] Sequence group r1 is preempted "
    "by PreemptionMode.RECOMPUTE mode because there is not enough KV cache space. total_cumulative_preemption_cnt=1"]


def comparable(report):
    """report.json, timeline.txt and report.html's other timeline streams (checkpoints, Dask tasks and
    memory messages), as text whose paths _relative makes relative (runs differ only in where)."""
    streams = {name: list(report.timeline.rows(name)) for name in ("checkpoints", "dask_tasks", "dask_memory_events")}
    return json.loads(json.dumps(report)), timeline_text(report) + json.dumps(streams)


def copy_tree(files, root):
    """Writes {relative path: bytes} under root."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


log_line = st.sampled_from(SEED_LINES + DASK_LINES + BATCH_LINES + ["noise", "[weights] is mentioned", ""])
log_file = st.tuples(st.sampled_from(sorted(PREFIXES)), st.lists(log_line, min_size=1, max_size=30))


@SPLITS
@given(files=st.lists(log_file, min_size=1, max_size=4), hosts=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       cuts=st.lists(st.lists(st.floats(0, 1), max_size=3), min_size=4, max_size=4))
def test_merging_the_states_of_any_split_gives_the_one_pass_report(tmp_path_factory, files, hosts, cuts):
    root = tmp_path_factory.mktemp("split")
    contents = {}
    for index, (prefix, lines) in enumerate(files):
        host = f"host{hosts[index]}"
        # Whole lines at the end (a saved state leaves an unfinished last line to the next read);
        # the pieces read before may end anywhere.
        text = "".join(PREFIXES[prefix](n) + line + "\n" for n, line in enumerate(lines))
        contents[f"{host}/logs/c{index}.log"] = text.encode()
    for host in {name.split("/")[0] for name in contents}:
        manifest = {"schema_version": 1, "host": host, "config": {"async_level": 1}}
        contents[f"{host}/run_manifest.json"] = json.dumps(manifest).encode()
    whole = root / "whole"
    copy_tree(contents, whole)
    try:
        expected = comparable(analyze([whole]))
    except Exception as error:  # nothing recognised: every split must say the same
        expected = type(error)
    live = root / "live"  # each host's logs as they grew, its state kept beside them
    states = []
    for host in sorted({name.split("/")[0] for name in contents}):
        logs = {name: cuts[int(name.rsplit("/c", 1)[1].split(".")[0])]
                for name in contents if name.startswith(host + "/logs/")}
        steps = max(len(points) for points in logs.values()) + 1
        for step in range(steps):
            grown = {f"{host}/run_manifest.json": contents[f"{host}/run_manifest.json"]}
            for name, fractions in logs.items():
                data = contents[name]
                points = sorted(int(cut * len(data)) for cut in fractions) + [len(data)]
                grown[name] = data[:points[min(step, len(points) - 1)]]
            copy_tree(grown, live)
            try:
                resumed = comparable(analyze([live / host], state_dir=root / "state" / host))
            except Exception as error:  # nothing recognised yet: the state is still saved
                resumed = type(error)
        try:
            host_alone = comparable(analyze([whole / host]))
        except Exception as error:
            host_alone = type(error)
        if host_alone is not resumed:
            assert _relative(resumed, live) == _relative(host_alone, whole)
        states.append(root / "state" / host)
    try:
        merged = comparable(analyze_states(states))
    except Exception as error:
        merged = type(error)
    if expected is not merged:
        assert _relative(merged, live) == _relative(expected, whole)


def _relative(result, root):
    report, timeline = result
    text = json.dumps(report, sort_keys=True).replace(str(root), "ROOT")
    return json.loads(text), timeline.replace(str(root), "ROOT")


def lines_of(count, start=0):
    """`count` whole lines of every prime-rl kind, traces numbered from `start`."""
    out = []
    for n in range(start, start + count):
        out += [f"[gen] batch.start inflight={n % 7}", f"[weights][u{n}] client.send path=/update_weights t={n}.0",
                f"[weights][u{n}] client.done wall_ms={n % 50 + 1} rpc_ms=1", f"[gen] batch.done completions=8 dur_ms={n + 10}",
                f"[rollout] trunc_pct={n % 9} staleness={n % 3}", "noise"]
    return "".join(line + "\n" for line in out).encode()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.integers(1, 400), min_size=1, max_size=6),
       change=st.sampled_from(["append", "rotate", "truncate", "replace"]))
def test_resumed_analysis_equals_a_full_one(tmp_path_factory, pieces, change):
    """Appended in pieces (cut anywhere, mid-line too), then rotated, truncated or replaced: each
    resumed report equals a full analysis of the same files."""
    root = tmp_path_factory.mktemp("incremental")
    logs, state = root / "logs", root / "state"
    logs.mkdir()
    data, written = lines_of(40), 0
    for piece in pieces:
        written = min(len(data), written + piece)
        (logs / "orchestrator.log").write_bytes(data[:written])
        check_resumed(logs, state)
    (logs / "orchestrator.log").write_bytes(data)
    if change == "rotate":
        (logs / "orchestrator.log").rename(logs / "orchestrator.log.1")
        (logs / "orchestrator.log").write_bytes(lines_of(5, start=100))
    elif change == "truncate":
        (logs / "orchestrator.log").write_bytes(data[:len(data) // 3])
    elif change == "replace":
        (logs / "orchestrator.log").write_bytes(lines_of(60, start=500))
    else:
        with open(logs / "orchestrator.log", "ab") as handle:
            handle.write(lines_of(3, start=900))
    check_resumed(logs, state)


def check_resumed(logs, state):
    try:
        full = comparable(analyze([logs]))
    except Exception as error:
        full = type(error)
    try:
        resumed = comparable(analyze([logs], state_dir=state))
    except Exception as error:
        resumed = type(error)
    assert resumed == full


def test_only_appended_bytes_are_read(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(lines_of(30))
    analyze([logs], state_dir=tmp_path / "state")
    read = []  # what the progress callback is told, chunk by chunk
    with open(logs / "a.log", "ab") as handle:
        handle.write(lines_of(2, start=50))
    report = analyze([logs], state_dir=tmp_path / "state", progress=lambda path, size: read.append((path, size)))
    assert read == [(str(logs / "a.log"), len(lines_of(2, start=50)))]
    assert report["updates"]["complete"] == 32


def test_a_corrupt_or_foreign_state_is_set_aside_and_everything_read_again(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(lines_of(10))
    expected = comparable(analyze([logs]))
    for junk in (b"not a database at all", b"SQLite format 3\x00" + b"\x00" * 200):
        state = tmp_path / "state"
        state.mkdir(exist_ok=True)
        (state / STATE_FILE).write_bytes(junk)
        report = analyze([logs], state_dir=state)
        assert any("set aside" in warning and STATE_FILE in warning for warning in report["warnings"])
        report["warnings"] = []
        assert comparable(report) == expected
        assert (state / (STATE_FILE + ".rejected")).read_bytes() == junk
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    import sqlite3
    db = sqlite3.connect(foreign / STATE_FILE)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('format', 'stallscope-state'), ('version', '99')")
    db.commit()
    db.close()
    report = analyze([logs], state_dir=foreign)
    assert any("version '99'" in warning for warning in report["warnings"])


def test_files_read_by_worker_processes_give_the_one_process_report(tmp_path, monkeypatch):
    from stallscope.engine import pipeline
    logs = tmp_path / "logs"
    (logs / "a").mkdir(parents=True)
    (logs / "b").mkdir()
    (logs / "a" / "orchestrator.log").write_bytes(lines_of(300))
    (logs / "b" / "orchestrator.log").write_bytes(lines_of(200, start=1000) + b"[gen] batch.start inflight=3")
    (logs / "b" / "inference.log").write_bytes(lines_of(50, start=5000))
    alone = comparable(analyze([logs], jobs=1))
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    workers = []
    read_in_workers = pipeline._read_in_workers
    monkeypatch.setattr(pipeline, "_read_in_workers", lambda *args: workers.append(args[2]) or read_in_workers(*args))
    assert comparable(analyze([logs], jobs=2)) == alone
    assert comparable(analyze([logs], jobs=2, state_dir=tmp_path / "state")) == alone
    with open(logs / "a" / "orchestrator.log", "ab") as handle:
        handle.write(lines_of(3, start=9000))
    (logs / "c.log").write_bytes(lines_of(5, start=7000))
    assert comparable(analyze([logs], jobs=2, state_dir=tmp_path / "state")) == comparable(analyze([logs], jobs=1))
    assert workers == [2, 2, 2]


def test_a_resumed_analysis_joins_only_the_new_and_unfinished_traces(tmp_path, monkeypatch):
    """The updates an earlier analysis settled (every occurrence done) are kept in the state: a
    resumed analysis joins the traces of the events logged since and those still in flight."""
    from stallscope.engine import records
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "orchestrator.log").write_bytes(lines_of(50) + b"[weights][open1] client.send path=/update_weights t=1.0\n")
    analyze([logs], state_dir=tmp_path / "state")
    joined = []
    update = records._update
    monkeypatch.setattr(records, "_update", lambda trace, *args: joined.append(trace) or update(trace, *args))
    with open(logs / "orchestrator.log", "ab") as handle:
        handle.write(lines_of(2, start=50))
    report = analyze([logs], state_dir=tmp_path / "state")
    assert sorted(set(joined)) == ["open1", "u50", "u51"]
    assert (report["updates"]["complete"], report["updates"]["incomplete"]) == (52, 1)
    assert comparable(report) == comparable(analyze([logs]))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(late=st.sampled_from(["reused_trace", "server_side", "earlier_file", "warmup_steps"]))
def test_what_a_settled_part_cannot_hold_is_computed_again(tmp_path_factory, late):
    """A settled trace with a new event (its id reused, its server side logged late in another file),
    batches logged in a file placed before those folded, another warm-up: the report still equals a
    full analysis."""
    root = tmp_path_factory.mktemp("late")
    logs, state = root / "logs", root / "state"
    logs.mkdir()
    (logs / "orchestrator.log").write_bytes(lines_of(30))
    thresholds = None
    check_resumed(logs, state)
    if late == "reused_trace":
        with open(logs / "orchestrator.log", "ab") as handle:
            handle.write(lines_of(2, start=3))
    elif late == "server_side":
        (logs / "server.log").write_bytes(b"[weights][u7] server.recv path=/update_weights t=7.5\n"
                                          b"[weights][u7] rpc.start op=update_weights t=7.6\n")
    elif late == "earlier_file":
        (logs / "a_orchestrator.log").write_bytes(lines_of(4, start=200))
    else:
        thresholds = {"success_criteria": {"warmup_steps": 5}}
    full = comparable(analyze([logs], thresholds=thresholds))
    assert comparable(analyze([logs], state_dir=state, thresholds=thresholds)) == full


def test_a_damaged_settled_part_is_computed_again_from_the_rows(tmp_path):
    import sqlite3
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(lines_of(20))
    analyze([logs], state_dir=tmp_path / "state")
    db = sqlite3.connect(tmp_path / "state" / STATE_FILE)
    db.execute("UPDATE settled SET data = x'00ff'")
    db.commit()
    db.close()
    with open(logs / "a.log", "ab") as handle:
        handle.write(lines_of(2, start=70))
    assert comparable(analyze([logs], state_dir=tmp_path / "state")) == comparable(analyze([logs]))
