"""Run-level generation throughput: work done per second of wall time over a run's steady state.

A step of prime-rl's orchestrator collects one generation batch (`[gen] batch.start` ... `batch.done`).
Per orchestrator (the batches of one host's files, in log order, which is time order) the first
`warmup_steps` batches are the warm-up; the steady state runs from the end of the last warm-up batch
(the first batch's start when there is no warm-up) to the end of the last batch. Its throughput is
the completions (and tokens, when every batch.done carries `tokens=`) of the batches after the
warm-up over that span, and its step time the span over those batches. Rates of single batches are
never averaged: a batch whose rollouts were generated while the orchestrator waited ends in a few
milliseconds and says nothing about throughput (docs/analysis.md).

Times are the batch.done lines' `t=` (a host's monotonic clock) when every batch has one, else the
lines' own timestamps (`HH:MM:SS` wraps at midnight; one-second resolution).
"""

import datetime
import math

# A bare HH:MM:SS timestamp that goes back by more than this went past midnight.
HALF_DAY_S = 12 * 3600
# Distinct batch sizes kept per run: enough to show that they vary.
MAX_BATCH_SIZES = 8


class Throughput:
    """The section, folded batch by batch in (file, line) order; a fold can be saved (dump()) and
    continued (load()) with the batches logged since. One source per host (each host's orchestrator
    has its own clock and warm-up); the run's rates are the sum of its sources' rates, its step time
    the one source's (None with several)."""

    def __init__(self, warmup_steps):
        self.warmup_steps = warmup_steps
        self.sources = {}  # host -> _Source, in the order of their first batch

    def add(self, row, file, host):
        """A batch row (records.BATCH_FIELDS order) of `file` (an id section() is given a path for)."""
        source = self.sources.get(host)
        if source is None:
            source = self.sources[host] = _Source(host, file, self.warmup_steps)
        source.add(row, file)

    def dump(self):
        return [source.dump() for source in self.sources.values()]

    @classmethod
    def load(cls, warmup_steps, data):
        fold = cls(warmup_steps)
        for item in data:
            source = _Source.load(item)
            fold.sources[source.host] = source
        return fold

    def section(self, path_of):
        """The report's `throughput` section; `path_of(file)`: the path of a file add() was given."""
        measured = [source.result(path_of) for source in self.sources.values()]
        section = {"warmup_steps": self.warmup_steps, "sources": measured}
        section.update(_combined(measured))
        return section


FIGURES = ("steps", "span_s", "completions", "completions_per_s", "tokens", "tokens_per_s", "step_time_s")


def _combined(sources):
    empty = dict.fromkeys(FIGURES)
    if not sources:
        return dict(empty, steps=0, batch_sizes=[], clock=None, reason="no [gen] batch.done line")
    unmeasured = next((source for source in sources if source["reason"]), None)
    sizes = sorted({size for source in sources for size in source["batch_sizes"]})[:MAX_BATCH_SIZES]
    if unmeasured is not None:
        where = f" ({unmeasured['file']})" if len(sources) > 1 else ""
        return dict(empty, steps=sum(s["steps"] for s in sources), batch_sizes=sizes, clock=None,
                    reason=unmeasured["reason"] + where)
    if len(sources) == 1:
        return {key: value for key, value in sources[0].items() if key not in ("host", "file")}
    tokens = None if any(s["tokens"] is None for s in sources) else sum(s["tokens"] for s in sources)
    return {
        "steps": sum(s["steps"] for s in sources),
        "span_s": max(s["span_s"] for s in sources),
        "completions": sum(s["completions"] for s in sources),
        "completions_per_s": math.fsum(s["completions_per_s"] for s in sources),
        "tokens": tokens,
        "tokens_per_s": None if tokens is None else math.fsum(s["tokens_per_s"] for s in sources),
        "step_time_s": None,  # orchestrators step independently: see each source
        "batch_sizes": sizes,
        "clock": "+".join(sorted({s["clock"] for s in sources})),
        "reason": None,
    }


class _Clock:
    """One way of timing a source's batches (`t=` or line timestamps): the steady state's bounds."""

    def __init__(self, warmup_steps):
        self.warmup_steps = warmup_steps
        self.usable = True
        self.start = self.last = None
        self.backwards = None  # (file, line) where time went back

    def add(self, index, done, dur_ms, where):
        if not self.usable:
            return
        if done is None:
            self.usable = False
            return
        if self.last is not None and done < self.last and self.backwards is None:
            self.backwards = where
        if self.warmup_steps == 0 and index == 0:
            self.start = done - dur_ms / 1000.0
        elif index == self.warmup_steps - 1:
            self.start = done
        self.last = done if self.last is None else max(self.last, done)


