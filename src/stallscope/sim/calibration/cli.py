"""`stallscope-sim calibrate --scheduler tcp://HOST:PORT ...`: the calibration job (docs/dask.md)."""

import argparse
import os
import re
import secrets
from pathlib import Path

from ..errors import SimError
from ..layout import ensure_writable_dir

NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,52}$")


def _targets(text: str) -> tuple:
    names = tuple(text.split(","))
    bad = [name for name in names if not NAME.match(name)]
    if bad or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct target names of letters, digits and '_', "
                                         "separated by commas")
    return names


def _run_id(text: str) -> str:
    if not RUN_ID.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a run id (letters, digits, '.', '_', '-')")
    return text


def _scheduler(text: str) -> str:
    if not re.match(r"^(tcp|tls)://[^/\s]+:\d+$", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a scheduler address tcp://HOST:PORT")
    return text


def add_parser(commands, number_types) -> None:
    """The `calibrate` subcommand; `number_types` are stallscope-sim's validated number parsers."""
    positive_int, non_negative_float, positive_float = number_types
    sub = commands.add_parser(
        "calibrate", help="the Dask calibration job of docs/dask.md (needs the dask extra)",
        description="Run the calibration trial loop against a Dask scheduler. ENABLE_PERF_REPORT=1 writes "
                    "distributed's performance report to --perf-report-dir.")
    sub.add_argument("--scheduler", type=_scheduler, required=True, help="the scheduler, tcp://HOST:PORT")
    sub.add_argument("--run-id", type=_run_id, default=None, help="run id in task keys and AGG_TIMING (default: random)")
    sub.add_argument("--workers", type=positive_int, default=1,
                     help="wait for this many Dask workers before the first trial (default %(default)s)")
    sub.add_argument("--wait-workers-s", type=positive_float, default=60.0,
                     help="how long to wait for the scheduler and the workers (default %(default)s)")
    sub.add_argument("--trial-timeout-s", type=positive_float, default=600.0,
                     help="a trial not done within this long fails and is cancelled (default %(default)s)")
    sub.add_argument("--targets", type=_targets, default=("incidence", "prevalence"),
                     help="calibration targets, comma-separated: one target or two is test B (default incidence,prevalence)")
    sub.add_argument("--aggregation", choices=["per-target", "multi-target", "none"], default="per-target",
                     help="one task per target, one task for all targets (fix 2), or simulations only "
                          "(test A) (default %(default)s)")
    sub.add_argument("--placement", choices=["any", "data"], default="any",
                     help="where aggregations run: wherever the scheduler puts them, or on the worker holding "
                          "most replicate bytes (fix 1) (default %(default)s)")
    sub.add_argument("--aggregation-resource", action="store_true",
                     help="submit aggregations with resources={'aggregation': 1} (workers started with "
                          "--resources aggregation=1)")
    sub.add_argument("--n-replicates", type=positive_int, default=10, help="simulations per trial (default %(default)s)")
    sub.add_argument("--sim-cpu-ms", type=non_negative_float, default=200.0,
                     help="CPU time one simulation burns (default %(default)s)")
    sub.add_argument("--agg-cpu-ms", type=non_negative_float, default=0.0,
                     help="CPU time per target an aggregation burns besides reading every byte (default %(default)s)")
    sub.add_argument("--n-outputs", type=positive_int, default=7, help="output tables per simulation (default %(default)s)")
    sub.add_argument("--output-kb", type=non_negative_float, default=64.0,
                     help="size of each output table in KiB (default %(default)s; the original workload caps it at 512)")
    sub.add_argument("--sim-leak-mb", type=non_negative_float, default=0.0,
                     help="memory each simulation leaves behind in its worker (unmanaged), to push workers "
                          "past their memory limit (default %(default)s)")
    sub.add_argument("--threads", type=positive_int, default=None,
                     help="concurrent trials (default: one per worker, as the seed)")
    sub.add_argument("--max-trials", type=positive_int, default=None, help="stop after this many trials")
    sub.add_argument("--duration-s", type=positive_float, default=None, help="stop starting trials after this long")
    sub.add_argument("--perf-report-dir", type=Path, default=Path("."),
                     help="where ENABLE_PERF_REPORT=1 writes dask-perf-report-<run_id>.html (default: the current dir)")
    sub.add_argument("--seed", type=int, default=0, help="seed of the parameter search (default %(default)s)")


def run(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> int:
    if ns.max_trials is None and ns.duration_s is None:
        parser.error("give a budget: --max-trials N and/or --duration-s S")
    try:
        import distributed  # noqa: F401 - checked here for a clear message
    except ImportError as error:
        raise SimError(f"calibrate needs dask.distributed ({error}): install stallscope[dask]", exit_code=2) from None
    from .trials import CalibrationConfig, run_calibration
    from .worker_logging import configure

    configure()
    perf_report_dir = None
    if os.environ.get("ENABLE_PERF_REPORT") == "1":
        perf_report_dir = ensure_writable_dir(ns.perf_report_dir, "--perf-report-dir")
    config = CalibrationConfig(
        scheduler=ns.scheduler, run_id=ns.run_id or secrets.token_hex(3), targets=ns.targets,
        aggregation=ns.aggregation, placement=ns.placement, aggregation_resource=ns.aggregation_resource,
        n_replicates=ns.n_replicates, sim_cpu_ms=ns.sim_cpu_ms, agg_cpu_ms=ns.agg_cpu_ms, n_outputs=ns.n_outputs,
        output_kb=ns.output_kb, sim_leak_mb=ns.sim_leak_mb, threads=ns.threads, max_trials=ns.max_trials,
        duration_s=ns.duration_s, workers=ns.workers, wait_workers_s=ns.wait_workers_s,
        trial_timeout_s=ns.trial_timeout_s,
        perf_report_dir=perf_report_dir, seed=ns.seed)
    return run_calibration(config)
