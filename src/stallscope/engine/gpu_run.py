"""GPU samples of a run (families/gpu.py): statistics per GPU, how much of the run the GPUs idled,
and what they did while the orchestrator waited (docs/analysis.md, "GPUs").

A sample is idle when its utilisation is below the `gpu_idle_util_pct` setting. The orchestrator's
waits are its checkpoint waits (`[ckpt] wait.start` -> `wait.done`) and its weight updates
(`client.send` -> `client.done`), placed in time by the lines' own timestamps: nvidia-smi stamps
samples with the host's wall clock, the orchestrator's log prefix does the same. When either side has
no date (a bare `HH:MM:SS` prefix), times are compared within the day.
"""

import bisect
import re
from datetime import date

from .samples import Samples
from .stats import summarize

TIMESTAMP = re.compile(r"(?:(\d{4})-(\d{2})-(\d{2})[T ])?(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?")
DAY_S = 86400.0


def moment(ts):
    """(seconds since 0001-01-01 or None without a date, seconds within the day) of a line
    timestamp, or None when it cannot be read."""
    match = TIMESTAMP.search(ts or "")
    if match is None:
        return None
    year, month, day, hours, minutes, seconds, fraction = match.groups()
    of_day = int(hours) * 3600 + int(minutes) * 60 + int(seconds) + (float(f"0.{fraction}") if fraction else 0.0)
    if year is None:
        return None, of_day
    try:
        return date(int(year), int(month), int(day)).toordinal() * DAY_S + of_day, of_day
    except ValueError:
        return None, of_day


# The kinds of the prime-rl family's `waits` rows (records.py).
CHECKPOINT_WAIT, WEIGHT_UPDATE = 0, 1


class Intervals:
    """Time intervals (the orchestrator's waits), each from two line timestamps."""

    def __init__(self):
        self.spans = []  # (start moment, end moment)

    def covering(self):
        """A function (absolute, of_day) -> whether a sample at that moment lies in an interval:
        the intervals merged and sorted once, each sample placed by bisection."""
        absolute_spans = _merged([(start[0], end[0]) for start, end in self.spans
                                  if start[0] is not None and end[0] is not None])
        day_spans = []
        for (_, start), (_, end) in self.spans:
            if end >= start:
                day_spans.append((start, end))
            else:  # past midnight
                day_spans += [(start, DAY_S), (0.0, end)]
        day_spans = _merged(day_spans)
        starts_absolute = [start for start, _ in absolute_spans]
        starts_day = [start for start, _ in day_spans]

        def inside(absolute, of_day):
            if absolute is not None and absolute_spans:
                spans, starts, at = absolute_spans, starts_absolute, absolute
            else:
                spans, starts, at = day_spans, starts_day, of_day
            index = bisect.bisect_right(starts, at) - 1
            return index >= 0 and at <= spans[index][1]
        return inside


def _merged(spans):
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


GPU_METRICS = ("util_pct", "memory_used_mib", "power_w")


class GpuPartial:
    """One sampler file's GPU samples so far: per GPU its samples (in the sink, as
    `gpu_<metric>.<index>`), latest sample and memory total; each sample's moment as a row."""

    def __init__(self, store, sink, file, data=None):
        self.store, self.samples, self.file = store, sink, file
        self.gpus = (data or {}).get("gpus", {})  # index -> {"latest": sample, "memory_total_mib": MiB or None}

    def dump(self):
        return {"gpus": self.gpus}

    def add(self, sample):
        index = sample["gpu"]
        gpu = self.gpus.setdefault(index, {"latest": None, "memory_total_mib": None})
        for name in GPU_METRICS:
            if sample[name] is not None:
                self.samples[f"gpu_{name}.{index}"].append(sample[name])
        if sample["memory_total_mib"] is not None:
            gpu["memory_total_mib"] = sample["memory_total_mib"]
        gpu["latest"] = {key: sample[key] for key in ("ts", "util_pct", "memory_used_mib", "power_w")}
        at = moment(sample["ts"])
        if at is not None:
            self.store.add("gpu_moments", None, 0, self.file, sample["line"], (at[0], at[1], sample["util_pct"]))


