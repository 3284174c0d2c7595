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


def comparable(report):
    """report.json and timeline.txt with the paths made relative (runs differ only in where)."""
    return json.loads(json.dumps(report)), timeline_text(report)


def copy_tree(files, root):
    """Writes {relative path: bytes} under root."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


log_line = st.sampled_from(SEED_LINES + DASK_LINES + ["noise", "[weights] is mentioned", ""])
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
        names = [name for name in contents if name.startswith(host + "/")]
        steps = max(len(cuts[index]) for index in range(len(names))) + 1
        for step in range(steps):
            grown = {}
            for index, name in enumerate(names):
                data = contents[name]
                points = sorted(int(cut * len(data)) for cut in cuts[index]) + [len(data)]
                grown[name] = data if name.endswith(".json") else data[:points[min(step, len(points) - 1)]]
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
