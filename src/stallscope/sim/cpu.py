"""Real CPU work of a fixed amount, shared by the simulated workloads."""

import hashlib
import time


def burn_cpu(cpu_ms: float) -> int:
    """Hash a buffer until this thread has used `cpu_ms` of CPU time; returns the rounds done.

    CPU time, not wall time: a real computation does a fixed amount of work, so on a busy host its
    wall time grows, and so does this one's.
    """
    block = b"\x5a" * 65536
    end = time.thread_time() + cpu_ms / 1000.0
    rounds = 0
    while time.thread_time() < end:
        block = hashlib.sha256(block).digest() * 2048
        rounds += 1
    return rounds
