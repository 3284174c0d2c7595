"""Correlating prime-rl events into per-update, per-batch and per-sample records.

Events arrive file by file in line order (RecordBuilder.begin_file, then add). Weight events are
joined by trace id across files and hosts; generation batches are matched to the weight updates in
flight while they ran, by line order within the file that logged both (a process's own log is in
time order, so this needs no clock).

Weight events, batches and the timeline's update rows are kept in a RunStore (on disk), metric
samples in Samples (samples.py: arrays of doubles that spill to disk past a bound); each joined
update goes to an UpdateDigest (digest.py) as it is built.
Memory holds only what is in flight within a file and one trace's events at a time.
"""

from collections import Counter, defaultdict, deque, namedtuple
from itertools import groupby

from .digest import UpdateDigest
from .samples import SPILL_EVERY, Samples, spill
from .store import FLUSH_ROWS, RunStore

UPDATE_PHASES = ("client.send", "server.recv", "rpc.start", "rpc.done", "client.done")
PHASE_INDEX = {phase: index for index, phase in enumerate(UPDATE_PHASES)}
SERVER_PHASES = ("server.recv", "rpc.start", "rpc.done")
UNTRACED = "-"


def _field(record, name):
    return getattr(record, name)


class Phases(tuple):
    """An update's five events (a Mark or None each), indexed by phase name: a tuple, not a dict."""

    __slots__ = ()

    def __getitem__(self, phase):
        return tuple.__getitem__(self, PHASE_INDEX[phase])


# Marks and updates are named tuples (built in C: the join makes one per weight event) that are
# also read by field name with [], as the dicts of the other stages are (`update["wall_ms"]`).
MARK_FIELDS = ("file", "line", "t", "op", "ts", "rpc_ms", "wall_ms", "queue_ms")


class Mark(namedtuple("Mark", MARK_FIELDS)):
    """One weight event of an update: where it was logged and what it carried."""

    __slots__ = ()
    __getitem__ = _field


class Update(namedtuple("Update", ("trace", "op", "events", "client_host", "server_host", "wall_ms", "rpc_ms", "queue_ms",
                                   "complete", "incomplete", "later_done_in_file", "server_queue_ms"))):
    """One weight update as joined."""

    __slots__ = ()
    __getitem__ = _field


# A generation batch as stored (a tuple in this order) and read back (a dict with these keys).
BATCH_FIELDS = ("file", "line", "start_line", "ts", "t", "dur_ms", "completions", "tokens", "inflight_start",
                "inflight_done", "target_batch", "updates")


# What the timeline shows of an update, at its client-side line (client.send, else client.done).
TIMELINE_UPDATE_COLUMNS = ("file", "line", "ts", "t", "trace", "op", "wall_ms", "queue_ms", "rpc_ms", "complete")


class Stored:
    """Records kept in the run's store: a sized, re-iterable sequence read from disk on each pass."""

    def __init__(self, store, count):
        self.store = store
        self.count = count

    def __len__(self):
        return self.count


class TimelineUpdates(Stored):
    """The timeline rows (TIMELINE_UPDATE_COLUMNS) of the updates with a client-side event, from the
    store, in (file, line) order of that event."""

    def __iter__(self):
        return self.store.timeline_updates()


class Batches(Stored):
    """The run's generation batches from the store, in the order they ended, as dicts of BATCH_FIELDS."""

    def __iter__(self):
        return (dict(zip(BATCH_FIELDS, values)) for values in self.store.batches())

    def rows(self):
        """The batches as stored: tuples in BATCH_FIELDS order."""
        return self.store.batches()


