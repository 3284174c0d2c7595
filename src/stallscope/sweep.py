"""Sweeps (docs/sweeps.md): a profile's variables varied, every combination run in turn as its own run.

Plain data and files on the controller: the spec checked and expanded into variants, the variants
still to run (a re-run of the same sweep resumes), each variant's outcome recorded, and the summary
(the N-way comparison of `stallscope compare`, ranked by the profile's objective). Every mistake in
a spec is one line naming the variable and what to do.
"""

import glob
import hashlib
import itertools
import json
import os
import re

from .engine.compare import compare_runs, compare_runs_markdown, load_report
from .engine.errors import InputError

MAX_VARIANTS = 100
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,52}")  # the run-id rule (test_plugins/run_id.py)
# A variant's run id is <sweep id>-v<NN>[-a<attempt>]: the sweep id leaves room for that suffix.
SWEEP_ID_MAX = 53 - len("-v100-a99")
SCALARS = (str, int, float, bool)
PLAYS = ("launch", "wait", "stop", "collect")


def expand(spec, profile):
    """The variants of a sweep spec ({variable: [values]}) over `profile`: a list of
    {"name": "v01", "vars": {...}}, every combination, in the spec's order (the last variable varies
    fastest). Raises InputError naming the variable for anything malformed."""
    if not isinstance(spec, dict) or not spec:
        raise InputError("sweep: must map profile variables to lists of values, "
                         "e.g. {\"batch_size\": [64, 128], \"admin_client\": [\"shared\", \"dedicated\"]}")
    known = set((profile.get("vars") or {}))
    for variable, values in spec.items():
        at = f"sweep: {variable}"
        if variable not in known:
            raise InputError(f"{at}: not a variable of profile {profile.get('name')} (it has {', '.join(sorted(known))})")
        if not isinstance(values, list) or not values:
            raise InputError(f"{at}: must be a non-empty list of values, e.g. {{\"{variable}\": [1, 2]}}")
        for value in values:
            if not isinstance(value, SCALARS):
                raise InputError(f"{at}: {json.dumps(value)} is not a single value (a string, number or boolean)")
        if len({json.dumps(value) for value in values}) != len(values):
            raise InputError(f"{at}: a value is listed twice")
    count = 1
    for values in spec.values():
        count *= len(values)
    if count > MAX_VARIANTS:
        raise InputError(f"sweep: {count} combinations, more than {MAX_VARIANTS}: split the sweep")
    width = max(2, len(str(count)))
    return [{"name": f"v{index:0{width}d}", "vars": dict(zip(spec, values))}
            for index, values in enumerate(itertools.product(*spec.values()), start=1)]


def sweep_id(profile_name, spec, given=None):
    """The given sweep id, checked, or one derived from the profile and the spec (the same spec
    resumes the same sweep)."""
    if given:
        if not RUN_ID.fullmatch(given) or len(given) > SWEEP_ID_MAX:
            raise InputError(f"sweep_id {given!r}: must be 1-{SWEEP_ID_MAX} letters, digits, '.', '_' or '-', "
                             "starting with a letter or digit")
        return given
    digest = hashlib.sha1(json.dumps([profile_name, spec]).encode()).hexdigest()[:8]
    return f"{profile_name[:SWEEP_ID_MAX - 16]}-sweep-{digest}"


