"""`stallscope-sim prompts` and `stallscope-sim batch-job`: the Ray Data batch-inference workload
(docs/ray.md)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from dataclasses import fields
from pathlib import Path

from ..errors import SimError
from .config import EngineConfig

COMMANDS = ("prompts", "batch-job", "gateway", "submit")
ADDRESS = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")


def _address(text: str) -> str:
    if not ADDRESS.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Ray address HOST:PORT")
    return text


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1")
    return value


def add_parsers(commands, number_types) -> None:
    """The two subcommands; `number_types` are stallscope-sim's validated number parsers."""
    positive_int, non_negative_float, positive_float = number_types
    prompts = commands.add_parser("prompts", help="write the batch job's input prompts (JSONL)")
    prompts.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    prompts.add_argument("--num-samples", type=positive_int, default=1000, help="prompts (default %(default)s)")
    prompts.add_argument("--words-min", type=positive_int, default=8, help="shortest prompt in words (default %(default)s)")
    prompts.add_argument("--words-max", type=positive_int, default=120, help="longest prompt in words (default %(default)s)")
    prompts.add_argument("--seed", type=int, default=0, help="seed of the prompts (default %(default)s)")

    job = commands.add_parser(
        "batch-job", help="the Ray Data batch-inference job on a Ray cluster (needs the ray extra)",
        description="Read prompts, tokenise them, run them through an actor pool of miniature vLLM engines "
                    "with Ray Data's map_batches, write Parquet results; log the progress and SLA lines.")
    job.add_argument("--address", type=_address, required=True, help="the Ray cluster's GCS, HOST:PORT")
    job.add_argument("--input", type=Path, required=True, help="prompts, JSONL (id, prompt) or Parquet")
    job.add_argument("--output-dir", type=Path, required=True, help=f"where {'results.parquet'} goes")
    job.add_argument("--batch-size", type=positive_int, default=32, help="rows per engine call (default %(default)s)")
    job.add_argument("--concurrency", type=positive_int, default=1, help="engine actors (default %(default)s)")
    job.add_argument("--max-concurrent-batches", type=positive_int, default=1,
                     help="batches one engine actor runs at once (default %(default)s)")
    job.add_argument("--engine-num-cpus", type=positive_float, default=1.0,
                     help="CPUs one engine actor reserves (default %(default)s)")
    job.add_argument("--preprocess-ms", type=non_negative_float, default=0.0,
                     help="extra CPU time per row in the tokenisation stage: a slow preprocessing stage (default %(default)s)")
    job.add_argument("--output-len-min", type=positive_int, default=16,
                     help="shortest answer the model would write, in tokens (default %(default)s)")
    job.add_argument("--output-len-max", type=positive_int, default=192,
                     help="longest answer the model would write, in tokens (default %(default)s)")
    job.add_argument("--slow-worker-factor", type=positive_float, default=1.0,
                     help="the first engine actor's steps cost this many times more: one slow worker (default %(default)s)")
    job.add_argument("--sla-hours", type=positive_float, default=24.0, help="the job's SLA (default %(default)s)")
    job.add_argument("--started-at", type=float, default=None,
                     help="epoch seconds the SLA clock started (the gateway's submission; default: now)")
    job.add_argument("--progress-interval-s", type=positive_float, default=10.0,
                     help="seconds between progress lines (default %(default)s)")
    job.add_argument("--expect-nodes", type=positive_int, default=1,
                     help="wait until this many Ray nodes are alive before starting (default %(default)s)")
    job.add_argument("--expected-hosts", default="",
                     help="the hosts those nodes run on, named when some are missing")
    job.add_argument("--wait-nodes-s", type=positive_float, default=120.0,
                     help="how long to wait for them (default %(default)s)")
    engine = job.add_argument_group("engine", "the miniature vLLM engine of each actor (vLLM's names)")
    defaults = EngineConfig()
    engine.add_argument("--gpu-memory-mb", type=positive_float, default=defaults.gpu_memory_mb,
                        help="the device's memory (default %(default)s)")
    engine.add_argument("--gpu-memory-utilization", type=_fraction, default=defaults.gpu_memory_utilization,
                        help="share of it the engine takes: weights + KV cache (default %(default)s)")
    engine.add_argument("--model-mb", type=positive_float, default=defaults.model_mb,
                        help="model size: its weights' memory and each step's compute (default %(default)s)")
    engine.add_argument("--kv-kb-per-token", type=positive_float, default=defaults.kv_kb_per_token,
                        help="KV cache one token holds (default %(default)s)")
    engine.add_argument("--block-size", type=positive_int, default=defaults.block_size,
                        help="tokens per KV-cache block (default %(default)s)")
    engine.add_argument("--max-num-seqs", type=positive_int, default=defaults.max_num_seqs,
                        help="requests running at once (default %(default)s)")
    engine.add_argument("--max-num-batched-tokens", type=positive_int, default=defaults.max_num_batched_tokens,
                        help="tokens per engine step (default %(default)s)")
    engine.add_argument("--max-tokens", type=positive_int, default=defaults.max_tokens,
                        help="sampling_params.max_tokens (default %(default)s)")
    engine.add_argument("--fail-rate", type=_fraction, default=defaults.fail_rate,
                        help="share of requests that fail: injected failures (default %(default)s)")
    engine.add_argument("--stats-interval-s", type=positive_float, default=defaults.stats_interval_s,
                        help="seconds between the engine's stats lines, vLLM's VLLM_LOG_STATS_INTERVAL (default %(default)s)")


