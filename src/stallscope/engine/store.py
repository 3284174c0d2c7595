"""The rows and samples of a partial state, in one SQLite database.

A family keeps the per-event records it cannot summarise as it reads (prime-rl's weight events, for
the join by trace across files; its generation batches and checkpoint waits and writes, and Dask's
tasks and memory messages, for the timelines) as rows of its own tables, each row tagged with the
file (a state's file id) and line it came from, so that a file read again from the start can be
dropped, and states can be merged by copying rows. Metric samples are kept per
file and metric as blocks of doubles. The database is a state file (state.py) or, without one, a
private temporary file SQLite deletes when the connection closes (`sqlite3.connect("")`).

Row values are tuples of plain values packed with `marshal` (the engine's own data, never read from
anywhere else: a state file is checked before use). Writes are buffered and sent with executemany.
"""

import marshal
from array import array

from .samples import Samples

FLUSH_ROWS = 10_000
ROW_TABLE = "CREATE TABLE IF NOT EXISTS {} (key TEXT, sub INTEGER, file INTEGER, line INTEGER, data BLOB)"


class RunStore:
    def __init__(self, db):
        self.db = db
        db.execute("CREATE TABLE IF NOT EXISTS samples (file INTEGER, metric TEXT, data BLOB)")
        db.execute("CREATE TEMP TABLE IF NOT EXISTS ranks (file INTEGER PRIMARY KEY, rank INTEGER)")
        self._pending = {}  # table -> rows not yet written
        self._known = set(self.tables())
        self._settled_ready = False

    def tables(self):
        """The row tables the database holds (one per kind of record a family keeps)."""
        return [name for (name,) in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rows_%'")]

    def add(self, table, key, sub, file, line, values):
        """One record of `table` (a family's record kind), from (file, line); `key`, `sub`: what
        by_key() orders by first."""
        rows = self._pending.get(table)
        if rows is None:
            rows = self._pending[table] = []
        rows.append((key, sub, file, line, marshal.dumps(values)))
        if len(rows) >= FLUSH_ROWS:
            self._flush(table)

    def _flush(self, table):
        name = f"rows_{table}"
        if name not in self._known:
            self.db.execute(ROW_TABLE.format(name))
            self._known.add(name)
        self.db.executemany(f"INSERT INTO {name} VALUES (?, ?, ?, ?, ?)", self._pending.pop(table))

    def flush(self):
        for table in list(self._pending):
            self._flush(table)

    def add_samples(self, file, metric, values):
        """A block of one file's samples of `metric` (an array of doubles)."""
        self.db.execute("INSERT INTO samples VALUES (?, ?, ?)", (file, metric, values.tobytes()))

    def samples(self, metric):
        """(rank, array of doubles) for each block of `metric`'s samples, in (rank, written) order."""
        for rank, data in self.db.execute("SELECT k.rank, s.data FROM samples s JOIN ranks k ON s.file = k.file "
                                          "WHERE s.metric = ? ORDER BY k.rank, s.rowid", (metric,)):
            yield rank, array("d", data)

    def samples_of(self, metric):
        """Every file's samples of `metric` as one Samples (spilled to disk past its bound)."""
        values = Samples()
        for _, block in self.samples(metric):
            values.extend(block)
            values.spill()
        return values

    def metrics(self):
        return sorted(name for (name,) in self.db.execute("SELECT DISTINCT metric FROM samples"))

    def set_ranks(self, ranks):
        """file id -> its position in the report (the order records are read back in)."""
        self.db.execute("DELETE FROM ranks")
        self.db.executemany("INSERT INTO ranks VALUES (?, ?)", ranks.items())

    def by_key(self, table):
        """(key, sub, rank, line, values) of `table` in key, sub, then (rank, line) order."""
        self._index_keys(table)
        return self._read(table, "r.key, r.sub, k.rank, r.line")

    def by_position(self, table, after=0):
        """(key, sub, rank, line, values) of `table` in (rank, line) order; only the rows written
        after its row number `after` (last_row()) when given."""
        return self._read(table, "k.rank, r.line, r.rowid", "WHERE r.rowid > ?", (after,))

    def by_keys(self, table, keys):
        """by_key() of the rows whose key is one of `keys`."""
        self._index_keys(table)
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_keys (key TEXT PRIMARY KEY)")
        self.db.execute("DELETE FROM temp.wanted_keys")
        self.db.executemany("INSERT OR IGNORE INTO temp.wanted_keys VALUES (?)", ((key,) for key in keys))
        return self._read(table, "r.key, r.sub, k.rank, r.line", "WHERE r.key IN (SELECT key FROM temp.wanted_keys)")

    def _index_keys(self, table):
        """Indexes `table` by key (kept in the state, as rows are added): by_keys() then reads a few
        keys of many rows without a scan."""
        self.flush()
        if f"rows_{table}" in self._known:
            self.db.execute(f"CREATE INDEX IF NOT EXISTS rows_{table}_key ON rows_{table} (key)")

    def keys_after(self, table, after):
        """The distinct keys of the rows of `table` written after its row number `after`."""
        self.flush()
        if f"rows_{table}" not in self._known:
            return set()
        return {key for (key,) in self.db.execute(f"SELECT DISTINCT key FROM rows_{table} WHERE rowid > ?", (after,))}

    def last_row(self, table):
        """The row number of the last row written to `table` (0 without rows): where a later
        by_position(table, after=...) or keys_after() starts."""
        self.flush()
        if f"rows_{table}" not in self._known:
            return 0
        return self.db.execute(f"SELECT coalesce(max(rowid), 0) FROM rows_{table}").fetchone()[0]

    def _read(self, table, order, where="", parameters=()):
        self.flush()
        if f"rows_{table}" not in self._known:
            return
        for key, sub, rank, line, data in self.db.execute(
                f"SELECT r.key, r.sub, k.rank, r.line, r.data FROM rows_{table} r JOIN ranks k ON r.file = k.file "
                f"{where} ORDER BY {order}", parameters):
            yield key, sub, rank, line, marshal.loads(data)

    # The settled part of the run's records (records.py, throughput.py): what earlier analyses of
    # this state computed that later bytes cannot change, kept as plain data under a name, with the
    # keys (trace ids) it covers, so that an analysis computes only what is new. Forgotten whenever
    # a file's rows are (a file read again from the start).

    def settled(self, name):
        """The plain data saved under `name`, or None."""
        self._settled_tables()
        row = self.db.execute("SELECT data FROM settled WHERE name = ?", (name,)).fetchone()
        try:
            data = None if row is None else marshal.loads(row[0])
        except (ValueError, EOFError, TypeError):  # damaged: computed again from the rows
            return None
        return data if isinstance(data, dict) else None

    def settle(self, name, data, keys=()):
        """Saves `data` under `name` and adds `keys` to those it covers."""
        self._settled_tables()
        self.db.execute("INSERT OR REPLACE INTO settled VALUES (?, ?)", (name, marshal.dumps(data)))
        self.db.executemany("INSERT OR IGNORE INTO settled_keys VALUES (?, ?)", ((name, key) for key in keys))

    def settled_keys_among(self, name, keys):
        """Whether any of `keys` is covered by what is settled under `name`."""
        self._settled_tables()
        return any(self.db.execute("SELECT 1 FROM settled_keys WHERE name = ? AND key = ?", (name, key)).fetchone()
                   for key in keys)

    def settle_rows(self, name, rows):
        """Adds rows (file id, line, values) to those settled under `name`."""
        self._settled_tables()
        self.db.executemany("INSERT INTO settled_rows VALUES (?, ?, ?, ?)",
                            ((name, file, line, marshal.dumps(values)) for file, line, values in rows))

    def settled_rows(self, name, limit=-1):
        """(rank, line, values) of the rows settled under `name`, in (rank, line) order (the first `limit`)."""
        self._settled_tables()
        for rank, line, data in self.db.execute(
                "SELECT k.rank, s.line, s.data FROM settled_rows s JOIN ranks k ON s.file = k.file WHERE s.name = ? "
                "ORDER BY k.rank, s.line LIMIT ?", (name, limit)):
            yield rank, line, marshal.loads(data)

    def forget_settled(self, name=None):
        self._settled_tables()
        for table in ("settled", "settled_keys", "settled_rows"):
            self.db.execute(f"DELETE FROM {table}" + ("" if name is None else " WHERE name = ?"),
                            () if name is None else (name,))

    def _settled_tables(self):
        if not self._settled_ready:
            self.db.execute("CREATE TABLE IF NOT EXISTS settled (name TEXT PRIMARY KEY, data BLOB)")
            self.db.execute("CREATE TABLE IF NOT EXISTS settled_keys (name TEXT, key TEXT, PRIMARY KEY (name, key))")
            self.db.execute("CREATE TABLE IF NOT EXISTS settled_rows (name TEXT, file INTEGER, line INTEGER, data BLOB)")
            self._settled_ready = True

    def drop_file(self, file):
        """Forgets every row and sample of a file (read again from the start)."""
        self.flush()
        for name in self._known:
            if name.startswith("rows_"):
                self.db.execute(f"DELETE FROM {name} WHERE file = ?", (file,))
        self.db.execute("DELETE FROM samples WHERE file = ?", (file,))
        self.forget_settled()

    def copy_from(self, schema, shift):
        """Copies the rows and samples of an attached database `schema`, its file ids plus `shift`."""
        self.flush()
        for (name,) in self.db.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name LIKE 'rows_%'").fetchall():
            if name not in self._known:
                self.db.execute(ROW_TABLE.format(name))
                self._known.add(name)
            self.db.execute(f"INSERT INTO {name} SELECT key, sub, file + ?, line, data FROM {schema}.{name}", (shift,))
        self.db.execute(f"INSERT INTO samples SELECT file + ?, metric, data FROM {schema}.samples", (shift,))


class SampleSink:
    """One file's metric samples as they are read: arrays of doubles (appends stay in C), moved to
    the store in blocks, so memory stays bounded whatever the file's size."""

    BLOCK = 1 << 16

    def __init__(self, store, file):
        self.store = store
        self.file = file
        self.arrays = {}

    def __getitem__(self, metric):
        values = self.arrays.get(metric)
        if values is None:
            values = self.arrays[metric] = array("d")
        return values

    def spill(self, at=BLOCK):
        """Moves each metric's values to the store once it holds `at` of them (all with at=1)."""
        for metric, values in self.arrays.items():
            if len(values) >= at:
                self.store.add_samples(self.file, metric, values)
                del values[:]
