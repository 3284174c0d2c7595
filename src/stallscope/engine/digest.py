"""Everything the report needs from all weight updates, gathered in one pass as the join builds them.

The join (records.records) hands each update to an UpdateDigest the moment it is built, so the
counts, the update metrics' samples, the slowest and the incomplete updates and the correlation's
clock bounds are gathered without reading the updates back from the store (each such pass cost
~0.35 s per GB of log, measured). Only the timeline reads the stored updates again.

The join runs in trace order; where order shows in the report (the slowest updates' ties, the
incomplete updates' listing) it is restored from each update's first (file, line). So a digest does
not depend on the order updates come in: the digest of the updates an earlier analysis settled is
kept in the state (dump(), load()) and the new updates are added to it.
"""

import heapq
from array import array

from . import correlation
from .samples import SPILL_EVERY, Samples, spill

# The weight-update operations (the endpoint a client.send names): rpc_ms is summarised per op.
WEIGHT_OPS = ("update_weights", "reload_weights")
SAMPLED = ("queue_ms", "server_queue_ms", "wall_ms", "rpc_ms")
SLOWEST = 10


class UpdateDigest:
    def __init__(self):
        self.count = 0
        self.counts = {"complete": 0, "incomplete": 0, "server_only": 0, "client_side": 0, "by_op": {}}
        self.samples = {name: Samples() for name in SAMPLED}
        self.rpc_ms_by_op = {op: Samples() for op in WEIGHT_OPS}
        self.clocks = correlation.ClockBounds()
        self._slowest = []  # min-heap of ((wall_ms, negated position), update): its root is the least slow kept
        self._incomplete = []  # (first position, update)

    def add(self, update, first_position):
        """One joined update (records.Update) and the (file, line) of its first event."""
        self.count += 1
        if not self.count % SPILL_EVERY:
            spill(self.samples.values(), self.rpc_ms_by_op.values(), self.clocks.send_to_recv.values())
        counts = self.counts
        counts["complete"] += update.complete
        counts["incomplete"] += update.incomplete
        client_side = update.events.client_send is not None or update.events.client_done is not None
        counts["client_side" if client_side else "server_only"] += 1
        counts["by_op"][update.op] = counts["by_op"].get(update.op, 0) + 1
        for name in SAMPLED:
            value = getattr(update, name)
            if value is not None:
                self.samples[name].append(value)
        if update.rpc_ms is not None:
            self.rpc_ms_by_op.setdefault(update.op, Samples()).append(update.rpc_ms)
        if update.wall_ms is not None:
            # Slowest first, ties in first-event order: the largest (wall_ms, negated position).
            key = (update.wall_ms, _negated(first_position))
            if len(self._slowest) < SLOWEST:
                heapq.heappush(self._slowest, (key, update))
            elif key > self._slowest[0][0]:
                heapq.heapreplace(self._slowest, (key, update))
        if update.incomplete:
            self._incomplete.append((first_position, update))
        self.clocks.add(update)

    def dump(self, portable):
        """Plain data; `portable(update)`: an update as plain data that load() is given back."""
        return {"count": self.count, "counts": self.counts,
                "samples": {name: _bytes(values) for name, values in self.samples.items()},
                "rpc_ms_by_op": {op: _bytes(values) for op, values in self.rpc_ms_by_op.items()},
                "pairs": [(key, bounds) for key, bounds in self.clocks.pairs.items()],
                "send_to_recv": [(key, _bytes(values)) for key, values in self.clocks.send_to_recv.items()],
                "slowest": [portable(update) for _, update in self._slowest],
                "incomplete": [portable(update) for _, update in self._incomplete]}

    @classmethod
    def load(cls, data, restore, first_position):
        """The digest dump() saved; `restore(data)`: an update from portable(); `first_position(update)`:
        its first event's (file, line) as the report places it now."""
        digest = cls()
        digest.count, digest.counts = data["count"], data["counts"]
        digest.samples = {name: _samples(values) for name, values in data["samples"].items()}
        digest.rpc_ms_by_op = {op: _samples(values) for op, values in data["rpc_ms_by_op"].items()}
        digest.clocks.pairs = {tuple(key): list(bounds) for key, bounds in data["pairs"]}
        digest.clocks.send_to_recv = {tuple(key): _samples(values) for key, values in data["send_to_recv"]}
        for field, entries in (("_slowest", data["slowest"]), ("_incomplete", data["incomplete"])):
            updates = [restore(entry) for entry in entries]
            setattr(digest, field, [(first_position(update), update) for update in updates])
        digest._slowest = [((update.wall_ms, _negated(position)), update) for position, update in digest._slowest]
        heapq.heapify(digest._slowest)
        return digest

    def slowest(self):
        """The SLOWEST updates with a wall_ms, slowest first (ties: first logged first)."""
        return [update for _, update in sorted(self._slowest, key=lambda item: item[0], reverse=True)]

    def incomplete(self):
        """The incomplete updates in the order of their first event."""
        return [update for _, update in sorted(self._incomplete, key=lambda item: item[0])]


def _bytes(samples):
    return array("d", iter(samples)).tobytes()  # iter(): the spilled runs too


def _samples(data):
    values = Samples(array("d", data))
    values.spill()
    return values


def _negated(position):
    file, line = position
    return (-file, -line)
