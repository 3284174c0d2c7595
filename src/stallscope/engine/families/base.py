"""What every log family shares: the malformed-line signal, key=value fields, line timestamps."""

import re


class MalformedLine(Exception):
    """A line that has a family's event shape but fields that cannot be read (e.g. `wall_ms=abc`)."""


# No logged duration or clock reading comes near this; larger values are garbage, and keeping them
# out keeps every statistic finite.
MAX_VALUE = 1e12

# The line's own timestamp, first match in the text before the tag: ISO / loguru / python logging
# (`2025-01-02 11:22:20.123`, `2025-01-02T11:22:20,123Z`) or a bare `11:22:20`.
LINE_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?|(?<!\d)\d{2}:\d{2}:\d{2}(?:[.,]\d+)?")


def fields(text):
    """`key=value` tokens of a line's tail as a dict (later keys win); any order, extra keys kept.

    (A plain loop of str.partition: measured faster than a dict comprehension or a findall regex.)
    """
    values = {}
    for token in text.split():
        key, _, value = token.partition("=")
        values[key] = value
    return values


def number(values, key, required=False):
    """values[key] as a float; None when absent and not required. Raises MalformedLine otherwise."""
    raw = values.get(key)
    if raw is None:
        if required:
            raise MalformedLine(f"no {key}=")
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            value = float(raw.rstrip(",;"))  # `t=1.5,`: a separator glued to the value
        except ValueError:
            raise MalformedLine(f"{key}={raw!r} is not a number") from None
    if not -MAX_VALUE <= value <= MAX_VALUE:  # also rejects nan
        raise MalformedLine(f"{key}={raw!r} is out of range")
    return value


LINE_TIMESTAMP_BYTES = re.compile(LINE_TIMESTAMP.pattern.encode("ascii"), re.ASCII)


def match_timestamp(match):
    """The timestamp in the text between the start of a match's line and the match (a str match,
    or one over ASCII bytes, searched in place: the lookbehind sees the newline before the line)."""
    text, start = match.string, match.start()
    if isinstance(text, str):
        found = LINE_TIMESTAMP.search(text, text.rfind("\n", 0, start) + 1, start)
        return found.group(0) if found else None
    found = LINE_TIMESTAMP_BYTES.search(text, text.rfind(b"\n", 0, start) + 1, start)
    return found.group(0).decode("ascii") if found else None
