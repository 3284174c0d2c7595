"""The progress line of a long `stallscope analyze`, on stderr, only when stderr is a terminal.

    412 MB of 1100 MB read (37%), 160 MB/s, about 4 s left

Bytes are counted per file up to its size on disk (a compressed file is counted by what was
decompressed, up to its compressed size), so the total is the sum of the sizes of the files the
engine reads (found as it finds them: a sampler's file, such as a Dask performance report, too).
Scripts and Ansible (stderr not a terminal) see nothing.
"""

import os
import sys
import time

from .engine.families import SAMPLERS
from .engine.inputs import discover

MB = 1_000_000
EVERY_S = 0.5  # redraws at most twice a second
AFTER_S = 1.0  # short analyses show nothing


class Progress:
    def __init__(self, paths, stream=None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.clock = clock
        self.sizes = {}
        for log_file in discover(paths, SAMPLERS):
            try:
                self.sizes[log_file.path] = os.path.getsize(log_file.path)
            except OSError:
                self.sizes[log_file.path] = 0  # the engine names the unreadable file
        self.total = sum(self.sizes.values())
        self.read = dict.fromkeys(self.sizes, 0)
        self.done = 0
        self.started = clock()
        self.drawn = self.started + AFTER_S - EVERY_S
        self.shown = False

    @classmethod
    def for_terminal(cls, paths, stream=None):
        """A Progress when `stream` (stderr) is a terminal, else None (no callback, no cost)."""
        stream = stream or sys.stderr
        return cls(paths, stream) if stream.isatty() else None

    def __call__(self, path, size):
        limit = self.sizes.get(path, 0)
        before = self.read.get(path, 0)
        self.read[path] = min(before + size, limit)
        self.done += self.read[path] - before
        now = self.clock()
        if now - self.drawn >= EVERY_S:
            self.drawn = now
            self.stream.write("\r" + self.line(now) + "\x1b[K")
            self.stream.flush()
            self.shown = True

    def line(self, now):
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = f", about {left:.0f} s left" if left is not None else ""
        return f"{self.done / MB:.0f} MB of {self.total / MB:.0f} MB read ({share:.0%}), {rate / MB:.0f} MB/s{eta}"

    def finish(self):
        """Clears the line (the report's own lines follow)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
