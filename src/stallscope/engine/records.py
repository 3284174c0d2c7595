"""The prime-rl family's records: what one file's events leave (a partial state), and the run's
records joined from every file's.

Reading a file (PrimeRlPartial): weight events are stored as rows for the join by trace id across
files and hosts; generation batches are matched to the weight updates in flight while they ran, by
line order within the file that logged both (a process's own log is in time order, so this needs no
clock), and stored as rows; samples go to the file's SampleSink. What the next bytes of the file
continue from (the updates in flight, the batches open) is plain data in dump().

The run (records()): the stored weight events joined by trace into updates, each handed once to an
UpdateDigest (digest.py) and, with a client-side event, kept as a timeline row; the stored batches
folded in log order (BatchSummary). Once a state is saved, settle() keeps what of this the bytes read
cannot change (the finished traces' digest and rows, the batches' fold) in the state, and records()
continues from it: a resumed analysis joins the new and unfinished traces and folds the new batches.
"""

import heapq
import itertools
import marshal
from collections import deque, namedtuple
from itertools import groupby

from .digest import UpdateDigest
# The orchestrator's waits are rows of the `waits` table (start and end line timestamps), for the
# GPU samples taken during them (gpu_run.py).
from .gpu_run import CHECKPOINT_WAIT, WEIGHT_UPDATE, moment
from .samples import Samples
from .store import FLUSH_ROWS
from .throughput import Throughput

UPDATE_PHASES = ("client.send", "server.recv", "rpc.start", "rpc.done", "client.done")
PHASE_INDEX = {phase: index for index, phase in enumerate(UPDATE_PHASES)}
SERVER_PHASES = ("server.recv", "rpc.start", "rpc.done")
UNTRACED = "-"
# The metrics this family's samples feed (sampled per file as read).
SAMPLED = ("write_ms", "wait_ms", "gen_dur_ms", "gen_dur_ms.during_updates", "gen_dur_ms.between_updates",
           "inflight", "trunc_pct", "staleness")
# Client-side traces kept per file, in line order, for the warm-up (its count is a report-time
# setting: warmup.py); a warm-up of more updates than this counts only these.
WARMUP_KEPT = 64


# An update's five events, each a Mark or None.
Phases = namedtuple("Phases", ("client_send", "server_recv", "rpc_start", "rpc_done", "client_done"))
# One weight event of an update: where it was logged (file: its position in the report's inputs)
# and what it carried. Stored without file and line (the row has them).
MARK_VALUES = ("t", "op", "ts", "rpc_ms", "wall_ms", "queue_ms")
Mark = namedtuple("Mark", ("file", "line") + MARK_VALUES)
Update = namedtuple("Update", ("trace", "op", "events", "client_host", "server_host", "wall_ms", "rpc_ms", "queue_ms",
                               "complete", "incomplete", "later_done_in_file", "server_queue_ms"))

# A generation batch as read back (a dict with these keys; file: its position in the report's inputs).
BATCH_FIELDS = ("file", "line", "start_line", "ts", "t", "dur_ms", "completions", "tokens", "inflight_start",
                "inflight_done", "target_batch", "updates")
# What the timeline shows of a generation batch, at its batch.done line.
TIMELINE_BATCH_COLUMNS = ("file", "line", "start_line", "ts", "t", "dur_ms", "completions", "inflight_start", "inflight_done",
                          "updates")
# What the timeline shows of an update, at its client-side line (client.send, else client.done;
# `sent` says which, so that a drawing knows whether t is the update's start or its end).
TIMELINE_UPDATE_COLUMNS = ("file", "line", "ts", "t", "trace", "op", "wall_ms", "queue_ms", "rpc_ms", "complete", "sent")
# A checkpoint wait (orchestrator, wait.done) or write (trainer, write.done) on the timeline, as read
# back: it ends at its line; kind is "wait" or "write", ms its wait_ms or write_ms.
CHECKPOINT_FIELDS = ("file", "line", "ts", "t", "kind", "ms")


