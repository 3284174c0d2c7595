"""Log setup shared by the three processes: prime-rl's line prefix, stdout, flushed per line."""

import logging
import secrets
import sys
import time

# `11:22:20    INFO [weights][bae4d097d7704bc7] client.done ...`, as in a real prime-rl run.
LINE_FORMAT = "%(asctime)s%(levelname)8s %(message)s"
TIME_FORMAT = "%H:%M:%S"

log = logging.getLogger("stallscope.sim")


def setup_logging() -> None:
    """Send every logger (ours, uvicorn's, httpx's) to stdout, one flushed line per record.

    Line buffering plus the handler's flush per record means a SIGTERM or a crash loses nothing
    that was already logged.
    """
    sys.stdout.reconfigure(line_buffering=True)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(LINE_FORMAT, TIME_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def mono() -> float:
    """The `t=` clock: comparable between the processes of one host only."""
    return time.monotonic()


def new_trace_id() -> str:
    """16 hex chars, sent as the `x-trace-id` header."""
    return secrets.token_hex(8)
