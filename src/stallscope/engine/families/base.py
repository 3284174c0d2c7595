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

    (str.split/partition: a third faster than a findall regex on the hot path.)
    """
    return {key: value for key, _, value in (token.partition("=") for token in text.split())}


def number(values, key, required=False):
    """values[key] as a float; None when absent and not required. Raises MalformedLine otherwise."""
    raw = values.get(key)
    if raw is None:
        if required:
            raise MalformedLine(f"no {key}=")
        return None
    try:
        value = float(raw.rstrip(",;"))
    except ValueError:
        raise MalformedLine(f"{key}={raw!r} is not a number") from None
    if not abs(value) <= MAX_VALUE:  # also rejects nan and inf
        raise MalformedLine(f"{key}={raw!r} is out of range")
    return value


def line_timestamp(prefix):
    """The timestamp text in a line's prefix, or None."""
    match = LINE_TIMESTAMP.search(prefix)
    return match.group(0) if match else None


def match_timestamp(match):
    """The timestamp in the text between the start of a match's line and the match (a str match,
    or one over ASCII bytes)."""
    text, start = match.string, match.start()
    if isinstance(text, str):
        return line_timestamp(text[text.rfind("\n", 0, start) + 1 : start])
    return line_timestamp(text[text.rfind(b"\n", 0, start) + 1 : start].decode("ascii"))