class PrimeRlPartial:
    """One file's prime-rl events so far: rows in the store, samples in the sink, and in-file state."""

    def __init__(self, store, sink, file, data=None):
        self.store = store
        self.samples = sink
        self.file = file
        data = data or {}
        self.active = dict.fromkeys(data.get("active", ()))  # traces sent and not done, in send order
        # Batches started and not done: (start line, inflight, target_batch), and the updates in flight meanwhile.
        self.open_batches = deque((tuple(start), dict.fromkeys(updates)) for start, updates in data.get("open", ()))
        self.last_done_line = data.get("last_done_line", 0)
        self.untraced = data.get("untraced", 0)
        self.untraced_per_second = data.get("untraced_per_second", {})  # whole second of t= -> requests
        self.server_events = data.get("server_events", 0)
        self.batches = data.get("batches", 0)
        self.checkpoints = data.get("checkpoints", 0)
        self.weight_events = data.get("weight_events", 0)
        self.first_clients = data.get("first_clients", [])  # the first client-side traces, in line order
        self.open_waits = data.get("open_waits", {})  # "ckpt" or a trace -> the line timestamp it began at

    def dump(self):
        return {"active": list(self.active), "open": [(start, list(updates)) for start, updates in self.open_batches],
                "last_done_line": self.last_done_line, "untraced": self.untraced,
                "untraced_per_second": self.untraced_per_second, "server_events": self.server_events,
                "batches": self.batches, "checkpoints": self.checkpoints, "weight_events": self.weight_events, "first_clients": self.first_clients,
                "open_waits": self.open_waits}

    def add(self, event):
        kind = event["event"]
        if kind in PHASE_INDEX:
            self._weights_event(event, kind)
        elif kind == "batch.start":
            self.open_batches.append(((event["line"], event["inflight"], event["target_batch"]), dict.fromkeys(self.active)))
        elif kind == "batch.done":
            self._batch_done(event)
        elif kind == "write.done":
            self.samples["write_ms"].append(event["write_ms"])
            self._checkpoint(event, "write", event["write_ms"])
        elif kind == "wait.done":
            self.samples["wait_ms"].append(event["wait_ms"])
            self._checkpoint(event, "wait", event["wait_ms"])
            self._wait_end("ckpt", CHECKPOINT_WAIT, event)
        elif kind == "wait.start":
            self._wait_start("ckpt", event["ts"])
        elif kind == "rollout":
            for key in ("trunc_pct", "staleness"):
                if event[key] is not None:
                    self.samples[key].append(event[key])

    def _wait_start(self, key, ts):
        if moment(ts) is not None:
            self.open_waits[key] = ts

    def _wait_end(self, key, kind, event):
        started = self.open_waits.pop(key, None)
        if started is not None and moment(event["ts"]) is not None:
            self.store.add("waits", None, kind, self.file, event["line"], (started, event["ts"]))

    def _weights_event(self, event, kind):
        trace = event["trace"]
        if kind == "client.send":
            self._wait_start(trace, event["ts"])
        elif kind == "client.done":
            self._wait_end(trace, WEIGHT_UPDATE, event)
        if trace == UNTRACED:
            if kind == "server.recv":
                self.untraced += 1
                if event["t"] is not None:
                    second = int(event["t"])
                    self.untraced_per_second[second] = self.untraced_per_second.get(second, 0) + 1
            return
        self.weight_events += 1
        if kind in SERVER_PHASES:
            self.server_events += 1
        self.store.add("marks", trace, PHASE_INDEX[kind], self.file, event["line"], tuple(map(event.get, MARK_VALUES)))
        if kind in ("client.send", "client.done") and len(self.first_clients) < WARMUP_KEPT and trace not in self.first_clients:
            self.first_clients.append(trace)
        if kind == "client.send":
            self.active[trace] = True
            for _, updates in self.open_batches:
                updates[trace] = True
        elif kind == "client.done":
            self.active.pop(trace, None)
            self.last_done_line = event["line"]

    def _checkpoint(self, event, kind, ms):
        self.store.add("checkpoints", None, 0, self.file, event["line"], (event["ts"], event["t"], kind, ms))
        self.checkpoints += 1

    def _batch_done(self, event):
        if self.open_batches:
            (start_line, inflight_start, target_batch), updates = self.open_batches.popleft()
        else:
            (start_line, inflight_start, target_batch), updates = (None, None, None), self.active
        dur_ms, inflight_done = event["dur_ms"], event["inflight"]
        updates = list(updates)
        self.store.add("batches", None, 0, self.file, event["line"],  # BATCH_FIELDS after file and line
                       (start_line, event["ts"], event["t"], dur_ms, event["completions"], event["tokens"], inflight_start,
                        inflight_done, target_batch, updates))
        self.batches += 1
        samples = self.samples
        samples["gen_dur_ms"].append(dur_ms)
        samples["gen_dur_ms.during_updates" if updates else "gen_dur_ms.between_updates"].append(dur_ms)
        if inflight_start is not None:
            samples["inflight"].append(inflight_start)
        if inflight_done is not None:
            samples["inflight"].append(inflight_done)


