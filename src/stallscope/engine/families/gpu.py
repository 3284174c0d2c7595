"""The GPU sampler family: nvidia-smi's own output, written by a sampler next to the run's logs
(docs/instrumenting.md, "GPU samples"; docs/analysis.md, "GPUs").

Two shapes, each recognised by its header line (within the file's first 4 KiB), so a sampler log is
read as a whole file rather than scanned for tags:

- `nvidia-smi --query-gpu=timestamp,index,utilization.gpu,memory.used,memory.total,power.draw
  --format=csv[,nounits] -l N`: a header `timestamp, index, utilization.gpu [%], ...` then one row
  per GPU per sample, `, `-separated, values with units (`87 %`, `34567 MiB`, `312.45 W`) or without
  (`nounits`). Any subset and order of these fields is read as long as `index` and
  `utilization.gpu` are there; `[N/A]` / `[Not Supported]` values are missing, not zero. A header
  seen again (a restarted sampler appending) starts a new table.
- `nvidia-smi dmon` (any `-s`, `-o D`/`-o T`): a `# gpu ...` header and a `# Idx ...` units line, then
  whitespace-separated rows; `sm` is the utilisation, `pwr` the power, `fb` the memory used (MB).

Each sample is an event `{gpu, ts, util_pct, memory_used_mib, memory_total_mib, power_w}` (`ts`: the
sample's wall-clock time as `YYYY-MM-DD HH:MM:SS[.fff]`, or `HH:MM:SS` for dmon without a date; None
when the shape has no time).
"""

import re

from .. import gpu_run
from ..findings import gpu_underutilised
from ..inputs import read_chunks

NAME = "gpu"
LOOKED_FOR = "nvidia-smi samples (--query-gpu=... --format=csv, or dmon)"
SNIFF_BYTES = 4096
CSV_FIELDS = {"timestamp": "ts", "index": "gpu", "utilization.gpu": "util_pct", "memory.used": "memory_used_mib",
              "memory.total": "memory_total_mib", "power.draw": "power_w"}
DMON_FIELDS = {"gpu": "gpu", "sm": "util_pct", "pwr": "power_w", "fb": "memory_used_mib"}
MISSING = {"[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "-", ""}
CSV_TIMESTAMP = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$")
UNIT = re.compile(r"\s*(?:%|MiB|MB|W)$")


def header_kind(line):
    """`csv` or `dmon` when `line` is a header this family reads, else None."""
    if line.startswith("#"):
        names = line.lstrip("#").split()
        return "dmon" if "gpu" in names and "sm" in names else None
    names = [name.split(" [")[0].strip() for name in line.split(",")]
    return "csv" if "index" in names and "utilization.gpu" in names else None


def sniff(path):
    """True when a line of the file's first SNIFF_BYTES is a sampler header (a message such as
    nvidia-smi's "Failed to initialize NVML" may come first)."""
    for chunk in read_chunks(path, SNIFF_BYTES):
        return any(header_kind(line.decode("utf-8", "replace").strip()) for line in chunk.split(b"\n"))
    return False


class _Table:
    """One header's columns, reading the rows under it."""

    def __init__(self, line):
        self.kind = header_kind(line)
        if self.kind == "csv":
            self.names = [CSV_FIELDS.get(name.split(" [")[0].strip()) for name in line.split(",")]
        else:
            self.names = [DMON_FIELDS.get(name) or ({"Date": "date", "Time": "time"}.get(name))
                          for name in line.lstrip("#").split()]

    def row(self, line):
        """The sample of one row, or None when the row cannot be read."""
        values = [value.strip() for value in line.split(",")] if self.kind == "csv" else line.split()
        if len(values) != len(self.names):
            return None
        sample = {"gpu": None, "ts": None, "util_pct": None, "memory_used_mib": None, "memory_total_mib": None,
                  "power_w": None}
        date = time = None
        for name, value in zip(self.names, values):
            if name is None:
                continue
            if name == "ts":
                match = CSV_TIMESTAMP.match(value)
                if match is None:
                    return None
                sample["ts"] = f"{match[1]}-{match[2]}-{match[3]} {match[4]}"
            elif name == "date":
                date = value
            elif name == "time":
                time = value
            elif value in MISSING:
                continue
            else:
                try:
                    sample[name] = float(UNIT.sub("", value))
                except ValueError:
                    return None
        if date and time and len(date) == 8 and date.isdigit():
            sample["ts"] = f"{date[:4]}-{date[4:6]}-{date[6:]} {time}"
        elif time:
            sample["ts"] = time
        if sample["gpu"] is None or sample["util_pct"] is None:
            return None
        sample["gpu"] = int(sample["gpu"])
        return sample


def scan(path, on_event):
    """Calls on_event(sample) for each row of a sampler log; returns the file's counts as
    scan.scan_file does (`malformed`: rows that could not be read)."""
    from ..scan import MAX_LINE  # here, not at the top: scan imports the families

    counts = {"bytes": 0, "lines": 0, "recognised": 0, "malformed": 0, "overlong_lines": 0, "binary": False}
    table = None
    carry = b""
    skipping = False  # inside an over-long line, whose start was dropped
    for chunk in read_chunks(path, 1 << 20):
        counts["bytes"] += len(chunk)
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        if skipping:
            if not lines:
                carry = b""  # still inside the over-long line
                continue
            lines[0], skipping = b"", False  # the over-long line's end: counted as a line, not read
        for raw in lines:
            table = _line(raw, table, counts, on_event)
        if len(carry) > MAX_LINE:  # no sampler row comes near this: hold no more of it
            counts["overlong_lines"] += 1
            carry, skipping = b"", True
    if skipping:
        counts["lines"] += 1
    elif carry:
        _line(carry, table, counts, on_event)
    return counts


def _line(raw, table, counts, on_event):
    counts["lines"] += 1
    line = raw.decode("utf-8", "replace").strip()
    if not line:
        return table
    if header_kind(line) is not None:
        return _Table(line)
    if line.startswith("#") or table is None:
        return table  # dmon's units line, or text before any header
    sample = table.row(line)
    if sample is None:
        counts["malformed"] += 1
    else:
        counts["recognised"] += 1
        sample.update(family=NAME, line=counts["lines"])
        on_event(sample)
    return table


# The run-level side of the family interface (families/__init__.py).
Partial = gpu_run.GpuPartial
FINDINGS = [gpu_underutilised]


def run(store, files, partials, settings):
    return gpu_run.GpuRecords(store, files, partials)


def seen(records, store):
    return bool(records.gpus)


def samples(records, store, seen):
    return records.samples() if seen else {}


def report(records, metrics, run_info):
    """The report's `gpu` section."""
    return {"gpu": records.summary(run_info["thresholds"]["gpu_idle_util_pct"])}


# The report section whose keys are figures (compare.report_value's `gpu.<key>`).
SECTION = "gpu"
