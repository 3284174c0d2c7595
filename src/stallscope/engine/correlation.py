"""Splitting queue time into client-side and server-side waits across hosts.

`t=` values are per-host monotonic clocks. Server-side wait (recv -> rpc.start) is always on one
clock. Client-side wait (send -> recv) needs the client's and the server's clocks: the same host
gives it directly; different hosts need their offset, estimated from the updates themselves: the
server's rpc interval must lie inside the client's send -> done interval (done = send + wall_ms),
and recv must follow send. Every complete update bounds the offset; the bounds' intersection is the
estimate. An empty intersection means the clocks cannot be reconciled, and the client split is left out.
"""

from .samples import SPILL_EVERY, Samples

# Rounding slack of logged values (t= to the microsecond, wall_ms to 0.1 ms) when intersecting bounds.
SLACK_S = 0.002


class ClockBounds:
    """Gathers, update by update, each host pair's offset bounds and the updates that can be split."""

    def __init__(self):
        self.pairs = {}  # (client host, server host) -> [updates, highest low bound, lowest high bound]
        # (client host, server host) -> recv t - send t (s) of each update that can be split
        self.send_to_recv = {}

    def add(self, update):
        bounds = _bounds(update)
        if bounds is None:
            return
        key = (update.client_host, update.server_host)
        pair = self.pairs.setdefault(key, [0, None, None])
        pair[0] += 1
        pair[1] = bounds[0] if pair[1] is None else max(pair[1], bounds[0])
        pair[2] = bounds[1] if pair[2] is None else min(pair[2], bounds[1])
        recv = update.events.server_recv
        if recv is not None and recv.t is not None:
            self.send_to_recv.setdefault(key, Samples()).append(recv.t - update.events.client_send.t)


def correlate(clocks, measured=None):
    """(the report's `correlation`, offsets) from a ClockBounds; offsets: (client host, server host)
    -> server clock minus client clock in seconds, for the pairs whose clocks could be reconciled.

    `measured`: host -> [t= to controller time (s), uncertainty (s)], from collect's clock samples
    (collect.json): the offset of a pair the updates cannot reconcile."""
    measured = measured or {}
    results = []
    offsets = {}
    for (client_host, server_host), (count, low, high) in sorted(clocks.pairs.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))):
        entry = {"client_host": client_host, "server_host": server_host, "updates": count}
        if client_host == server_host:
            entry.update(method="same_host", offset_s=0.0, uncertainty_s=0.0)
        elif low <= high + SLACK_S:
            entry.update(method="estimated_offset", offset_s=(low + high) / 2, uncertainty_s=max(high - low, 0.0) / 2)
        elif client_host in measured and server_host in measured:
            (client_to, client_error), (server_to, server_error) = measured[client_host], measured[server_host]
            entry.update(method="measured_offset", offset_s=client_to - server_to, uncertainty_s=client_error + server_error,
                         reason=f"no single clock offset fits all {count} updates (bounds {low:.6f}s > {high:.6f}s): "
                                "the offset collect measured is used")
        else:
            entry.update(
                method="not_comparable",
                offset_s=None,
                uncertainty_s=None,
                reason=f"no single clock offset fits all {count} updates (bounds {low:.6f}s > {high:.6f}s)",
            )
        if entry["offset_s"] is not None:
            offsets[(client_host, server_host)] = entry["offset_s"]
        results.append(entry)
    if not results:
        method = "none"
        note = "no update was logged by both the client (orchestrator) and the server with t= values: no queue split"
    elif all(entry["method"] == "same_host" for entry in results):
        method = "same_host"
        note = "client and server on one clock: queue split measured directly"
    elif any(entry["method"] == "not_comparable" for entry in results):
        method = "partial" if any(entry["offset_s"] is not None for entry in results) else "not_comparable"
        note = "client and server clocks could not be reconciled for some hosts: their client-side split is left out"
    elif any(entry["method"] == "measured_offset" for entry in results):
        method = "measured_offset"
        note = "client and server on different hosts: clock offset measured at collection (collect.json) where the updates could not fix it"
    else:
        method = "estimated_offset"
        note = "client and server on different hosts: clock offset estimated from the updates (rpc inside send->done)"
    return {"method": method, "note": note, "host_pairs": results}, offsets


def client_queue_samples(clocks, offsets):
    """Client-side queue time (send -> recv, ms) of every update whose host pair has an offset."""
    values = Samples()
    for key, send_to_recv in clocks.send_to_recv.items():
        offset_s = offsets.get(key)
        if offset_s is not None:
            for seconds in send_to_recv:
                values.append(_client_queue_ms(seconds, offset_s))
                if not len(values) % SPILL_EVERY:
                    values.spill()
    return values


def client_queue_ms(update, offsets):
    """One update's client-side queue time (ms), or None when its clocks do not allow it."""
    offset_s = offsets.get((update.client_host, update.server_host))
    recv = update.events.server_recv
    if offset_s is None or _bounds(update) is None or recv is None or recv.t is None:
        return None
    return _client_queue_ms(recv.t - update.events.client_send.t, offset_s)


def _client_queue_ms(send_to_recv_s, offset_s):
    """recv - send on the two clocks, less the server clock's offset, in ms."""
    return (send_to_recv_s - offset_s) * 1000.0


def _bounds(update):
    """(low, high) bounds on server clock - client clock from one update, or None."""
    send, recv, start, rpc_done, _ = update.events
    if send is None or start is None or rpc_done is None or update.wall_ms is None:
        return None
    if send.t is None or start.t is None or rpc_done.t is None:
        return None
    done_t = send.t + update.wall_ms / 1000.0
    earliest_server = recv.t if recv is not None and recv.t is not None else start.t
    return (rpc_done.t - done_t, earliest_server - send.t)
