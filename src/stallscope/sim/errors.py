"""Failures a person can act on, and the global deadline that bounds every wait."""

import asyncio
import signal
import time


class SimError(Exception):
    """Ends a process with a one-line reason (logged, no traceback) and a non-zero exit code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class Deadline:
    """A run's wall-clock budget; every wait takes at most what is left of it."""

    def __init__(self, seconds: float, what: str):
        self.seconds = seconds
        self.what = what
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise SimError(f"{self.what} did not finish within --timeout-s {self.seconds:g}")
        return left


async def run_until_signal(main, on_signal) -> int:
    """Run the coroutine function `main`; SIGINT/SIGTERM cancel it and give 128 + signal number.

    `on_signal(name)` is called once the cancellation has unwound (after `finally` blocks ran),
    so the last log lines are the process's own.
    """
    task = asyncio.current_task()
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def stop(sig: int) -> None:
        if not received:
            received.append(sig)
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        return await main()
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        on_signal(signal.Signals(received[0]).name)
        return 128 + received[0]
