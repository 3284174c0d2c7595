"""Turning one file's bytes into events, fast.

Lines are never iterated in Python: the file is read in large chunks, newlines are counted in C,
and each family's event pattern runs once over a whole chunk of lines (so the search and the
field captures happen in C); Python code runs only per event. Memory stays bounded by the chunk
size and MAX_LINE.

A chunk that is plain ASCII with no ANSI escape and no control character that str regexes and
str.split() treat as whitespace (0x1c-0x1f) reads the same as bytes and as text, so the family's
pattern, compiled for bytes, runs over it as it is. Any other chunk takes the careful path: its
candidate lines (holding a tag) are decoded one by one (invalid UTF-8 replaced, ANSI codes and the
CR removed), joined, and matched with the family's str pattern.
"""

import functools
import heapq
import re
from itertools import groupby

from .families import FAMILIES, MalformedLine
from .inputs import read_chunks

CHUNK_BYTES = 2 << 20  # larger chunks were no faster (measured) and cost RSS
# A line longer than this cannot be an instrumented line; it is counted and skipped so that one
# huge line (a dumped tensor, a binary file) cannot hold memory.
MAX_LINE = 1 << 20
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Bytes that make a chunk's text differ from its bytes for the event patterns (see the docstring).
NOT_PLAIN = (b"\x1b", b"\x1c", b"\x1d", b"\x1e", b"\x1f")
BINARY_HEAD = 8192  # a NUL byte in a file's first bytes marks it binary
MALFORMED = "malformed"  # a family's result for a line with an event's shape and unreadable fields


@functools.cache
def _bytes_pattern(pattern):
    """A str pattern compiled for bytes: the same matches on plain ASCII (its pattern is ASCII)."""
    return re.compile(pattern.pattern.encode("ascii"), pattern.flags & ~re.UNICODE)


def tag_pattern(families=FAMILIES):
    tags = sorted({tag for family in families for tag in family.TAGS}, key=len, reverse=True)
    return re.compile(b"|".join(re.escape(tag) for tag in tags))


TAGS = tag_pattern()


class Span:
    """What scan_span read of a file: the counts of its whole lines, the offset and line count at the
    end of the last whole line, and the unfinished last line (`tail`, None when the file ends with a
    newline; `tail_overlong` when it is over MAX_LINE and was dropped), `tail_bytes` long."""

    def __init__(self, offset, lines):
        self.counts = {"bytes": 0, "lines": 0, "recognised": 0, "malformed": 0, "overlong_lines": 0, "binary": False}
        self.offset = offset
        self.lines = lines
        self.tail = None
        self.tail_overlong = False
        self.tail_bytes = 0


def scan_file(path, on_event, families=FAMILIES, on_chunk=None):
    """Calls on_event(event) for each recognised line of `path`, in line order, and on_chunk(size)
    (when given) after each chunk read, with its size in bytes (decompressed).

    Each event is the family's dict plus `family` and `line` (1-based). Returns the file's counts:
    `{bytes, lines, recognised, malformed, overlong_lines, binary}`.
    """
    span = scan_span(path, on_event, families, on_chunk=on_chunk)
    scan_tail(span, on_event, families)
    return span.counts


def scan_span(path, on_event, families=FAMILIES, offset=0, lines=0, on_chunk=None):
    """Scans the whole lines of `path` from `offset` (a line start, after `lines` lines) to its last
    newline, calling on_event(event) for each event (its `line` counted from the file's start) and
    on_chunk(size) (when given) after each chunk read; returns a Span. The unfinished last line is
    left for scan_tail (a live log's last line may be still being written: a resumed scan reads it
    again)."""
    span = Span(offset, lines)
    counts = span.counts
    carry = b""
    skipping = False  # inside an over-long line whose start was dropped
    overlong = 0  # the line in progress is over-long (counted when it ends)
    position = offset  # bytes read
    first = True
    for chunk in read_chunks(path, CHUNK_BYTES, offset):
        position += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
        if first:
            counts["binary"] = b"\x00" in chunk[:max(0, BINARY_HEAD - offset)]
            first = False
        buf = carry + chunk if carry else chunk
        end = buf.rfind(b"\n") + 1
        if end == 0:
            carry = buf
            if len(carry) > MAX_LINE:
                overlong = 1
                carry, skipping = b"", True
            continue
        start = 0
        if skipping:
            start = buf.find(b"\n") + 1
            span.lines += 1
            skipping = False
        counts["overlong_lines"] += overlong
        overlong = 0
        span.lines += _scan_lines(buf[start:end] if start or end < len(buf) else buf, span.lines, on_event, counts, families)
        span.offset = position - len(buf) + end
        carry = buf[end:]
        if len(carry) > MAX_LINE:
            overlong = 1
            carry, skipping = b"", True
    counts["bytes"] = span.offset - offset
    counts["lines"] = span.lines - lines
    span.tail_bytes = position - span.offset
    span.tail_overlong = bool(overlong)
    span.tail = carry if carry and not skipping else None
    return span


