"""A partial state: what the engine has learned from the bytes read so far of each log file.

Per file: where it was found (path, host, async_level, manifest), how far it was read (the offset of
the end of its last whole line, and its line count), a fingerprint of those bytes, the scan's counts
and each family's in-file state (plain data); the families' rows and samples, tagged with the file,
are in the same SQLite database (store.py). The report is computed from a state (pipeline.report),
so a state saved to a file can be resumed (only the bytes appended since are read) and the states of
several hosts merged (their files side by side) into one report.

A file whose fingerprint no longer matches (truncated, replaced) is read again from the start; a
file that matches a known file of another name (rotated: x.log now x.log.1) continues where that one
stopped; a known file gone from the inputs is forgotten. A state file that is not one (corrupt,
foreign, another version) is set aside and the logs are read from the start: never a wrong report.
"""

import hashlib
import marshal
import os
import sqlite3

from .errors import EngineError, InputError
from .inputs import LogFile, compressed
from .store import RunStore

FORMAT = "stallscope-state"
VERSION = "2"  # 2: the settled part (store.py); an engine of version 1 would not keep it in step
STATE_FILE = "state.sqlite"
FINGERPRINT_BYTES = 4096
FILE_KEYS = ("path", "host", "async_level", "manifest", "clock", "offset", "lines", "bytes", "recognised", "malformed",
             "overlong_lines", "binary", "fingerprint", "families")


class StateRejected(EngineError):
    """A state file that cannot be used (the message says why); the logs are read from the start."""


def new_file(path):
    return {"path": path, "host": None, "async_level": None, "manifest": None, "clock": None, "offset": 0, "lines": 0,
            "bytes": 0, "recognised": 0, "malformed": 0, "overlong_lines": 0, "binary": False, "fingerprint": None,
            "families": {}}


