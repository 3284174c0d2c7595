"""distributed's performance report (`performance_report(filename=...)`): its Summary tab's figures.

The report is a Bokeh HTML page; the Summary tab's text (duration, number of tasks, time per action:
compute, transfer, disk-read/write when spilling, ...) is HTML inside the page's JSON, escaped. The
figures are read with regular expressions over the unescaped text: no HTML library needed.
"""

import html
import os
import re

from .errors import InputError

TITLE = "Dask Performance Report"
HEAD_BYTES = 1 << 16
MAX_BYTES = 256 << 20  # a report is a few MB; anything far larger is not one
DURATION = re.compile(r"Duration:\s*([^<]+?)\s*<")
TASKS = re.compile(r"number of tasks:\s*(\d+)")
ACTION = re.compile(r"<li>\s*([A-Za-z][\w-]*) time:\s*([^<]+?)\s*</li>")
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "hr": 3600.0, "d": 86400.0}
PART = re.compile(r"([0-9.]+)\s*(us|ms|hr|s|m|d)\b")


def is_report(path):
    """Whether the file's head names a Dask performance report."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    return TITLE.encode() in head


def seconds(text):
    """dask's format_time text (`1.23 s`, `12.30 ms`, `66m 40s`, `27hr 46m`) as seconds, or None."""
    parts = PART.findall(text)
    if not parts:
        return None
    return sum(float(value) * UNITS[unit] for value, unit in parts)


def read(path):
    """The report's bytes. Raises InputError when they cannot be read or are too many for a report."""
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise InputError(f"{path}: larger than {MAX_BYTES >> 20} MiB, not a performance report")
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None


def figures(data):
    """`{duration_s, tasks, time_s: {action: s}, transfer_share}` of a report's bytes.

    transfer_share = transfer / (compute + transfer): the share of task time spent moving data.
    """
    text = data.decode("utf-8", "replace")
    # The Summary's HTML sits in a JSON string, entity-escaped (and \u003c-escaped by some Bokeh versions).
    text = html.unescape(text.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\n", "\n"))
    duration = DURATION.search(text)
    tasks = TASKS.search(text)
    actions = {name: time_s for name, value in ACTION.findall(text) if (time_s := seconds(value)) is not None}
    compute, transfer = actions.get("compute"), actions.get("transfer")
    moved = (transfer or 0.0) + (compute or 0.0)
    return {
        "duration_s": seconds(duration.group(1)) if duration else None,
        "tasks": int(tasks.group(1)) if tasks else None,
        "time_s": actions,
        "transfer_share": (transfer or 0.0) / moved if moved and (compute is not None or transfer is not None) else None,
    }