def scan_tail(span, on_event, families=FAMILIES):
    """Adds the span's unfinished last line (a truncated last line is still a line) to its counts."""
    counts = span.counts
    counts["bytes"] += span.tail_bytes
    if span.tail_overlong:
        counts["overlong_lines"] += 1
        counts["lines"] += 1
    elif span.tail is not None:
        _scan_lines(span.tail + b"\n", span.lines, on_event, counts, families)
        counts["lines"] += 1


def _scan_lines(lines, lines_before, on_event, counts, families):
    """Passes on the events of `lines` (whole lines, each ending in a newline); returns how many
    lines it holds."""
    if lines.isascii() and not any(byte in lines for byte in NOT_PLAIN):
        text, line_numbers = lines, None  # line index i is line lines_before + 1 + i
    else:
        text, line_numbers = _candidate_lines(lines, lines_before)
    # The newline count comes from the events' own line counting when one family reads the
    # plain text (a pass less over the chunk); otherwise it is counted here.
    newlines = []
    recognised = malformed = 0
    first_line = lines_before + 1
    for line_index, family, event in _events(text, families, newlines if line_numbers is None else None):
        if event is MALFORMED:
            malformed += 1
            continue
        event["family"] = family.NAME
        event["line"] = first_line + line_index if line_numbers is None else line_numbers[line_index]
        recognised += 1
        on_event(event)
    counts["recognised"] += recognised
    counts["malformed"] += malformed
    return newlines[0] if newlines else lines.count(b"\n")


def _candidate_lines(lines, lines_before):
    """(text, line numbers): the lines holding a tag, decoded and cleaned, joined by newlines."""
    texts, numbers = [], []
    line, cursor, next_line_start = lines_before, 0, 0
    for match in TAGS.finditer(lines):
        position = match.start()
        if position < next_line_start:
            continue  # a second tag on a line already taken
        line_start = lines.rfind(b"\n", 0, position) + 1
        line_end = lines.find(b"\n", position)
        next_line_start = line_end + 1
        line += lines.count(b"\n", cursor, line_start)
        cursor = line_start
        text = lines[line_start:line_end].decode("utf-8", "replace")
        if "\x1b" in text:
            text = ANSI.sub("", text)
        texts.append(text[:-1] if text.endswith("\r") else text)
        numbers.append(line + 1)
    return "\n".join(texts), numbers


def _events(text, families, newlines=None):
    """(line index in text, family, event dict | MALFORMED) for each line of text with an event:
    the first family (in registry order) with an event on a line wins; MALFORMED when none has one
    and some family found unreadable fields. When one family reads the text, the text's newline
    count is appended to `newlines` (a list, if given) once the events are exhausted."""
    # A family with none of its PRESENT substrings (default: its tags) in the text has nothing
    # there: its pattern is not run (a substring test is far cheaper than a search with
    # alternatives), so a prime-rl log scans about as fast with the Dask family registered.
    families = [family for family in families if any(tag in text for tag in _present(family, isinstance(text, str)))]
    if not families:
        return iter(())
    if len(families) == 1:
        family = families[0]
        return ((line, family, event) for line, event in _family_events(text, family, newlines))
    streams = [_ordered_events(text, order, family) for order, family in enumerate(families)]
    merged = heapq.merge(*streams, key=lambda item: item[:2])
    return (_first_event(list(results)) for _, results in groupby(merged, key=lambda item: item[0]))


@functools.cache
def _present(family, as_text):
    present = getattr(family, "PRESENT", family.TAGS)
    return tuple(tag.decode("ascii") for tag in present) if as_text else present


def _ordered_events(text, order, family):
    for line, event in _family_events(text, family):
        yield line, order, family, event


def _first_event(results):
    line = results[0][0]
    for _, _, family, event in results:
        if event is not MALFORMED:
            return line, family, event
    return line, results[0][2], MALFORMED


def _family_events(text, family, newlines=None):
    """(line index, event dict | MALFORMED) for each line of text (str, or plain ASCII bytes)
    holding one of the family's events; then appends the text's newline count to `newlines`."""
    line, cursor = 0, 0
    parse = family.event
    pattern, newline = (family.EVENT, "\n") if isinstance(text, str) else (_bytes_pattern(family.EVENT), b"\n")
    count = text.count
    for match in pattern.finditer(text):
        start = match.start()
        line += count(newline, cursor, start)
        cursor = start
        try:
            event = parse(match)
        except MalformedLine:
            event = MALFORMED
        if event is not None:
            yield line, event
    if newlines is not None:
        newlines.append(line + count(newline, cursor))
