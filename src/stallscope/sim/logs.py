"""Log setup shared by the three processes: prime-rl's line prefix, stdout, flushed per line."""

import atexit
import logging
import logging.handlers
import queue
import sys

from ..instrument import clock as mono  # the t= clock of docs/instrumenting.md

# `11:22:20    INFO [weights][bae4d097d7704bc7] client.done ...`, as in a real prime-rl run.
LINE_FORMAT = "%(asctime)s%(levelname)8s %(message)s"
TIME_FORMAT = "%H:%M:%S"

log = logging.getLogger("stallscope.sim")


def setup_logging() -> None:
    """Send every logger (ours, uvicorn's, httpx's) to stdout, one flushed line per record.

    A writer thread does the writes: an append to a log file can stall for tens of ms while the
    filesystem commits another process's fsync (the trainer's checkpoint), and that stall must not
    land inside the event loop's timings. The thread flushes every line and is drained at exit
    (also after SIGINT/SIGTERM or an uncaught exception), so nothing logged is lost.
    """
    sys.stdout.reconfigure(line_buffering=True)
    writer = logging.StreamHandler(sys.stdout)
    writer.setFormatter(logging.Formatter(LINE_FORMAT, TIME_FORMAT))
    records: queue.SimpleQueue = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, writer)
    listener.start()
    atexit.register(listener.stop)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(logging.INFO)
