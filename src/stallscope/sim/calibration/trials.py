"""The calibration's trial loop (docs/dask.md): threads that each run whole trials against the cluster.

Each thread, until the budget is spent: asks the search for one parameter set, submits
`n_replicates` simulations and the trial's aggregations, gathers the aggregations and tells the
search the loss. Variants (docs/dask.md):

- `aggregation="per-target"`: one aggregation task per target over all replicates (the workload's
  optimized path, whose targets may each pull the replicates to a different worker);
- `aggregation="multi-target"`: one task computes every target's loss (fix 2);
- `aggregation="none"`: simulations only (test A);
- `placement="data"`: aggregations pinned to the worker holding most replicate bytes (fix 1);
- one target or two (test B) by the `targets` list.
"""

import hashlib
import json
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import SimError
from . import tasks

log = logging.getLogger("stallscope.calibration.job")

AGGREGATIONS = ("per-target", "multi-target", "none")
PLACEMENTS = ("any", "data")
# Consecutive failed trials (across threads) after which the job gives up: the cluster is gone.
MAX_CONSECUTIVE_FAILURES = 5


@dataclass(frozen=True)
class CalibrationConfig:
    scheduler: str
    run_id: str
    targets: tuple = ("incidence", "prevalence")
    aggregation: str = "per-target"
    placement: str = "any"
    aggregation_resource: bool = False
    n_replicates: int = 10
    sim_cpu_ms: float = 200.0
    agg_cpu_ms: float = 0.0
    n_outputs: int = 7
    output_kb: float = 64.0
    sim_leak_mb: float = 0.0
    threads: int | None = None  # default: one per worker, as min(batch_size, workers) upstream
    max_trials: int | None = None
    duration_s: float | None = None
    workers: int = 1
    wait_workers_s: float = 60.0
    trial_timeout_s: float = 600.0
    perf_report_dir: Path | None = None
    seed: int = 0


class Search:
    """A seeded random search with the ask/tell shape of a calibration adapter; thread-safe."""

    def __init__(self, seed: int, max_trials: int | None):
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._max_trials = max_trials
        self.asked = 0
        self.told: dict[str, float] = {}

    def ask(self):
        """(param_id, params), or None once max_trials have been asked."""
        with self._lock:
            if self._max_trials is not None and self.asked >= self._max_trials:
                return None
            self.asked += 1
            params = {"beta": round(self._rng.uniform(0.1, 0.9), 6), "gamma": round(self._rng.uniform(0.05, 0.5), 6)}
            digest = hashlib.sha256(json.dumps([self.asked, params, self._rng.random()]).encode()).hexdigest()
            return digest[:8], params

    def tell(self, param_id: str, loss: float) -> None:
        with self._lock:
            self.told[param_id] = loss


def run_trial(client, config: CalibrationConfig, param_id: str, params: dict) -> float | None:
    """One trial: its simulations and aggregations; the summed loss (None for simulations only)."""
    run_id = config.run_id
    sims = [
        client.submit(tasks.simulate, param_id, params, seed, cpu_ms=config.sim_cpu_ms, n_outputs=config.n_outputs,
                      output_kb=config.output_kb, leak_mb=config.sim_leak_mb, key=f"sim-{run_id}-{param_id}-{seed}",
                      pure=False)
        for seed in range(config.n_replicates)
    ]
    if config.aggregation == "none":
        _gather(client, sims, config.trial_timeout_s)
        return None
    options = {"pure": False}
    if config.aggregation_resource:
        options["resources"] = {"aggregation": 1}
    if config.placement == "data":
        options.update(workers=[_holder_of_most_bytes(client, sims)], allow_other_workers=True)
    common = {"run_id": run_id, "param_id": param_id, "params": params, "cpu_ms": config.agg_cpu_ms}
    if config.aggregation == "multi-target":
        aggs = [client.submit(tasks.aggregate_targets, *sims, targets=list(config.targets), **common,
                              key=f"agg-{run_id}-{param_id}-multi", **options)]
    else:
        aggs = [client.submit(tasks.aggregate, *sims, target=target, **common, key=f"agg-{run_id}-{param_id}-{target}",
                              **options)
                for target in config.targets]
    losses = {}
    for result in _gather(client, aggs, config.trial_timeout_s):
        losses.update(result)
    return sum(losses.values())


