"""The progress line of `stallscope analyze`: drawn on a terminal only, bytes of the total, rate,
time left; throttled, and cleared before the report's lines."""

import io
import os
import shutil
from pathlib import Path

from stallscope.engine import analyze
from stallscope.progress import Progress

DASK_LOGS = Path(__file__).parents[1] / "engine" / "fixtures" / "dask" / "per_target" / "logs"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_line_counts_bytes_of_the_total_with_rate_and_time_left(tmp_path):
    for name, size in (("a.log", 60_000_000), ("b.log", 40_000_000)):
        with open(tmp_path / name, "wb") as handle:
            handle.truncate(size)  # sparse: the size is what counts
    clock, stream = Clock(), Terminal()
    progress = Progress([tmp_path], stream=stream, clock=clock)
    assert progress.total == 100_000_000
    clock.now += 0.5
    progress(str(tmp_path / "a.log"), 10_000_000)
    assert stream.getvalue() == ""  # nothing in the first second: short analyses stay quiet
    clock.now += 1.5
    progress(str(tmp_path / "a.log"), 90_000_000)  # decompressed bytes beyond the file's size are not counted
    assert stream.getvalue() == "\r60 MB of 100 MB read (60%), 30 MB/s, about 1 s left\x1b[K"
    clock.now += 0.1
    progress(str(tmp_path / "b.log"), 20_000_000)
    assert stream.getvalue().count("\r") == 1  # at most two redraws a second
    progress.finish()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_only_a_terminal_gets_a_progress_line(tmp_path):
    (tmp_path / "a.log").write_text("x\n")
    assert Progress.for_terminal([tmp_path], stream=io.StringIO()) is None
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "w") as terminal:
            assert isinstance(Progress.for_terminal([tmp_path], stream=terminal), Progress)
    finally:
        os.close(leader)


def test_a_samplers_file_counts_in_the_total_and_is_read_to_it(tmp_path):
    # The Dask performance report is not named as a log: the engine finds it by its head, and so must the total.
    shutil.copytree(DASK_LOGS, tmp_path / "logs")
    progress = Progress([tmp_path], stream=Terminal(), clock=Clock())
    assert progress.total == sum(path.stat().st_size for path in DASK_LOGS.iterdir())
    analyze([tmp_path], jobs=1, progress=progress)
    assert progress.done == progress.total
