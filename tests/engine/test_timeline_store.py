"""The engine's timeline store: rows come back as written, in order, across its blocks, with two
readers open at once (timeline.txt and per_step.txt read it together)."""
from stallscope.engine.families import prime_rl
from stallscope.engine.pipeline import TIMELINE_BLOCK_ROWS, Timeline
from stallscope.engine.records import BATCH_FIELDS


class Batches:
    def __init__(self, rows):
        self._rows = rows

    def rows(self):
        return iter(self._rows)


def batch_row(file, line):
    values = {"file": file, "line": line, "start_line": line - 1, "ts": f"12:00:{line % 60:02d}", "t": float(line),
              "dur_ms": 10.5, "completions": 4, "tokens": 100, "inflight_start": 1, "inflight_done": 0,
              "target_batch": 8, "updates": [line]}
    return tuple(values[field] for field in BATCH_FIELDS)


def test_rows_come_back_in_order_across_blocks_with_two_readers():
    count = 2 * TIMELINE_BLOCK_ROWS + 7  # three blocks, the last one partial
    updates = [(0, 2 * n, "12:00:00", float(n), f"trace-{n}", "update_weights", 1.0, 0.5, 0.5, 1, 1) for n in range(count)]
    batches = [batch_row(0, 2 * n + 1) for n in range(count)]
    checkpoints = [(1, n, "12:00:00", float(n), "wait", 3.0) for n in range(5)]
    timeline = Timeline(prime_rl.timeline({"timeline_updates": updates, "batches": Batches(batches),
                                           "checkpoints": checkpoints}))

    entries = list(timeline.rows("entries"))
    assert [row[1] for _, row in entries] == list(range(2 * count))  # merged in (file, line) order
    assert [row for kind, row in entries if kind == "update"] == updates
    assert [row[1] for kind, row in entries if kind == "batch"] == [row[1] for row in batches]
    assert list(timeline.rows("checkpoints")) == checkpoints

    # Two readers interleaved: each keeps its own place in the file.
    first, second = timeline.rows("entries"), timeline.rows("checkpoints")
    read = []
    for row in first:
        read.append(row)
        if len(read) == TIMELINE_BLOCK_ROWS - 1:
            assert list(second) == checkpoints
    assert read == entries
