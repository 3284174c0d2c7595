"""analyze(): paths -> the report.json dict. Reads the logs (and, with a state directory, resumes
from and saves the partial state kept there); writes nothing else.

Each log file is read into the partial state (state.py) by the families' Partial objects; the report
is computed from the state alone (report()), so it is the same whether the state was built in one
pass, resumed, or merged from several.
"""

import concurrent.futures
import functools
import itertools
import marshal
import multiprocessing
import os
import sqlite3
import tempfile
from contextlib import contextmanager

from .errors import EngineError, InputError, NoRecognisedLines
from .families import FAMILIES, FINDINGS, RUNS, SAMPLERS
from .findings import diagnose, evaluate_all
from .gc_pause import gc_paused
from .inputs import discover
from .manifests import COLLECT_RECORD, collected_clock, resolve
from .metrics import summarize_all
from .stats import summarize
from .samples import SPILL_EVERY
from .scan import scan_span, scan_tail
from .state import STATE_FILE, State, StateRejected, fingerprint, new_file
from .store import SampleSink
from .thresholds import merge_thresholds

SCHEMA_VERSION = 1
COUNTS = ("bytes", "lines", "recognised", "malformed", "overlong_lines")


def analyze(paths, thresholds=None, async_level=None, state_dir=None, jobs=None, progress=None, timeline=True):
    """Analyses the log files under `paths`; returns the report (plain, JSON-serialisable data).

    `thresholds`: a dict shaped like thresholds.DEFAULT_THRESHOLDS, merged over it.
    `async_level`: the run's async_level, overriding run manifests. `state_dir`: a directory whose
    partial state is resumed (only bytes appended since are read) and saved. `jobs`: worker
    processes reading files (default: the machine's cores; 1: none). `progress(path, size)`: called
    with the bytes read (decompressed) after each chunk of a file, or, read by a worker process, once
    the file is read. `timeline`: False leaves the report's timeline out (report.timeline None:
    the report's files cannot be written from it), which a diagnosis alone does not need. Raises InputError
    (unusable input or option), NoRecognisedLines (nothing of a known log family in readable
    inputs) or EngineError (no room for the working data).
    """
    table = merge_thresholds(thresholds)
    if async_level is not None and (isinstance(async_level, bool) or not isinstance(async_level, int) or async_level < 0):
        raise InputError(f"async_level: {async_level!r} is not a non-negative integer")
    with gc_paused(), _working_data(state_dir):
        warnings = []
        state = State.open(state_dir, warnings) if state_dir else State()
        try:
            files = read(state, paths, table, warnings, jobs, progress)
            return report(state, files, table, async_level, warnings, timeline)
        finally:
            state.db.rollback()  # the unfinished last lines read for this report only
            state.close()


def analyze_states(state_dirs, thresholds=None, async_level=None, timeline=True):
    """The report of the partial states saved in `state_dirs` (e.g. one per host), merged. A
    state's files are reported as they were when it was saved (without their unfinished last lines);
    a collect.json beside a state directory (runs/<run_id>/<host>/) gives its files the host's clock.
    Raises InputError for a directory without a usable state."""
    table = merge_thresholds(thresholds)
    with gc_paused(), _working_data(None):
        merged = State()
        try:
            for directory in state_dirs:
                path = os.path.join(directory, STATE_FILE)
                if not os.path.isfile(path):
                    raise InputError(f"{directory}: no {STATE_FILE} (a saved partial state) in it")
                try:
                    part = State.load(path)
                except StateRejected as error:
                    raise InputError(str(error)) from None
                # A state collected from a host (collect_mode digest) has collect.json beside its
                # directory: the host's clock as collect measured it, which the host could not know.
                clock = collected_clock(os.path.join(os.path.dirname(os.path.abspath(directory)), COLLECT_RECORD))
                for entry in part.files.values():
                    entry["clock"] = entry["clock"] or clock
                try:
                    merged.merge(part)
                finally:
                    part.close()
            settle(merged, merged.files, table)
            files = {file_id: dict(entry) for file_id, entry in merged.files.items()}
            return report(merged, files, table, async_level, [], timeline)
        finally:
            merged.close()


@contextmanager
def _working_data(state_dir):
    """Turns a full disk or an unwritable state into one message naming where."""
    try:
        yield
    except sqlite3.Error as error:
        where = f"the state in {state_dir}" if state_dir else f"the working data in {tempfile.gettempdir()}"
        hint = ("another analysis is using it: try again when it has finished" if "locked" in str(error)
                else "free space there or point TMPDIR elsewhere")
        raise EngineError(f"cannot keep {where}: {error}; {hint}") from None
    except OSError as error:
        if error.filename:  # an input or state path: InputError names them
            raise
        raise EngineError(f"cannot keep the working data in {tempfile.gettempdir()}: {error.strerror or error}; "
                          "free space there or point TMPDIR elsewhere") from None


