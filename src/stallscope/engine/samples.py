"""A metric's samples, with memory bounded whatever the log size.

Samples is an array of doubles (appends stay in C). Its owner calls spill() now and then: once
SPILL_AT values are held, they are sorted and moved to a private temporary file as one run.
Iterating reads the runs back in blocks, and ordered() sorts them again, or beyond SORT_AT values
merges the sorted runs, so the statistics
are exactly those of the values kept in memory, at the cost of reading them back. Below SPILL_AT
values per metric (about a GB of a typical orchestrator log) nothing is written.
"""

import heapq
import itertools
import os
import tempfile
from array import array

SPILL_AT = 1 << 17  # values held in memory per metric: 1 MiB
SPILL_EVERY = 1 << 12  # owners call spill() once per this many events (a cheap length test)
READ_BLOCK = 1 << 13  # values read back at a time from each run
# Up to this many values, ordered() sorts them in memory (in C: 8 MiB at most, for the time of one
# metric's statistics) rather than merging the runs in Python, ~10x slower.
SORT_AT = 8 * SPILL_AT


class Samples(array):
    def __new__(cls, values=()):
        return super().__new__(cls, "d", values)

    def __init__(self, values=()):
        super().__init__()
        self.runs = []  # (byte offset, count) of each sorted run in self.file
        self.file = None
        self.spilled = 0

    def spill(self):
        """Moves the values held in memory to the file as one sorted run, once there are SPILL_AT."""
        held = array.__len__(self)
        if held < SPILL_AT:
            return
        if self.file is None:
            self.file = tempfile.TemporaryFile(prefix="stallscope-samples-")
        self.file.seek(0, os.SEEK_END)
        self.runs.append((self.file.tell(), held))
        array("d", sorted(self.tolist())).tofile(self.file)
        self.spilled += held
        del self[:]

    def __len__(self):
        return self.spilled + array.__len__(self)

    def __iter__(self):
        held = array.__iter__(self)
        if not self.runs:
            return held
        return itertools.chain(*(itertools.chain.from_iterable(self._blocks(run)) for run in self.runs), held)

    def ordered(self):
        """All values in ascending order: a list, or once spilled beyond SORT_AT values an iterator
        merging the runs."""
        if len(self) <= SORT_AT:
            return sorted(self)
        held = sorted(self.tolist())
        return heapq.merge(*(itertools.chain.from_iterable(self._blocks(run)) for run in self.runs), held)

    def _blocks(self, run):
        position, left = run
        while left:
            block = array("d")
            self.file.seek(position)
            block.fromfile(self.file, min(left, READ_BLOCK))
            position += len(block) * block.itemsize
            left -= len(block)
            yield block


def spill(*collections):
    """spill() on every Samples in the given iterables of them."""
    for samples in itertools.chain(*collections):
        samples.spill()
