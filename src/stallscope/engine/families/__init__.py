"""The registry of log families. A new family is one module here, appended to FAMILIES.

A family module has NAME, TAGS (byte strings whose presence makes a line a candidate), LOOKED_FOR
(what the no-recognised-lines message names), EVENT (a compiled str pattern matching a line's first
event and running to the end of that line: `.` stops at a newline, so the scanner runs it once over
many lines), event(match) -> event dict | None and parse(text) -> event dict | None for one line,
both raising base.MalformedLine for an event's shape with unreadable fields. Optional: PRESENT,
substrings one of which a chunk of text holds whenever it holds an event (default: TAGS); the
scanner runs the family's pattern only over chunks that have one.

SAMPLERS are families of whole files whose lines have no tag (a tool's own output, recognised by its
header line): NAME, LOOKED_FOR, sniff(path) -> bool and scan(path, on_event) -> counts.
"""

from . import dask, gpu, prime_rl
from .base import MalformedLine

FAMILIES = [prime_rl, dask]
SAMPLERS = [gpu]

__all__ = ["FAMILIES", "SAMPLERS", "MalformedLine"]