class RecordBuilder:
    """Streams events in; finish() returns the run's records (plain dicts, Samples and store views)."""

    def __init__(self, files, warmup=None):
        """`files`: per file index, `{"path", "host", "async_level"}`; `warmup`: a warmup.Warmup told
        about every client-side line, or None."""
        self.files = files
        self.warmup = warmup
        self.file = None
        self.store = RunStore()
        self.batch_count = 0
        self.samples = defaultdict(Samples)  # metric name -> samples
        self.staleness_excess = Samples()
        self.untraced = {"count": 0, "per_second": defaultdict(Counter)}  # host -> second -> count
        self.last_done_line = {}  # file -> line of its last client.done
        self.server_events = 0
        self._active = {}
        self._open_batches = deque()
        self._until_spill = SPILL_EVERY

    def begin_file(self, index):
        self.file = index
        self._active = {}  # traces sent and not done, in send order
        self._open_batches = deque()

    def add(self, event):
        if event["family"] != "prime-rl":
            return
        self._until_spill -= 1
        if not self._until_spill:
            self._until_spill = SPILL_EVERY
            spill(self.samples.values(), (self.staleness_excess,))
        event["file"] = self.file
        kind = event["event"]
        if kind in UPDATE_PHASES:
            self._weights_event(event, kind)
        elif kind == "batch.start":
            self._open_batches.append({"start": event, "updates": dict.fromkeys(self._active)})
        elif kind == "batch.done":
            self._batch_done(event)
        elif kind == "write.done":
            self.samples["write_ms"].append(event["write_ms"])
        elif kind == "wait.done":
            self.samples["wait_ms"].append(event["wait_ms"])
        elif kind == "rollout":
            self._rollout(event)

    def _weights_event(self, event, kind):
        trace = event["trace"]
        if trace == UNTRACED:
            if kind == "server.recv":
                self.untraced["count"] += 1
                if event["t"] is not None:
                    self.untraced["per_second"][self.files[self.file]["host"]][int(event["t"])] += 1
            return
        if kind in SERVER_PHASES:
            self.server_events += 1
        self.store.add_mark(trace, PHASE_INDEX[kind], tuple(map(event.get, MARK_FIELDS)))
        if self.warmup is not None and kind in ("client.send", "client.done"):
            self.warmup.saw(self.file, trace)
        if kind == "client.send":
            self._active[trace] = True
            for batch in self._open_batches:
                batch["updates"][trace] = True
        elif kind == "client.done":
            self._active.pop(trace, None)
            self.last_done_line[self.file] = event["line"]

    def _batch_done(self, event):
        opened = self._open_batches.popleft() if self._open_batches else {"start": None, "updates": dict.fromkeys(self._active)}
        start = opened["start"] or {}
        dur_ms = event["dur_ms"]
        inflight_start, inflight_done = start.get("inflight"), event["inflight"]
        updates = list(opened["updates"])
        self.store.add_batch((self.file, event["line"], start.get("line"), event["ts"], event["t"], dur_ms,
                              event["completions"], event["tokens"], inflight_start, inflight_done, start.get("target_batch"),
                              updates))  # BATCH_FIELDS
        self.batch_count += 1
        samples = self.samples
        samples["gen_dur_ms"].append(dur_ms)
        samples["gen_dur_ms.during_updates" if updates else "gen_dur_ms.between_updates"].append(dur_ms)
        if inflight_start is not None:
            samples["inflight"].append(inflight_start)
        if inflight_done is not None:
            samples["inflight"].append(inflight_done)

    def _rollout(self, event):
        for key in ("trunc_pct", "staleness"):
            if event[key] is not None:
                self.samples[key].append(event[key])
        async_level = self.files[self.file]["async_level"]
        if event["staleness"] is not None and async_level is not None:
            self.staleness_excess.append(event["staleness"] - async_level)

    def finish(self):
        digest, duplicates = self._updates()
        return {
            "updates": digest,
            "timeline_updates": TimelineUpdates(self.store, digest.counts["client_side"]),
            "duplicate_trace_ids": duplicates,
            "batches": Batches(self.store, self.batch_count),
            "samples": dict(self.samples),
            "staleness_excess": self.staleness_excess,
            "untraced": {"count": self.untraced["count"], "per_second": dict(self.untraced["per_second"])},
            "server_events": self.server_events,
        }

    def _updates(self):
        """Joins the stored weight events by trace into updates, each handed to the digest and, with a
        client-side event, stored as a timeline row; (UpdateDigest, duplicate trace ids)."""
        digest = UpdateDigest(self.warmup)
        duplicates = 0
        rows = []
        for trace, marks in groupby(self.store.marks_by_trace(), key=lambda row: row[0]):
            phases = ([], [], [], [], [])
            for _, phase, values in marks:
                phases[phase].append(values)
            occurrences = max(len(events) for events in phases)
            duplicates += occurrences > 1
            for index in range(occurrences):
                logged = tuple(values[index] if index < len(values) else None for values in phases)
                update = self._update(trace, Phases(None if values is None else Mark._make(values) for values in logged))
                client = update.events["client.send"] or update.events["client.done"]
                if client is not None:
                    rows.append((client.file, client.line, client.ts, client.t, trace, update.op, update.wall_ms,
                                 update.queue_ms, update.rpc_ms, update.complete))
                digest.add(update, _first_position(update))
            if len(rows) >= FLUSH_ROWS:
                self.store.add_timeline_updates(rows)
                rows = []
        self.store.add_timeline_updates(rows)
        return digest, duplicates

    def _update(self, trace, events):
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
            client_host=self.files[client.file]["host"] if client else None,
            server_host=self.files[server.file]["host"] if server else None,
            wall_ms=wall_ms,
            rpc_ms=rpc_ms,
            queue_ms=queue_ms,
            complete=done is not None,
            incomplete=send is not None and done is None,
            later_done_in_file=send is not None and self.last_done_line.get(send.file, 0) > send.line,
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