class StoredRows:
    """The rows of one of the store's tables in (file, line) order, as tuples of (file position,
    line, *values): a sized, re-iterable sequence read from disk on each pass."""

    table = None

    def __init__(self, store, count):
        self.store = store
        self.count = count

    def __len__(self):
        return self.count

    def __iter__(self):
        return self.rows()

    def rows(self):
        return ((rank, line, *values) for _, _, rank, line, values in self.store.by_position(self.table))


class Batches(StoredRows):
    """The run's generation batches: rows() in BATCH_FIELDS order; iterated, as dicts of BATCH_FIELDS."""

    table = "batches"

    def __iter__(self):
        return (dict(zip(BATCH_FIELDS, row)) for row in self.rows())


class Checkpoints(StoredRows):
    """The run's checkpoint waits and writes, as CHECKPOINT_FIELDS tuples."""

    table = "checkpoints"


def records(store, files, partials, warmup, ids, warmup_steps):
    """The run's prime-rl records from the files' partial states.

    `files`: per report position, `{"host", "async_level"}`; `partials`: per report position, the
    file's dumped PrimeRlPartial (or None); `warmup`: a warmup.Warmup, told each file's first
    client-side traces and offered every joined update; `ids`: per report position, the file's id
    in the state; `warmup_steps`: the throughput's warm-up batches. What settle() kept in the state
    is taken from it, the rest computed now.
    """
    for rank, partial in enumerate(partials):
        for trace in partial["first_clients"] if partial else ():
            warmup.saw(rank, trace)
    untraced_per_second = {}  # host -> second -> requests
    for entry, partial in zip(files, partials):
        if partial:
            seconds = untraced_per_second.setdefault(entry["host"], {})
            for second, count in partial["untraced_per_second"].items():
                seconds[second] = seconds.get(second, 0) + count
    join = _Join(store, files, partials, ids)
    join.run(settling=False)
    for update in join.warmup_candidates:
        warmup.offer(update, _first_position(update))
    join.timeline.close()
    return {
        "updates": join.digest,
        "timeline_updates": join.timeline,
        "duplicate_trace_ids": join.duplicates,
        "batch_summary": _fold_batches(store, files, ids, warmup_steps, settling=False),
        "file_ranks": {file_id: rank for rank, file_id in enumerate(ids)},  # a settled part's file ids -> positions
        "batches": Batches(store, sum(partial["batches"] for partial in partials if partial)),
        "checkpoints": Checkpoints(store, sum(partial["checkpoints"] for partial in partials if partial)),
        "staleness_excess": _staleness_excess(store, files),
        "untraced": {"count": sum(partial["untraced"] for partial in partials if partial),
                     "per_second": untraced_per_second},
        "server_events": sum(partial["server_events"] for partial in partials if partial),
    }


def settle(store, files, partials, ids, warmup_steps):
    """Keeps in the state what later bytes cannot change: the join of the weight events (the updates
    of the traces whose every occurrence is done, client.done: their digest, timeline rows and
    warm-up candidates) and the batches' summary so far. Arguments as records()'."""
    _Join(store, files, partials, ids).run(settling=True)
    _fold_batches(store, files, ids, warmup_steps, settling=True)


def _same_files(saved_order, files, rank_of):
    """Whether the files a settled part saw (file id, host, in report order) are all still there, on
    the same hosts, in the same order (files added since may be anywhere among them)."""
    for file_id, host in saved_order:
        if file_id not in rank_of or files[rank_of[file_id]]["host"] != host:
            return False
    ranks = [rank_of[file_id] for file_id, _ in saved_order]
    return ranks == sorted(ranks)