def _gather(client, futures, timeout_s):
    """The futures' results; a trial that is not done within timeout_s (workers paused or dying
    over and over) is cancelled and fails with TimeoutError."""
    from distributed import wait

    try:
        wait(futures, timeout=timeout_s)
    except TimeoutError:
        client.cancel(futures)
        raise TimeoutError(f"trial not done within --trial-timeout-s {timeout_s:g}") from None
    return client.gather(futures)


def _holder_of_most_bytes(client, sims) -> str:
    """The worker that holds the most bytes of the trial's replicates (waits for them first)."""
    from distributed import wait

    wait(sims)
    keys = [sim.key for sim in sims]
    sizes = client.nbytes(keys, summary=False)
    held: dict[str, int] = {}
    for key, holders in client.who_has(sims).items():
        for worker in holders:
            held[worker] = held.get(worker, 0) + sizes.get(key, 0)
    return max(sorted(held), key=held.__getitem__)


class TrialLoop:
    """The trial threads and what they measured."""

    def __init__(self, client, config: CalibrationConfig, threads: int):
        self.client = client
        self.config = config
        self.threads = threads
        self.search = Search(config.seed, config.max_trials)
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.completed = 0
        self.failed = 0
        self._consecutive_failures = 0
        self.last_error: str | None = None
        self._deadline = None if config.duration_s is None else time.monotonic() + config.duration_s

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="trial") as pool:
            for future in [pool.submit(self._worker_loop) for _ in range(self.threads)]:
                future.result()

    def _worker_loop(self) -> None:
        while not self.stop.is_set():
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return
            asked = self.search.ask()
            if asked is None:
                return
            param_id, params = asked
            started = time.perf_counter()
            try:
                loss = run_trial(self.client, self.config, param_id, params)
            except Exception as error:  # a trial's task failed (e.g. KilledWorker): the loop goes on
                self._failed(param_id, error)
                continue
            self.search.tell(param_id, loss)
            with self._lock:
                self.completed += 1
                self._consecutive_failures = 0
            log.info("trial done param_id=%s wall_ms=%.1f loss=%s", param_id, (time.perf_counter() - started) * 1000.0,
                     "n/a" if loss is None else f"{loss:.6f}")

    def _failed(self, param_id: str, error: Exception) -> None:
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
        log.warning("trial failed param_id=%s: %s", param_id, reason)
        with self._lock:
            self.failed += 1
            self._consecutive_failures += 1
            self.last_error = reason
            if self._consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                self.stop.set()


def run_calibration(config: CalibrationConfig) -> int:
    """Connects, waits for the workers, runs the trial loop (inside a performance report when
    asked); returns the exit code."""
    from distributed import Client, performance_report

    try:
        client = Client(config.scheduler, timeout=config.wait_workers_s)
    except (OSError, TimeoutError) as error:
        raise SimError(f"cannot reach the Dask scheduler at {config.scheduler}: {error}") from None
    with client:
        try:
            client.wait_for_workers(config.workers, timeout=config.wait_workers_s)
        except TimeoutError:
            found = len(client.scheduler_info(n_workers=-1)["workers"])
            raise SimError(f"{found} Dask worker(s) joined {config.scheduler} within {config.wait_workers_s:g} s, "
                           f"--workers asks for {config.workers}: check the workers' logs") from None
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        threads = config.threads or workers
        log.info("calibration start run_id=%s scheduler=%s workers=%d threads=%d targets=%s aggregation=%s "
                 "placement=%s n_replicates=%d", config.run_id, config.scheduler, workers, threads,
                 ",".join(config.targets), config.aggregation, config.placement, config.n_replicates)
        loop = TrialLoop(client, config, threads)
        started = time.perf_counter()
        if config.perf_report_dir is not None:
            report = config.perf_report_dir / f"dask-perf-report-{config.run_id}.html"
            with performance_report(filename=os.fspath(report)):
                loop.run()
            log.info("performance report: %s", report)
        else:
            loop.run()
        elapsed = time.perf_counter() - started
    log.info("calibration done: %d trials (%d failed) in %.1f s: %.2f trials/min", loop.completed, loop.failed,
             elapsed, loop.completed / elapsed * 60.0 if elapsed > 0 else 0.0)
    if loop.stop.is_set():
        raise SimError(f"{MAX_CONSECUTIVE_FAILURES} trials in a row failed, last: {loop.last_error}")
    if loop.completed == 0:
        raise SimError(f"no trial completed ({loop.failed} failed, last: {loop.last_error})")
    return 0
