"""The registry of log families. A new family is one module here, appended to FAMILIES.

A family module has NAME, TAGS (byte strings whose presence makes a line a candidate), LOOKED_FOR
(what the no-recognised-lines message names), EVENT (a compiled str pattern matching a line's first
event and running to the end of that line: `.` stops at a newline, so the scanner runs it once over
many lines), event(match) -> event dict | None and parse(text) -> event dict | None for one line,
both raising base.MalformedLine for an event's shape with unreadable fields. Optional: PRESENT,
substrings one of which a chunk of text holds whenever it holds an event (default: TAGS); the
scanner runs the family's pattern only over chunks that have one.
"""

from . import dask, prime_rl
from .base import MalformedLine

FAMILIES = [prime_rl, dask]

__all__ = ["FAMILIES", "MalformedLine"]
