"""Warm-up weight updates: reported, never judged (docs/analysis.md, "Honest tails").

The first update of a run loads weights cold (prime-rl resets the server with `reload_weights` at
start-up), so it says nothing about the steady state the findings judge. The warm-up updates of an
orchestrator log are its first `warmup_updates` (a thresholds-file setting, default 1: the start-up
reload of a prime-rl run), in the order it logged them. Their figures stay in the report's metrics
and are listed in report.json's `warmup`; the findings judge the others.

The records builder tells a Warmup which trace each client-side line belongs to, file by file in
line order (a few traces per file are kept); the digest offers it every joined update.
"""

from array import array
from collections import Counter

# The update metrics whose samples the findings judge without the warm-up updates.
JUDGED_WITHOUT_WARMUP = ("queue_ms", "wall_ms", "rpc_ms", "server_queue_ms")


class Warmup:
    def __init__(self, count):
        self.count = count
        self.first = {}  # client file index -> traces of its first client-side updates, in line order
        self.claimed = []  # (first position, update) of the warm-up updates
        self._claimed_traces = set()

    def saw(self, file, trace):
        """A client-side line (client.send / client.done) of `trace` in `file`, in line order."""
        traces = self.first.setdefault(file, [])
        if len(traces) < self.count and trace not in traces:
            traces.append(trace)

    def offer(self, update, first_position):
        """Keeps a joined update (records.Update) if it is a warm-up update; True if so."""
        client = update.events.client_send or update.events.client_done
        if client is None or update.trace in self._claimed_traces:
            return False  # a duplicate trace id's later occurrence is not a warm-up
        if update.trace not in self.first.get(client.file, ()):
            return False
        self._claimed_traces.add(update.trace)
        self.claimed.append((first_position, update))
        return True

    def updates(self):
        """The warm-up updates in the order of their first event."""
        return [update for _, update in sorted(self.claimed, key=lambda item: item[0])]

    def judged(self, values):
        """Metric name -> samples with the warm-up updates' values taken out of the update metrics
        (one occurrence per update); other metrics as they are."""
        removed = {name: Counter() for name in JUDGED_WITHOUT_WARMUP}
        for _, update in self.claimed:
            for name in JUDGED_WITHOUT_WARMUP:
                value = getattr(update, name)
                if value is not None:
                    removed[name][value] += 1
            if update.rpc_ms is not None:
                removed.setdefault(f"rpc_ms.{update.op}", Counter())[update.rpc_ms] += 1
        judged = dict(values)
        for name, counts in removed.items():
            if counts and name in judged:
                judged[name] = _without(judged[name], counts)
        return judged


def _without(samples, counts):
    """The samples less the first occurrences of the counted values (a few: one per warm-up update),
    removed in C: the samples are 10^5 per GB of log."""
    kept = array("d", iter(samples))
    for value, count in counts.items():
        for _ in range(count):
            kept.remove(value)
    return kept