def read(state, paths, table, warnings, jobs=None, progress=None):
    """Reads into `state` what the log files under `paths` hold beyond what it has read; saves it
    (a state file then holds it); then reads each file's unfinished last line for this report only.
    Returns file id -> the file's record as reported (with those last lines).

    `jobs`: worker processes (default: the machine's cores); with more than one, and more than
    PARALLEL_MIN_BYTES to read in several files, each file is read by a worker into a state of its
    own, merged here."""
    log_files = discover(paths, SAMPLERS)
    manifests = resolve(log_files, warnings)
    todo = []
    for (file_id, log_file), manifest in zip(state.match(log_files), manifests):
        if file_id is None:
            file_id = state.add_file(new_file(log_file.path))
        entry = state.files[file_id]
        entry.update(host=manifest["host"], async_level=manifest["async_level"], manifest=manifest["manifest"],
                     clock=manifest["clock"])
        if entry["fingerprint"] is None or entry["fingerprint"][0] not in ("compressed", "sampler"):
            todo.append((file_id, log_file.path))  # else matched: read whole before, unchanged since
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(todo) > 1 and sum(_unread(path, state.files[file_id]) for file_id, path in todo) >= PARALLEL_MIN_BYTES:
        spans = _read_in_workers(state, todo, jobs, progress)
    else:
        spans = [(file_id, _read_span(state.store, file_id, path, state.files[file_id],
                                      None if progress is None else functools.partial(progress, path)))
                 for file_id, path in todo]
    state.save()
    settle(state, state.files, table)
    files = {file_id: dict(entry) for file_id, entry in state.files.items()}
    for file_id, span in spans:
        if span is None:
            continue
        entry = files[file_id]
        sink = SampleSink(state.store, file_id)
        partials = [family.Partial(state.store, sink, file_id, entry["families"].get(family.NAME)) for family in FAMILIES]
        span.counts = dict.fromkeys(span.counts, 0)
        scan_tail(span, _route(partials, sink), FAMILIES)
        sink.spill(1)
        _add_counts(entry, span.counts)
        entry["families"] = {family.NAME: partial.dump() for family, partial in zip(FAMILIES, partials)}
    return files


# Below this many bytes to read, worker processes cost more than they save.
PARALLEL_MIN_BYTES = 16 << 20


def _unread(path, entry):
    try:
        return max(0, os.path.getsize(path) - entry["offset"])
    except OSError:
        return 0  # read() names the file when it reads it


def _read_span(store, file_id, path, entry, on_chunk=None):
    """Reads the file from where `entry` stopped into `store` and updates `entry` (on_chunk(size)
    after each chunk of a log read); returns the Span whose unfinished last line is still to read, or None."""
    sink = SampleSink(store, file_id)
    sampler = next((family for family in SAMPLERS if family.sniff(path)), None)
    if sampler is not None:  # a tool's own output: read whole, never resumed
        partial = sampler.Partial(store, sink, file_id)
        counts = sampler.scan(path, partial.add)
        _add_counts(entry, counts)
        entry.update(offset=entry["bytes"], families={sampler.NAME: partial.dump()},
                     fingerprint=["sampler", *fingerprint(path, entry["bytes"])[1:]])
        sink.spill(1)
        if on_chunk is not None:
            on_chunk(counts["bytes"])  # read whole: one chunk
        return None
    partials = [family.Partial(store, sink, file_id, entry["families"].get(family.NAME)) for family in FAMILIES]
    on_event = _route(partials, sink)
    span = scan_span(path, on_event, FAMILIES, entry["offset"], entry["lines"], on_chunk)
    fingerprinted = fingerprint(path, span.offset)
    if fingerprinted[0] == "compressed":  # read whole, tail included: never resumed
        scan_tail(span, on_event, FAMILIES)
    _add_counts(entry, span.counts)
    entry.update(offset=span.offset, lines=span.lines, fingerprint=fingerprinted,
                 families={family.NAME: partial.dump() for family, partial in zip(FAMILIES, partials)})
    sink.spill(1)
    if fingerprinted[0] != "compressed" and (span.tail is not None or span.tail_bytes):
        return span
    return None


