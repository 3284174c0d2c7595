"""The registry of log families. A new family is one module here, appended to FAMILIES.

A family module has NAME, TAGS (byte strings whose presence makes a line a candidate), LOOKED_FOR
(what the no-recognised-lines message names) and parse(text) -> event dict | None, raising
base.MalformedLine for a line with an event's shape but unreadable fields.
"""

from . import prime_rl
from .base import MalformedLine

FAMILIES = [prime_rl]

__all__ = ["FAMILIES", "MalformedLine"]