class State:
    """A partial state in a SQLite database: a state file, or a private temporary one (path "")."""

    def __init__(self, path=""):
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY, info BLOB)")
        self.files = {}  # id -> file dict (FILE_KEYS)
        self.store = RunStore(self.db)

    @classmethod
    def load(cls, path):
        """The state saved in `path`. Raises StateRejected when it is not a usable state file."""
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                meta = dict(db.execute("SELECT key, value FROM meta"))
            finally:
                db.close()
        except sqlite3.Error as error:
            raise StateRejected(f"{path}: not a stallscope state ({error})") from None
        if meta.get("format") != FORMAT:
            raise StateRejected(f"{path}: not a stallscope state (no format mark)")
        if meta.get("version") != VERSION:
            raise StateRejected(f"{path}: a stallscope state of version {meta.get('version')!r}, this engine reads {VERSION}")
        state = cls(path)
        try:
            for file_id, info in state.db.execute("SELECT id, info FROM files"):
                entry = marshal.loads(info)
                if not isinstance(entry, dict) or set(entry) != set(FILE_KEYS):
                    raise ValueError("a file record of another shape")
                state.files[file_id] = entry
        except (sqlite3.Error, ValueError, EOFError, TypeError) as error:
            state.db.close()
            raise StateRejected(f"{path}: a damaged stallscope state ({error})") from None
        return state

    @classmethod
    def open(cls, directory, warnings):
        """The state kept in `directory` (created when missing); a state file that cannot be used is
        renamed `state.sqlite.rejected`, with a warning, and a new one begun."""
        path = os.path.join(directory, STATE_FILE)
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            raise InputError(f"{directory}: cannot create the state directory: {error.strerror or error}") from None
        if os.path.exists(path):
            try:
                return cls.load(path)
            except StateRejected as error:
                warnings.append(f"{error}; set aside as {STATE_FILE}.rejected, every log read from the start")
                os.replace(path, path + ".rejected")
        state = cls(path)
        state.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", (("format", FORMAT), ("version", VERSION)))
        return state

    def add_file(self, entry):
        file_id = max(self.files, default=-1) + 1
        self.files[file_id] = entry
        return file_id

    def drop_file(self, file_id):
        del self.files[file_id]
        self.store.drop_file(file_id)

    def match(self, log_files):
        """(file id or None, LogFile) for each of `log_files`: the known file it continues, or None
        (read from the start). Known files that none continues are forgotten."""
        by_path = {entry["path"]: file_id for file_id, entry in self.files.items()}
        matched, unmatched = {}, []
        for log_file in log_files:
            file_id = by_path.get(log_file.path)
            if file_id is not None and continues(log_file.path, self.files[file_id]):
                matched[log_file.path] = file_id
            else:
                unmatched.append(log_file)
        orphans = [file_id for file_id in self.files if file_id not in matched.values()]
        for log_file in unmatched:
            file_id = next((file_id for file_id in orphans if continues(log_file.path, self.files[file_id])), None)
            if file_id is not None:  # rotated: the same bytes under a new name
                orphans.remove(file_id)
                self.files[file_id]["path"] = log_file.path
                matched[log_file.path] = file_id
        for file_id in orphans:
            self.drop_file(file_id)
        return [(matched.get(log_file.path), log_file) for log_file in log_files]

    def save(self):
        """Writes the files' records and commits: the state file now holds what was read."""
        self.store.flush()
        self.db.execute("DELETE FROM files")
        self.db.executemany("INSERT INTO files VALUES (?, ?)",
                            ((file_id, marshal.dumps(entry)) for file_id, entry in self.files.items()))
        self.db.commit()

    def merge(self, other):
        """Adds the files of another State (another host's, or another part of the inputs)."""
        shift = max(self.files, default=-1) + 1
        self.store.flush()
        self.db.commit()
        self.db.execute("ATTACH DATABASE ? AS other", (other.path,))
        try:
            self.store.copy_from("other", shift)
            self.db.commit()
        finally:
            self.db.execute("DETACH DATABASE other")
        for file_id, entry in other.files.items():
            self.files[file_id + shift] = entry

    def copy_rows(self, path):
        """Adds the rows and samples of a state file written for some of this state's files (a
        worker's: same file ids)."""
        self.store.flush()
        self.db.commit()
        self.db.execute("ATTACH DATABASE ? AS worker", (path,))
        try:
            self.store.copy_from("worker", 0)
            self.db.commit()
        finally:
            self.db.execute("DETACH DATABASE worker")

    def ranks(self):
        """file id -> position in the report: files in discovery order (rotated files oldest
        first), then by host."""
        order = sorted(self.files, key=lambda file_id: (
            LogFile(self.files[file_id]["path"], None).order_key(), self.files[file_id]["host"] or "", file_id))
        return {file_id: rank for rank, file_id in enumerate(order)}

    def close(self):
        self.db.close()


def fingerprint(path, offset):
    """Of a plain file's first `offset` bytes: hashes of their head and of the bytes just before
    `offset`. Of a compressed file (read whole, never resumed): its size, mtime and head's hash."""
    with open(path, "rb") as handle:
        if compressed(handle):
            stat = os.fstat(handle.fileno())
            return ["compressed", stat.st_size, stat.st_mtime_ns, hashlib.sha1(handle.read(FINGERPRINT_BYTES)).hexdigest()]
        head = handle.read(min(FINGERPRINT_BYTES, offset))
        handle.seek(max(0, offset - FINGERPRINT_BYTES))
        before = handle.read(min(FINGERPRINT_BYTES, offset))
    return ["plain", offset, hashlib.sha1(head).hexdigest(), hashlib.sha1(before).hexdigest()]


def continues(path, entry):
    """Whether the file at `path` holds the bytes `entry` was read from (it may have more)."""
    stored = entry["fingerprint"]
    if stored is None:
        return False
    try:
        size = os.path.getsize(path)
        if stored[0] == "sampler":  # read whole: continued only when unchanged
            return size == entry["offset"] and fingerprint(path, size)[1:] == stored[1:]
        if stored[0] == "plain" and size < entry["offset"]:
            return False
        return fingerprint(path, entry["offset"]) == stored
    except OSError:
        return False