def _redis_url(text: str) -> str:
    if not re.match(r"^(rediss?://[^\s/]+(/\d+)?|unix:///\S+)$", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a redis://HOST:PORT/DB or unix:///PATH URL")
    return text


def add_gateway_parser(commands, positive_float, non_negative_int) -> None:
    gateway = commands.add_parser(
        "gateway", help="the batch service's HTTP gateway: a Redis job queue that runs batch-job (needs the "
                        "sim and ray extras)")
    gateway.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    gateway.add_argument("--port", type=non_negative_int, default=8000,
                         help="port (default %(default)s; 0: any free port, logged)")
    gateway.add_argument("--redis-url", type=_redis_url, default="redis://127.0.0.1:6379/0",
                         help="the job queue (default %(default)s)")
    gateway.add_argument("--ray-address", type=_address, required=True, help="the Ray cluster's GCS, HOST:PORT")
    gateway.add_argument("--datasets-dir", type=Path, required=True,
                         help="DATASET.jsonl / DATASET.parquet; a missing dataset is generated there")
    gateway.add_argument("--output-dir", type=Path, required=True, help="each job's results go to OUTPUT_DIR/<job id>/")
    gateway.add_argument("--logs-dir", type=Path, required=True, help="each job's log: LOGS_DIR/<job id>.log")
    gateway.add_argument("--progress-interval-s", type=positive_float, default=10.0,
                         help="the jobs' progress interval (default %(default)s)")
    gateway.add_argument("--job-args", default="",
                         help="more batch-job flags for every job, one shell-quoted string (batch size, knobs)")


def _http_url(text: str) -> str:
    if not re.match(r"^https?://[^\s/]+$", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http://HOST:PORT URL")
    return text


def add_submit_parser(commands, positive_int, positive_float) -> None:
    sub = commands.add_parser("submit", help="submit one job to the gateway and follow it to its end")
    sub.add_argument("--gateway", type=_http_url, required=True, help="the gateway, http://HOST:PORT")
    sub.add_argument("--dataset", default="prompts", help="dataset name (default %(default)s)")
    sub.add_argument("--num-samples", type=positive_int, default=1000, help="prompts (default %(default)s)")
    sub.add_argument("--sla-hours", type=positive_float, default=24.0, help="the job's SLA (default %(default)s)")
    sub.add_argument("--poll-s", type=positive_float, default=2.0, help="seconds between GET /jobs/{id} (default %(default)s)")
    sub.add_argument("--timeout-s", type=positive_float, default=86400.0,
                     help="fail if the job has not ended by then (default %(default)s)")
    sub.add_argument("--shutdown-after", action="store_true",
                     help="then POST /shutdown-graceful (the gateway exits once nothing runs)")


def run(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> int:
    if ns.command == "prompts":
        if ns.words_min > ns.words_max:
            parser.error(f"--words-min {ns.words_min} is above --words-max {ns.words_max}")
        from .prompts import write_prompts
        count = write_prompts(ns.out, ns.num_samples, ns.words_min, ns.words_max, ns.seed)
        print(f"wrote {count} prompts to {ns.out}")
        return 0
    if ns.command == "gateway":
        return run_gateway(parser, ns)
    if ns.command == "submit":
        from .submit import submit

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stdout, force=True)
        return submit(ns.gateway, ns.dataset, ns.num_samples, ns.sla_hours, ns.poll_s, ns.timeout_s,
                      ns.shutdown_after)
    if ns.output_len_min > ns.output_len_max:
        parser.error(f"--output-len-min {ns.output_len_min} is above --output-len-max {ns.output_len_max}")
    # Every engine line in the driver's log, without colour codes: Ray deduplicates repeated worker
    # lines by default, which would drop stats lines that happen to repeat.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    try:
        import ray  # noqa: F401 - checked here for a clear message
    except ImportError as error:
        raise SimError(f"batch-job needs Ray Data ({error}): install stallscope[ray]", exit_code=2) from None
    from ..layout import ensure_writable_dir
    from .job import LINE_FORMAT, JobConfig, run_job

    logging.basicConfig(level=logging.INFO, format=LINE_FORMAT, stream=sys.stdout, force=True)
    engine = EngineConfig(**{f.name: getattr(ns, f.name) for f in fields(EngineConfig) if hasattr(ns, f.name)})
    config = JobConfig(
        address=ns.address, input_path=ns.input, output_dir=ensure_writable_dir(ns.output_dir, "--output-dir"),
        engine=engine, batch_size=ns.batch_size, concurrency=ns.concurrency,
        max_concurrent_batches=ns.max_concurrent_batches, engine_num_cpus=ns.engine_num_cpus,
        preprocess_ms=ns.preprocess_ms, output_len_min=ns.output_len_min, output_len_max=ns.output_len_max,
        slow_worker_factor=ns.slow_worker_factor, sla_hours=ns.sla_hours, started_at=ns.started_at,
        progress_interval_s=ns.progress_interval_s, expect_nodes=ns.expect_nodes, expected_hosts=ns.expected_hosts,
        wait_nodes_s=ns.wait_nodes_s)
    return run_job(config)


def run_gateway(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> int:
    import shlex

    try:
        job_args = tuple(shlex.split(ns.job_args))
        import redis  # noqa: F401 - checked here for a clear message
        import starlette  # noqa: F401
    except ValueError as error:
        parser.error(f"--job-args {ns.job_args!r}: {error}")
    except ImportError as error:
        raise SimError(f"gateway needs the sim and ray extras ({error}): install stallscope[sim,ray]",
                       exit_code=2) from None
    from ..logs import setup_logging
    from .gateway import GatewayConfig, serve

    setup_logging()
    return serve(ns.host, ns.port, GatewayConfig(
        ray_address=ns.ray_address, redis_url=ns.redis_url, datasets_dir=ns.datasets_dir.resolve(),
        output_dir=ns.output_dir.resolve(), logs_dir=ns.logs_dir.resolve(), job_args=job_args,
        progress_interval_s=ns.progress_interval_s))