def _file_order(files, ids):
    return [(file_id, files[rank]["host"]) for rank, file_id in enumerate(ids)]


BATCHES = "prime-rl.batches"


def _fold_batches(store, files, ids, warmup_steps, settling):
    """The BatchSummary of every batch: the settled one continued with the batches stored since when
    they all come after those it folded (a live orchestrator log is appended to), else folded anew."""
    rank_of = {file_id: rank for rank, file_id in enumerate(ids)}
    saved = store.settled(BATCHES)
    last_row = store.last_row("batches")
    summary, rows, last = None, None, None
    if saved is not None and saved["warmup_steps"] == warmup_steps and _same_files(saved["order"], files, rank_of):
        rows = store.by_position("batches", saved["rows"])
        first = next(rows, None)
        last = saved["last"]
        if first is None or last is None or (first[2], first[3]) > (rank_of[last[0]], last[1]):
            summary = BatchSummary.load(warmup_steps, saved["summary"])
            rows = itertools.chain([first] if first else [], rows)
    if summary is None:
        summary, rows, last = BatchSummary(warmup_steps), store.by_position("batches"), None
    for _, _, rank, line, values in rows:
        summary.add((rank, line, *values), ids[rank], files[rank]["host"])
        last = (ids[rank], line)
    if settling:
        store.settle(BATCHES, {"order": _file_order(files, ids), "rows": last_row, "last": last,
                               "warmup_steps": warmup_steps, "summary": summary.dump()})
    return summary


class BatchSummary:
    """What the report needs of every generation batch, folded in (file, line) order: the throughput
    section's sources, the slowest batches that overlapped weight updates (generation_contention)
    and the in-flight requests at the start of those batches (frontend_queue_saturation)."""

    SLOWEST = 5

    def __init__(self, warmup_steps):
        self.throughput = Throughput(warmup_steps)
        self.folded = 0
        self.slowest = []  # min-heap of (dur_ms, -fold index, file, line, first updates) of batches during updates
        self.inflight_sum, self.inflight_count = 0, 0

    def add(self, row, file, host):
        """A batch row (BATCH_FIELDS order, its file a report position) of the file with id `file`."""
        self.throughput.add(row, file, host)
        self.folded += 1
        updates = row[-1]
        if updates:
            entry = (row[5], -self.folded, file, row[1], updates[:5])
            if len(self.slowest) < self.SLOWEST:
                heapq.heappush(self.slowest, entry)
            elif entry[:2] > self.slowest[0][:2]:
                heapq.heapreplace(self.slowest, entry)
            if row[8] is not None:
                self.inflight_sum += row[8]
                self.inflight_count += 1

    def slowest_during_updates(self, rank_of):
        """The slowest batches that overlapped weight updates, slowest first (ties: logged first), as
        dicts of file (report position), line, dur_ms, updates (the first five)."""
        return [{"file": rank_of[file], "line": line, "dur_ms": dur_ms, "updates": list(updates)}
                for dur_ms, _, file, line, updates in sorted(self.slowest, reverse=True)]

    def inflight_during_updates_mean(self):
        return self.inflight_sum / self.inflight_count if self.inflight_count else None

    def dump(self):
        return {"throughput": self.throughput.dump(), "folded": self.folded, "slowest": self.slowest,
                "inflight": (self.inflight_sum, self.inflight_count)}

    @classmethod
    def load(cls, warmup_steps, data):
        summary = cls(warmup_steps)
        summary.throughput = Throughput.load(warmup_steps, data["throughput"])
        summary.folded, summary.slowest = data["folded"], [tuple(entry) for entry in data["slowest"]]
        heapq.heapify(summary.slowest)
        summary.inflight_sum, summary.inflight_count = data["inflight"]
        return summary


def _staleness_excess(store, files):
    """staleness - async_level of each rollout of a file whose async_level is known."""
    excess = Samples()
    for rank, values in store.samples("staleness"):
        level = files[rank]["async_level"]
        if level is not None:
            excess.extend(value - level for value in values)
            excess.spill()
    return excess


JOIN = "prime-rl.join"