def plan(sweep_dir, runs_dir, sweep, profile_name, spec, variants, retry_failed=False, write=True):
    """Which variants still have to run, and as which run id. Writes sweep.json (the spec) on the
    first plan (unless not `write`); a later plan of the same id must have the same spec. Returns the variants, each with
    `run_id` (a new attempt's when an earlier one was interrupted) and `state`: done, failed or
    pending."""
    definition = {"sweep_id": sweep, "profile": profile_name, "spec": spec, "variants": variants}
    path = os.path.join(sweep_dir, "sweep.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            recorded = json.load(handle)
        if (recorded.get("profile"), recorded.get("spec")) != (profile_name, spec):
            raise InputError(f"sweep {sweep}: {path} holds another sweep (profile {recorded.get('profile')}, "
                             f"{json.dumps(recorded.get('spec'))}): choose another -e sweep_id")
    elif write:
        os.makedirs(os.path.join(sweep_dir, "variants"), exist_ok=True)
        _write_json(path, definition)
    planned = []
    for variant in variants:
        record = read_record(sweep_dir, variant["name"])
        if record is not None and not (retry_failed and record["failed"]):
            planned.append(dict(variant, run_id=record["run_id"], state="failed" if record["failed"] else "done"))
            continue
        base = f"{sweep}-{variant['name']}"
        attempt, run_id = 1, base
        while os.path.exists(os.path.join(runs_dir, run_id)):  # an interrupted or failed attempt: kept
            attempt += 1
            run_id = f"{base}-a{attempt}"
        planned.append(dict(variant, run_id=run_id, state="pending"))
    return planned


def variant_play_vars(variant, profile_name, runs_dir):
    """The extra variables every play of a variant gets: its run id and profile, and its values over
    each host's own profile variables (the Jinja text is evaluated per host by the play)."""
    return {"run_id": variant["run_id"], "stallscope_runs_dir": runs_dir, "launch_profile": profile_name,
            "sweep_variant_vars": variant["vars"],
            "launch_profile_vars": "{{ stallscope_profile_vars | default({}) | combine(sweep_variant_vars) }}"}


def read_record(sweep_dir, name):
    path = os.path.join(sweep_dir, "variants", f"{name}.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def record_variant(sweep_dir, run_dir, variant, plays, wait_timeout):
    """Records how a variant went: `plays` maps each of PLAYS that ran to {rc, msg} (msg: the play's
    first failure message). A failed or hung variant is recorded with its reason, never raised."""
    reasons = []
    launch, wait, collect = plays.get("launch"), plays.get("wait"), plays.get("collect")
    if launch is None or launch["rc"] != 0:
        reasons.append("launch failed" + _because(launch))
    elif wait is not None and wait["rc"] != 0:
        reasons.append(f"jobs still running after {wait_timeout} s, stopped (hung)"
                       if "still running after" in (wait.get("msg") or "") else "waiting failed" + _because(wait))
    if launch is not None and launch["rc"] == 0:
        failure = job_failure(run_dir)
        if failure:
            reasons.append(failure)
        if collect is None or collect["rc"] != 0:
            reasons.append("collect and analysis failed" + _because(collect))
        elif not os.path.isfile(os.path.join(run_dir, "analysis", "report.json")):
            reasons.append("no analysis was written")
    record = dict(variant, failed="; ".join(dict.fromkeys(reasons)) or None,
                  plays={name: play["rc"] for name, play in plays.items()})
    for transient in ("state", "vars_file"):
        record.pop(transient, None)
    _write_json(os.path.join(sweep_dir, "variants", f"{variant['name']}.json"), record)
    return record


def _because(play):
    if play is None:
        return " (not run)"
    return f" (exit {play['rc']}): {play['msg']}" if play.get("msg") else f" (exit {play['rc']})"


def job_failure(run_dir):
    """Why a run did not end well (a job, i.e. a component that is not a service, with no or a
    non-zero exit code in the collected logs), or None."""
    manifests = sorted(glob.glob(os.path.join(run_dir, "launch", "*.json")))
    if not manifests:
        return f"the run has no launch record in {run_dir}"
    for path in manifests:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        for component in manifest["components"]:
            if component.get("service"):
                continue  # servers run until stopped: their exit code is the stop signal's
            exit_path = os.path.join(run_dir, manifest["host"], component["exit"])
            try:
                with open(exit_path, encoding="utf-8") as handle:
                    code = handle.read().strip()
            except OSError:
                return f"{component['name']} on {manifest['host']} did not end (no exit code collected)"
            if code != "0":
                return f"{component['name']} on {manifest['host']} exited with code {code}"
    return None


# Searched, not matched at the start: a calling ansible-runner's display may prefix escape sequences.
FAILURE_LINE = re.compile(r"(?:fatal|failed): \[[^\]]+\].*?=> (\{.*\})\s*$")
ERROR_LINE = re.compile(r"ERROR! (.*)$")


def play_failure(output):
    """The first failure message of an ansible-playbook run's output (default callback), or the
    ERROR line of a play that could not start; None when there is none."""
    for line in output.splitlines():
        match = FAILURE_LINE.search(line)
        if match:
            try:
                message = json.loads(match.group(1)).get("msg")
            except ValueError:
                message = None
            if message:
                return " ".join(str(message).split())[:400]
        error = ERROR_LINE.search(line)
        if error:
            return error.group(1).strip()[:400]
    return None


def summary(sweep_dir, runs_dir, objective=None, thresholds=None, write=True):
    """The sweep's summary: the N-way comparison (engine.compare.compare_runs) over its variants in
    order (failed ones included, those not run yet listed), the best by the objective marked.
    Writes summary.md and summary.json in the sweep's directory (unless not `write`); returns
    (result, markdown)."""
    with open(os.path.join(sweep_dir, "sweep.json"), encoding="utf-8") as handle:
        definition = json.load(handle)
    runs, pending = [], []
    for variant in definition["variants"]:
        record = read_record(sweep_dir, variant["name"])
        if record is None:
            pending.append(variant)
            continue
        run = {"name": variant["name"], "variables": variant["vars"], "run_id": record["run_id"],
               "report": None, "failure": record["failed"]}
        if not record["failed"]:
            run["report"] = load_report(os.path.join(runs_dir, record["run_id"], "analysis", "report.json"))
        runs.append(run)
    result = compare_runs(runs, objective, thresholds)
    for row, run in zip(result["rows"], runs):
        row["run_id"] = run["run_id"]
    result.update(sweep_id=definition["sweep_id"], profile=definition["profile"], spec=definition["spec"],
                  not_run=[variant["name"] for variant in pending])
    markdown = compare_runs_markdown(result, title=f"sweep {definition['sweep_id']} ({definition['profile']})")
    if pending:
        markdown += "\nNot run yet (run the sweep again to resume): " + ", ".join(
            f"{variant['name']} ({json.dumps(variant['vars'])})" for variant in pending) + "\n"
    if write:
        with open(os.path.join(sweep_dir, "summary.md"), "w", encoding="utf-8") as handle:
            handle.write(markdown)
        _write_json(os.path.join(sweep_dir, "summary.json"), result)
    return result, markdown


def _write_json(path, data):
    """Written whole or not at all: a record is never left half written by an interruption."""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, allow_nan=False)
    os.replace(partial, path)