def _read_in_workers(state, todo, jobs, progress=None):
    """Each file read by a worker process into a state file of its own; their rows copied into
    `state`, their file records taken (progress(path, bytes read) told as each is); [(file id, Span
    or None)]."""
    with tempfile.TemporaryDirectory(prefix="stallscope-workers-") as directory:
        work = [(file_id, path, state.files[file_id], os.path.join(directory, f"{file_id}.sqlite")) for file_id, path in todo]
        # Forked workers start at once and inherit the engine already imported (also under Ansible).
        context = multiprocessing.get_context("fork")
        spans = []
        with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(work)), mp_context=context) as pool:
            for (file_id, entry, span), (_, path, _, db) in zip(pool.map(_read_in_worker, work), work):
                if progress is not None:
                    progress(path, entry["bytes"] - state.files[file_id]["bytes"])
                state.files[file_id] = entry
                state.copy_rows(db)
                spans.append((file_id, span))
        return spans


def _read_in_worker(job):
    file_id, path, entry, db = job
    worker = State(db)
    try:
        span = _read_span(worker.store, file_id, path, entry)
        worker.store.flush()
        worker.db.commit()
    finally:
        worker.close()
    return file_id, entry, span


def _add_counts(entry, counts):
    for key in COUNTS:
        entry[key] += counts[key]
    entry["binary"] = entry["binary"] or counts["binary"]


def _route(partials, sink):
    """The scanner's callback: each event to its family's partial state; the file's samples moved
    to the store now and then (a cheap count), so memory stays bounded."""
    by_family = {family.NAME: partial.add for family, partial in zip(FAMILIES, partials)}
    until_spill = [SPILL_EVERY]

    def on_event(event):
        by_family[event["family"]](event)
        until_spill[0] -= 1
        if not until_spill[0]:
            until_spill[0] = SPILL_EVERY
            sink.spill()
    return on_event


def settle(state, files, table):
    """Keeps in the state what of the run's records the bytes read cannot change any more (the
    families' settle()), so that the next report computes only what is new; commits."""
    ranks = state.ranks()
    state.store.set_ranks(ranks)
    ordered = sorted(files, key=ranks.__getitem__)
    entries = [files[file_id] for file_id in ordered]
    for family in RUNS:
        if hasattr(family, "settle"):
            family.settle(state.store, entries, [entry["families"].get(family.NAME) for entry in entries], ordered, table)
    state.db.commit()


def report(state, files, table, async_level=None, warnings=None, timeline=True):
    """The report from a state: `files`, file id -> the file's record (state.files, or read()'s
    answer); `table`: a merged threshold table; `timeline`: whether to write the timeline's rows."""
    warnings = [] if warnings is None else warnings
    ranks = state.ranks()
    state.store.set_ranks(ranks)
    ordered = sorted(files, key=ranks.__getitem__)
    inputs = [_input(files[file_id], async_level) for file_id in ordered]
    if not any(entry["recognised"] for entry in inputs):
        raise NoRecognisedLines(_nothing_recognised(inputs))
    for entry in inputs:
        if entry["binary"]:
            warnings.append(f"{entry['path']}: looks binary (NUL bytes); scanned anyway")
        if entry["overlong_lines"]:
            warnings.append(f"{entry['path']}: {entry['overlong_lines']} line(s) longer than 1 MiB skipped")
        if entry["malformed"]:
            warnings.append(f"{entry['path']}: {entry['malformed']} tagged line(s) with unreadable fields ignored")
    store = state.store
    records, seen, values = {}, [], {}
    settings = {"clocks": _clocks(files, ordered), "thresholds": table, "file_ids": ordered}
    for family in RUNS:
        partials = [files[file_id]["families"].get(family.NAME) for file_id in ordered]
        records[family.NAME] = family.run(store, inputs, partials, settings)
        if family.seen(records[family.NAME], store):
            seen.append(family.NAME)
        values.update(family.samples(records[family.NAME], store, family.NAME in seen))
    # The run's profile: the line families seen (a sampler's output goes with any of them).
    profiles = [family.NAME for family in FAMILIES if family.NAME in seen]
    metrics = summarize_all(values)
    judged = values  # the samples the findings judge: each family's judged() takes out what it does not judge
    for family in RUNS:
        if hasattr(family, "judged"):
            judged = family.judged(records[family.NAME], judged)
    judged_metrics = {name: metrics[name] if judged[name] is values[name] else summarize(judged[name]) for name in judged}
    async_info = _async_level(async_level, inputs)
    run_info = {"inputs": inputs, "warnings": warnings, "thresholds": table}
    sections = {}
    for family in RUNS:
        if family.NAME in seen or getattr(family, "ALWAYS_REPORTED", False):
            sections.update(family.report(records[family.NAME], metrics, run_info))
    context = {
        "samples": judged,
        "judged_metrics": judged_metrics,
        "metrics": metrics,
        "families": records,
        "sections": dict(sections),  # a copy: the report takes its sections out of `sections` below
        "thresholds": table,
        "async_level": async_info,
        "inputs": inputs,
        "profiles": profiles,
    }
    findings = evaluate_all(context, FINDINGS)
    diagnosis, severity = diagnose(findings)
    result = Report({
        "schema_version": SCHEMA_VERSION,
        "profile": "+".join(sorted(profiles)) or None,
        "diagnosis": diagnosis,
        "severity": severity,
        "findings": findings,
        "inputs": inputs,
        "metrics": metrics,
        "updates": sections.pop("updates"),
        "requests": sections.pop("requests"),
        "correlation": sections.pop("correlation"),
        "async_level": async_info,
        "thresholds": table,
        "slowest_updates": sections.pop("slowest_updates"),
        "timeline": sections.pop("timeline"),
        "throughput": sections.pop("throughput"),
        "warmup": sections.pop("warmup"),
        "per_step": sections.pop("per_step"),
        "warnings": warnings,
    })
    result.update(sections)
    if timeline:
        result.timeline = Timeline({stream: rows for family in RUNS if hasattr(family, "timeline")
                                    for stream, rows in family.timeline(records[family.NAME]).items()})
    return result


