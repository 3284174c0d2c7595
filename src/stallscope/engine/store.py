"""A run's per-event records on disk, so that memory does not grow with the log.

Weight events, generation batches, checkpoint waits and writes, and the timeline rows of the joined
weight updates live in a private temporary SQLite database (`sqlite3.connect("")`: a file SQLite
deletes itself when the connection closes). Rows are tuples of plain values packed with `marshal` (the engine's own data, never read
from anywhere else). Writes are buffered and sent with executemany.
"""

import marshal
import sqlite3

FLUSH_ROWS = 10_000


class RunStore:
    def __init__(self):
        self.db = sqlite3.connect("")
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE marks (trace TEXT, phase INTEGER, data BLOB);
            CREATE TABLE batches (data BLOB);
            CREATE TABLE timeline_updates (file INTEGER, line INTEGER, data BLOB);
            CREATE TABLE checkpoints (data BLOB);
            """
        )
        self._marks = []
        self._batches = []
        self._checkpoints = []

    def add_mark(self, trace, phase, values):
        self._marks.append((trace, phase, marshal.dumps(values)))
        if len(self._marks) >= FLUSH_ROWS:
            self._flush()

    def add_batch(self, values):
        self._batches.append((marshal.dumps(values),))
        if len(self._batches) >= FLUSH_ROWS:
            self._flush()

    def add_checkpoint(self, values):
        self._checkpoints.append((marshal.dumps(values),))
        if len(self._checkpoints) >= FLUSH_ROWS:
            self._flush()

    def _flush(self):
        self.db.executemany("INSERT INTO marks VALUES (?, ?, ?)", self._marks)
        self.db.executemany("INSERT INTO batches VALUES (?)", self._batches)
        self.db.executemany("INSERT INTO checkpoints VALUES (?)", self._checkpoints)
        self._marks, self._batches, self._checkpoints = [], [], []

    def marks_by_trace(self):
        """(trace, phase, values) in trace, phase, then logging order."""
        self._flush()
        for trace, phase, data in self.db.execute("SELECT trace, phase, data FROM marks ORDER BY trace, phase, rowid"):
            yield trace, phase, marshal.loads(data)

    def batches(self):
        """Batch values in the order they were added."""
        self._flush()
        for (data,) in self.db.execute("SELECT data FROM batches ORDER BY rowid"):
            yield marshal.loads(data)

    def checkpoints(self):
        """Checkpoint wait and write values in the order they were added."""
        self._flush()
        for (data,) in self.db.execute("SELECT data FROM checkpoints ORDER BY rowid"):
            yield marshal.loads(data)

    def add_timeline_updates(self, rows):
        """rows: tuples of plain values whose first two are the (file, line) they are ordered by."""
        self.db.executemany("INSERT INTO timeline_updates VALUES (?, ?, ?)", ((row[0], row[1], marshal.dumps(row)) for row in rows))

    def timeline_updates(self):
        """The rows added by add_timeline_updates, in (file, line) order."""
        for (data,) in self.db.execute("SELECT data FROM timeline_updates ORDER BY file, line"):
            yield marshal.loads(data)