class _Source:
    """The batches of one host's orchestrator log(s), folded as they stream by."""

    def __init__(self, host, file, warmup_steps):
        self.host, self.file, self.warmup_steps = host, file, warmup_steps
        self.count = 0
        self.completions = 0.0
        self.tokens = 0.0
        self.missing_completions = self.missing_tokens = None  # first (file, line) without the field
        self.sizes = set()
        self.monotonic = _Clock(warmup_steps)
        self.stamped = _Clock(warmup_steps)
        self._day_s = 0.0
        self._last_stamp = None

    def dump(self):
        data = dict(vars(self), sizes=sorted(self.sizes))
        data["monotonic"], data["stamped"] = vars(self.monotonic), vars(self.stamped)
        return data

    @classmethod
    def load(cls, data):
        source = cls.__new__(cls)
        vars(source).update(data, sizes=set(data["sizes"]))
        for name in ("monotonic", "stamped"):
            clock = _Clock.__new__(_Clock)
            vars(clock).update(data[name])
            setattr(source, name, clock)
        return source

    def add(self, row, file):
        _, line, _, ts, t, dur_ms, completions, tokens, _, _, target_batch, _ = row
        where = (file, line)
        index = self.count
        self.count += 1
        self.monotonic.add(index, t, dur_ms, where)
        self.stamped.add(index, self._stamp_seconds(ts), dur_ms, where)
        size = target_batch if target_batch is not None else completions
        if size is not None and len(self.sizes) < MAX_BATCH_SIZES:
            self.sizes.add(int(size) if float(size).is_integer() else size)
        if index < self.warmup_steps:
            return
        if completions is None:
            self.missing_completions = self.missing_completions or where
        else:
            self.completions += completions
        if tokens is None:
            self.missing_tokens = self.missing_tokens or where
        else:
            self.tokens += tokens

    def _stamp_seconds(self, ts):
        """A line timestamp in seconds on one axis for this source (midnight wraps of HH:MM:SS added)."""
        if ts is None:
            return None
        date, _, clock = ts.replace("T", " ").rpartition(" ")
        hours, minutes, seconds = clock.split(":")
        value = int(hours) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))
        if date:
            try:
                return datetime.date(*map(int, date.split("-"))).toordinal() * 86400.0 + value
            except ValueError:  # not a calendar date: these batches cannot be timed by their stamps
                return None
        if self._last_stamp is not None and value + self._day_s < self._last_stamp - HALF_DAY_S:
            self._day_s += 86400.0
        self._last_stamp = value + self._day_s
        return self._last_stamp

    def result(self, path_of):
        steps = max(self.count - self.warmup_steps, 0)

        def at(where):
            return f"{path_of(where[0])}:{where[1]}"

        figures = {"host": self.host, "file": path_of(self.file), "steps": steps, **dict.fromkeys(FIGURES[1:]),
                   "batch_sizes": sorted(self.sizes), "clock": None}
        clock, name = (self.monotonic, "t=") if self.monotonic.usable else (self.stamped, "line timestamps")
        reason = None
        if steps == 0:
            reason = f"{self.count} batch(es), all warm-up (warmup_steps {self.warmup_steps})"
        elif not clock.usable:
            reason = "batch.done lines carry neither t= nor a line timestamp"
        elif clock.backwards is not None:
            reason = f"batch times go back at {at(clock.backwards)} (two orchestrators in one host's logs?)"
        elif self.missing_completions is not None:
            reason = f"batch.done without completions= at {at(self.missing_completions)}"
        elif clock.last - clock.start <= 0:
            reason = f"the steady state has no measurable length ({name} of its batches are equal)"
        if reason is not None:
            return dict(figures, reason=reason)
        span = clock.last - clock.start
        tokens = None if self.missing_tokens is not None else self.tokens
        return dict(figures, span_s=span, completions=self.completions, completions_per_s=self.completions / span,
                    tokens=tokens, tokens_per_s=None if tokens is None else tokens / span, step_time_s=span / steps,
                    clock=name, reason=None)