class _Join:
    """The weight events joined by trace into updates, each handed to the digest and, with a
    client-side event, kept as a timeline row.

    What settle() kept (SETTLED: the digest of the settled traces, the traces still open, the last
    marks row joined, the files it saw in report order with their hosts) is resumed when it still
    holds: no file it saw has moved in the report's order or changed host, and no trace it settled
    has a new event. Then only the open traces and those of the marks written since are joined;
    otherwise every trace is (and settle() starts again).
    """

    def __init__(self, store, files, partials, ids):
        self.store, self.files, self.ids = store, files, ids
        self.rank_of = {file_id: rank for rank, file_id in enumerate(ids)}
        self.last_done_line = [partial["last_done_line"] if partial else 0 for partial in partials]
        self.first_clients = {trace for partial in partials if partial for trace in partial["first_clients"]}
        self.timeline = TimelineUpdates(store)
        self.warmup_candidates = []

    def run(self, settling):
        store = self.store
        saved = self._resumable(store.settled(JOIN))
        last_row = store.last_row("marks")
        if saved is not None:
            touched = set(saved["open"]) | store.keys_after("marks", saved["marks"])
            if store.settled_keys_among(JOIN, touched):
                saved = None  # a settled trace has a new event: its updates change
        if saved is None:
            if settling:
                store.forget_settled(JOIN)
            self.digest, self.duplicates = UpdateDigest(), 0
            rows = store.by_key("marks")
        else:
            self.digest = UpdateDigest.load(saved["digest"], self._restored, _first_position)
            self.duplicates = saved["duplicates"]
            self.warmup_candidates = [self._restored(update) for update in saved["warmup"]]
            self.timeline.settled, self.timeline.settled_count = True, saved["timeline_rows"]
            rows = store.by_keys("marks", touched)
        still_open, settled, timeline_rows = [], [], []
        for trace, updates, duplicate in self._joined(rows):
            settles = settling and all(update.complete for update in updates)
            if settling and not settles:
                still_open.append(trace)
                continue
            self.duplicates += duplicate
            for update in updates:
                client = update.events.client_send or update.events.client_done
                if client is not None:
                    row = (client.file, client.line, client.ts, client.t, trace, update.op, update.wall_ms,
                           update.queue_ms, update.rpc_ms, update.complete, client is update.events.client_send)
                    if settling:
                        timeline_rows.append((self.ids[client.file], client.line, (None, *row[1:])))
                    else:
                        self.timeline.add(row)
                self.digest.add(update, _first_position(update))
                if trace in self.first_clients:
                    self.warmup_candidates.append(update)
            if settling:
                settled.append(trace)
        if settling:
            store.settle_rows(JOIN, timeline_rows)
            self.timeline.settled_count += len(timeline_rows)
            store.settle(JOIN, {"order": _file_order(self.files, self.ids), "timeline_rows": self.timeline.settled_count,
                                "marks": last_row, "open": still_open, "duplicates": self.duplicates,
                                "digest": self.digest.dump(self._portable),
                                "warmup": [self._portable(update) for update in self.warmup_candidates]}, settled)

    def _resumable(self, saved):
        """The saved join if the files it saw are still in the same order, on the same hosts."""
        return saved if saved is not None and _same_files(saved["order"], self.files, self.rank_of) else None

    def _joined(self, rows):
        """(trace, its updates, whether its id occurs more than once) per trace of the marks rows."""
        files, last_done_line = self.files, self.last_done_line
        for trace, marks in groupby(rows, key=lambda row: row[0]):
            phases = ([], [], [], [], [])
            for _, phase, rank, line, values in marks:
                phases[phase].append(Mark(rank, line, *values))
            occurrences = max(len(events) for events in phases)
            yield trace, [_update(trace, Phases(*(events[index] if index < len(events) else None for events in phases)),
                                  files, last_done_line) for index in range(occurrences)], occurrences > 1

    def _portable(self, update):
        """An update as plain data, its events' files by id (positions in the report can change)."""
        events = tuple(None if mark is None else (self.ids[mark.file], *mark[1:]) for mark in update.events)
        return (*update[:2], events, *update[3:])

    def _restored(self, data):
        trace, op, events, *rest = data
        events = Phases(*(None if mark is None else Mark(self.rank_of[mark[0]], *mark[1:]) for mark in events))
        update = Update(trace, op, events, *rest)
        send = events.client_send
        return update._replace(later_done_in_file=send is not None and self.last_done_line[send.file] > send.line)