class GpuRecords:
    """The run's GPU samples, from every sampler file's GpuPartial, and the orchestrator's waits
    (the prime-rl family's `waits` rows)."""

    def __init__(self, store, files, partials):
        self.gpus = {}  # (host, gpu) -> {"util_pct": Samples, ..., "latest": sample, "memory_total_mib": MiB}
        for rank, partial in enumerate(partials):
            for index, figures in (partial or {}).get("gpus", {}).items():
                gpu = self.gpus.setdefault((files[rank]["host"], index), {name: Samples() for name in GPU_METRICS})
                gpu["latest"] = figures["latest"]
                if figures["memory_total_mib"] is not None:
                    gpu["memory_total_mib"] = figures["memory_total_mib"]
        for host, index in list(self.gpus):
            for name in GPU_METRICS:
                for rank, block in store.samples(f"gpu_{name}.{index}"):
                    if files[rank]["host"] == host:
                        self.gpus[(host, index)][name].extend(block)
        self.moments = [values for _, _, _, _, values in store.by_position("gpu_moments")]
        self.checkpoint_waits, self.weight_updates = Intervals(), Intervals()
        for _, kind, _, _, (start, end) in store.by_position("waits") if self.gpus else ():
            (self.checkpoint_waits if kind == CHECKPOINT_WAIT else self.weight_updates).spans.append((moment(start), moment(end)))

    def samples(self):
        """The metrics' samples over every GPU: gpu_util_pct, gpu_memory_used_mib, gpu_power_w."""
        merged = {"gpu_util_pct": Samples(), "gpu_memory_used_mib": Samples(), "gpu_power_w": Samples()}
        for gpu in self.gpus.values():
            for name in ("util_pct", "memory_used_mib", "power_w"):
                merged[f"gpu_{name}"].extend(gpu[name])
        return merged

    def summary(self, idle_util_pct):
        """report.json's `gpu`, or None without samples."""
        if not self.gpus:
            return None
        rows = []
        idle = total = 0
        for (host, index), gpu in sorted(self.gpus.items(), key=lambda item: (str(item[0][0]), item[0][1])):
            util, memory, power = (summarize(gpu[name]) for name in ("util_pct", "memory_used_mib", "power_w"))
            gpu_idle = sum(1 for value in gpu["util_pct"] if value < idle_util_pct)
            idle += gpu_idle
            total += util["count"]
            latest = gpu["latest"]
            rows.append({
                "host": host, "gpu": index, "samples": util["count"], "util_mean": util["mean"], "util_p50": util["p50"],
                "idle_share": gpu_idle / util["count"] if util["count"] else None,
                "memory_used_max_mib": memory["max"], "memory_total_mib": gpu.get("memory_total_mib"),
                "power_mean_w": power["mean"], "power_max_w": power["max"],
                "latest": {key: latest[key] for key in ("ts", "util_pct", "memory_used_mib", "power_w")},
            })
        return {
            "gpus": rows,
            "samples": total,
            "idle_util_pct": idle_util_pct,
            "idle_share": idle / total if total else None,
            "during_checkpoint_waits": self._during(self.checkpoint_waits, idle_util_pct),
            "during_weight_updates": self._during(self.weight_updates, idle_util_pct),
        }

    def _during(self, intervals, idle_util_pct):
        """Utilisation of the samples taken inside the intervals, or None when none could be placed."""
        if not intervals.spans or not self.moments:
            return None
        covered = intervals.covering()
        inside = [util for absolute, of_day, util in self.moments if covered(absolute, of_day)]
        if not inside:
            return {"intervals": len(intervals.spans), "samples": 0, "util_mean": None, "idle_share": None}
        return {"intervals": len(intervals.spans), "samples": len(inside), "util_mean": sum(inside) / len(inside),
                "idle_share": sum(1 for util in inside if util < idle_util_pct) / len(inside)}


def idle_sentence(during, what):
    """A sentence for a finding's summary from a `during_*` section, or '' when it says nothing."""
    if not during or not during["samples"]:
        return ""
    return (f" The GPUs were idle in {during['idle_share']:.0%} of the {during['samples']} samples taken while {what} "
            f"(mean utilisation {during['util_mean']:.0f}%).")

