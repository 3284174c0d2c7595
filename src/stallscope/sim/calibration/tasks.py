"""The tasks that run on the workers: simulations and aggregations, each logging its line (docs/dask.md).

A simulation burns CPU for `cpu_ms` of its thread's CPU time (a real model does a fixed amount of
work; on a busy host its wall time grows) and returns a SimReturn whose outputs are real bytes
(`n_outputs` tables of `output_kb` each), as the workload's inline Arrow tables. An aggregation receives
every replicate's SimReturn (a `*sim_returns` argument: Dask moves them all to the one
worker that runs it), reads every byte of the target's tables and computes a loss. Durations are
measured around the work, payload sizes are the bytes received, and `worker=` is the address of the
worker that ran the task.
"""

import hashlib
import logging
import random
import time
import zlib
from dataclasses import dataclass

from .worker_logging import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class SimReturn:
    task_id: str
    outputs: dict  # output name -> bytes (an inline table artifact)


def _worker_address() -> str:
    from distributed import get_worker

    return get_worker().address


def burn_cpu(cpu_ms: float) -> int:
    """Hash a buffer until this thread has used `cpu_ms` of CPU time; returns the rounds done."""
    block = b"\x5a" * 65536
    end = time.thread_time() + cpu_ms / 1000.0
    rounds = 0
    while time.thread_time() < end:
        block = hashlib.sha256(block).digest() * 2048
        rounds += 1
    return rounds


# Memory a simulation leaves behind in its worker process (`--sim-leak-mb`): unmanaged memory, as a
# model library's caches, which Dask's memory monitor sees and cannot spill.
_LEAKED: list = []


def simulate(param_id: str, params: dict, seed: int, *, cpu_ms: float, n_outputs: int, output_kb: float,
             leak_mb: float = 0.0) -> SimReturn:
    started = time.perf_counter()
    burn_cpu(cpu_ms)
    if leak_mb:
        leaked = bytearray(int(leak_mb * 1e6))
        leaked[::4096] = b"\x01" * len(range(0, len(leaked), 4096))  # one write per page: resident, no copy
        _LEAKED.append(leaked)
    rng = random.Random(f"{param_id}-{seed}")
    size = int(output_kb * 1024)
    outputs = {f"output_{index}": rng.randbytes(size) for index in range(n_outputs)}
    duration_ms = (time.perf_counter() - started) * 1000.0
    log.info("SIM_TIMING: param_id=%s seed=%d duration_ms=%.1f worker=%s", param_id, seed, duration_ms,
             _worker_address())
    return SimReturn(task_id=f"{param_id}-{seed}", outputs=outputs)


def _inline_bytes(sim_returns) -> tuple[int, int, int]:
    """(total bytes, largest single output, outputs per SimReturn) of what the aggregation received."""
    sizes = [len(blob) for sim_return in sim_returns for blob in sim_return.outputs.values()]
    per_return = max((len(sim_return.outputs) for sim_return in sim_returns), default=0)
    return sum(sizes), max(sizes, default=0), per_return


def _loss(sim_returns, target: str, params: dict) -> float:
    """A target's loss over every replicate's tables: every byte is read (CRC), as a real
    extractor parses every table."""
    total = 0
    for sim_return in sim_returns:
        for name, blob in sorted(sim_return.outputs.items()):
            total = zlib.crc32(blob, zlib.crc32(f"{target}/{name}".encode(), total))
    observed = total / 0xFFFFFFFF
    return sum((value - observed) ** 2 for value in params.values())


def _log_aggregation(run_id, param_id, target, sim_returns, payload, duration_ms, worker):
    total, largest, per_return = payload
    log.info(
        "AGG_TIMING: run_id=%s param_id=%s target=%s n_sim_returns=%d n_outputs=%d total_inline_mb=%.2f "
        "max_single_kb=%.1f duration_ms=%.1f worker=%s",
        run_id or "N/A", param_id, target, len(sim_returns), per_return, total / 1e6, largest / 1024.0,
        duration_ms, worker,
    )


def aggregate(*sim_returns: SimReturn, run_id: str, param_id: str, target: str, params: dict, cpu_ms: float) -> dict:
    """One target's aggregation."""
    started = time.perf_counter()
    loss = _loss(sim_returns, target, params)
    burn_cpu(cpu_ms)
    duration_ms = (time.perf_counter() - started) * 1000.0
    _log_aggregation(run_id, param_id, target, sim_returns, _inline_bytes(sim_returns), duration_ms,
                     _worker_address())
    return {target: loss}


def aggregate_targets(*sim_returns: SimReturn, run_id: str, param_id: str, targets: list, params: dict,
                      cpu_ms: float) -> dict:
    """Every target's loss in one task (fix 2 of docs/dask.md): the replicates move to one worker once.

    Logs one AGG_TIMING line per target, each with that target's own compute time.
    """
    payload, worker = _inline_bytes(sim_returns), _worker_address()
    losses = {}
    for target in targets:
        started = time.perf_counter()
        losses[target] = _loss(sim_returns, target, params)
        burn_cpu(cpu_ms)
        _log_aggregation(run_id, param_id, target, sim_returns, payload, (time.perf_counter() - started) * 1000.0,
                         worker)
    return losses