class TimelineUpdates:
    """The timeline rows (TIMELINE_UPDATE_COLUMNS) of the updates with a client-side event, in
    (file, line) order of that event: the settled ones' kept in the state (when `settled`), the
    others in the store's temporary schema."""

    def __init__(self, store):
        self.store = store
        self.settled = False
        self.settled_count = 0
        self.count = 0
        self._rows = []
        store.db.execute("CREATE TEMP TABLE IF NOT EXISTS timeline_updates (file INTEGER, line INTEGER, data BLOB)")
        store.db.execute("DELETE FROM temp.timeline_updates")

    def add(self, row):
        self._rows.append(row)
        if len(self._rows) >= FLUSH_ROWS:
            self._flush()

    def _flush(self):
        self.store.db.executemany("INSERT INTO temp.timeline_updates VALUES (?, ?, ?)",
                                  ((row[0], row[1], marshal.dumps(row)) for row in self._rows))
        self.count += len(self._rows)
        self._rows = []

    def close(self):
        """Adds the settled rows (now that the report's file positions are known) to the count."""
        self._flush()
        if self.settled:
            self.count += self.settled_count

    def __len__(self):
        return self.count

    def __iter__(self):
        return self.head()

    def head(self, limit=-1):
        """The first `limit` rows (all by default) in order."""
        fresh = ((row[0], row[1], row) for row in map(marshal.loads, (data for (data,) in self.store.db.execute(
            "SELECT data FROM temp.timeline_updates ORDER BY file, line LIMIT ?", (limit,)))))
        if not self.settled:
            return (row for _, _, row in fresh)
        kept = ((rank, line, (rank, *row[1:])) for rank, line, row in self.store.settled_rows(JOIN, limit))
        rows = (row for _, _, row in heapq.merge(kept, fresh, key=lambda item: item[:2]))
        return rows if limit < 0 else itertools.islice(rows, limit)


def _update(trace, events, files, last_done_line):
    send, recv, start, rpc_done, done = events
    client = send or done
    server = recv or start or rpc_done
    op = next((e.op for e in (start, rpc_done, recv, send) if e is not None and e.op), "unknown")
    wall_ms = rpc_ms = queue_ms = None
    if done is not None:
        wall_ms, rpc_ms, queue_ms = done.wall_ms, done.rpc_ms, done.queue_ms
    if rpc_ms is None and rpc_done is not None:
        if rpc_done.rpc_ms is not None:
            rpc_ms = rpc_done.rpc_ms
        elif start is not None and start.t is not None and rpc_done.t is not None:
            rpc_ms = (rpc_done.t - start.t) * 1000.0
    # wall_ms = queue_ms + rpc_ms (docs/instrumenting.md); any two give the third.
    if queue_ms is None and wall_ms is not None and rpc_ms is not None:
        queue_ms = wall_ms - rpc_ms
    elif rpc_ms is None and wall_ms is not None and queue_ms is not None:
        rpc_ms = wall_ms - queue_ms
    elif wall_ms is None and queue_ms is not None and rpc_ms is not None:
        wall_ms = queue_ms + rpc_ms
    return Update(
        trace=trace,
        op=op,
        events=events,
        client_host=files[client.file]["host"] if client else None,
        server_host=files[server.file]["host"] if server else None,
        wall_ms=wall_ms,
        rpc_ms=rpc_ms,
        queue_ms=queue_ms,
        complete=done is not None,
        incomplete=send is not None and done is None,
        later_done_in_file=send is not None and last_done_line[send.file] > send.line,
        server_queue_ms=_server_queue_ms(recv, start),
    )


def _first_position(update):
    event = next(e for e in update.events if e is not None)
    return (event.file, event.line)


def _server_queue_ms(recv, start):
    """recv -> rpc.start, always on the server's one clock."""
    if recv is not None and start is not None and recv.t is not None and start.t is not None:
        return (start.t - recv.t) * 1000.0
    return None