def _clocks(files, ordered):
    """host -> the host's clock as collect measured it (manifests.resolve), where known."""
    return {files[file_id]["host"]: files[file_id]["clock"] for file_id in ordered if files[file_id]["clock"]}


def _input(entry, async_level):
    return {"path": entry["path"], "host": entry["host"], "manifest": entry["manifest"],
            "async_level": async_level if async_level is not None else entry["async_level"],
            **{key: entry[key] for key in COUNTS}, "binary": entry["binary"]}


class Report(dict):
    """The report.json data, and in `timeline` the rows of timeline.txt (a Timeline)."""

    timeline = None


def _nothing_recognised(inputs):
    lines = sum(entry["lines"] for entry in inputs)
    names = ", ".join(entry["path"] for entry in inputs[:3]) + (f" and {len(inputs) - 3} more" if len(inputs) > 3 else "")
    message = f"no recognised line in {names} ({lines} lines): looked for " + "; ".join(f.LOOKED_FOR for f in dict.fromkeys(FAMILIES + SAMPLERS))
    malformed = sum(entry["malformed"] for entry in inputs)
    if malformed:
        message += f"; {malformed} tagged line(s) had unreadable fields"
    binary = [entry["path"] for entry in inputs if entry["binary"]]
    if binary:
        message += f"; {binary[0]} looks binary"
    return message


def _async_level(flag, inputs):
    if flag is not None:
        return {"value": flag, "source": "given"}  # by the caller: the CLI's --async-level, the module's async_level
    values = sorted({entry["async_level"] for entry in inputs if entry["async_level"] is not None})
    if len(values) == 1:
        return {"value": values[0], "source": "run_manifest.json"}
    if values:
        return {"value": None, "source": f"run manifests disagree ({values}); each file is judged by its own"}
    return {"value": None, "source": "unknown"}


# Rows are stored in blocks, each its size then its marshal bytes: one read, one seek and one
# marshal.loads per block, not per row (10^5 rows a stream; marshal.load on a file reads each field
# through the file object), and a block of rows in memory at a time.
TIMELINE_BLOCK_ROWS = 1024


def _blocks(rows, size):
    rows = iter(rows)
    while block := list(itertools.islice(rows, size)):
        yield block


class Timeline:
    """What the timelines show, written once to a private temporary file (10^5 rows per GB of log:
    never held), so that the report does not keep the state open: the families' streams (their
    timeline()), each read on its own by rows(stream)."""

    def __init__(self, streams):
        self.file = tempfile.TemporaryFile(prefix="stallscope-timeline-")
        self.sections = {}  # stream -> (start, end) offsets in the file
        for stream, rows in streams.items():
            self._write(stream, rows)

    def _write(self, stream, rows):
        start = self.file.tell()
        for block in _blocks(rows, TIMELINE_BLOCK_ROWS):
            data = marshal.dumps(block)
            self.file.write(len(data).to_bytes(8, "little") + data)
        self.sections[stream] = (start, self.file.tell())

    def rows(self, stream):
        position, end = self.sections[stream]  # its own: two readers may be open at once (timeline.txt, per_step.txt)
        while position < end:
            self.file.seek(position)
            size = int.from_bytes(self.file.read(8), "little")
            block = marshal.loads(self.file.read(size))
            position += 8 + size
            yield from block
