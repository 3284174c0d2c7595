"""The batch job: a Ray Data pipeline over a real Ray cluster, counted and judged on the driver.

    read (JSONL or Parquet) -> preprocess (chat template, tokenisation; CPU tasks)
      -> map_batches(EngineUDF) over an actor pool (batch_size, concurrency, max_concurrent_batches)
      -> postprocess (finish reason; CPU tasks) -> the driver: Parquet results, progress and SLA lines

The driver consumes the output with `iter_batches` and counts what it received, so its progress
line moves with the job (the service's original job counted inside a remote postprocess function, whose
counters the driver never saw). Every `progress_interval_s` it logs the service's progress line and,
when the ETA exceeds the time left, its `SLA AT RISK!` line.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cpu import burn_cpu
from ..errors import SimError
from .config import EngineConfig, EngineConfigError
from .engine import MiniEngine, Request, configure_logging

log = logging.getLogger("stallscope.batch.job")
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RESULTS_FILE = "results.parquet"
# Qwen2.5's chat template (the service's model), for the prompt the engine would see.
CHAT_TEMPLATE = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")
TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class JobConfig:
    address: str                         # the Ray cluster, HOST:GCS_PORT
    input_path: Path                     # JSONL or Parquet with `id` and `prompt`
    output_dir: Path
    engine: EngineConfig
    batch_size: int = 32                 # rows per engine call (Ray Data's batch_size)
    concurrency: int = 1                 # engine actors
    max_concurrent_batches: int = 1      # batches one actor runs at once
    engine_num_cpus: float = 1.0
    preprocess_ms: float = 0.0           # extra CPU per row in the tokenisation stage (a slow stage)
    output_len_min: int = 16             # what the model would write, by request id
    output_len_max: int = 192
    slow_worker_factor: float = 1.0      # the first engine actor's steps cost this many times more
    sla_hours: float = 24.0
    started_at: float | None = None      # epoch seconds the SLA clock started (the gateway's submission)
    progress_interval_s: float = 10.0
    expect_nodes: int = 1                # wait until this many Ray nodes are alive
    expected_hosts: str = ""             # which hosts those are, for the message when some are missing
    wait_nodes_s: float = 120.0


def wanted_tokens(request_id: str, low: int, high: int) -> int:
    """How long the model's answer to a request is: a stable function of its id."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low + 1)


def preprocess(row: dict, *, preprocess_ms: float, output_len_min: int, output_len_max: int) -> dict:
    """The tokenisation stage: apply the chat template, count its tokens (words and punctuation)."""
    text = CHAT_TEMPLATE.format(prompt=row["prompt"])
    if preprocess_ms:
        burn_cpu(preprocess_ms)
    request_id = str(row["id"])
    return {"id": request_id, "prompt_tokens": len(TOKEN.findall(text)),
            "wanted_tokens": wanted_tokens(request_id, output_len_min, output_len_max)}


def postprocess(batch: dict) -> dict:
    """The service's postprocess: one result per request, with vLLM's finish reasons."""
    reasons = np.where(batch["error"] != "", "error",
                       np.where(batch["generated_tokens"] >= batch["max_tokens"], "length", "stop"))
    return {**batch, "finish_reason": reasons}


class EngineUDF:
    """One engine per actor, as Ray Data's vLLM stage keeps one vLLM engine per actor."""

    def __init__(self, engine: dict, ordinals, slow_worker_factor: float):
        import ray

        configure_logging()
        self.ordinal = ray.get(ordinals.next.remote())
        config = EngineConfig(**engine)
        if self.ordinal == 0 and slow_worker_factor > 1:
            config = EngineConfig(**{**engine, "slowdown": slow_worker_factor})
        context = ray.get_runtime_context()
        self.worker = f"{ray.util.get_node_ip_address()}:{context.get_actor_id()[:8]}"
        self.node_id = context.get_node_id()
        self.engine = MiniEngine(config)
        self.engine.log_startup()
        self.engine.start()

    def __call__(self, batch: dict) -> dict:
        requests = [Request(str(rid), int(prompt), int(wanted)) for rid, prompt, wanted in
                    zip(batch["id"], batch["prompt_tokens"], batch["wanted_tokens"])]
        self.engine.submit(requests)
        return {
            "id": np.array([r.request_id for r in requests], dtype=object),
            "prompt_tokens": np.array([r.prompt_tokens for r in requests], dtype=np.int64),
            "generated_tokens": np.array([r.generated for r in requests], dtype=np.int64),
            "max_tokens": np.full(len(requests), self.engine.config.max_tokens, dtype=np.int64),
            "latency_s": np.array([r.latency_s() for r in requests], dtype=np.float64),
            "ttft_s": np.array([(r.first_token_at or r.finished_at) - r.arrival for r in requests],
                               dtype=np.float64),
            "preemptions": np.array([r.preemptions for r in requests], dtype=np.int64),
            "error": np.array([r.error or "" for r in requests], dtype=object),
            "worker": np.array([self.worker] * len(requests), dtype=object),
            "node_id": np.array([self.node_id] * len(requests), dtype=object),
        }


class Progress:
    """The driver's counts and the service's progress and SLA lines, logged by a thread."""

    def __init__(self, total: int, config: JobConfig):
        self.total = total
        self.sla_s = config.sla_hours * 3600
        self.start = config.started_at if config.started_at is not None else time.time()
        self.interval = config.progress_interval_s
        self.completed = self.failed = self.tokens = 0
        self.latencies: list[float] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def add(self, table) -> None:
        errors = table.column("error").to_pylist()
        failed = sum(1 for error in errors if error)
        with self._lock:
            self.failed += failed
            self.completed += len(errors) - failed
            self.tokens += sum(table.column("generated_tokens").to_pylist())
            self.latencies += [latency for latency, error in
                               zip(table.column("latency_s").to_pylist(), errors) if not error]

    def start_logging(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            self.log_line()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def log_line(self) -> None:
        with self._lock:
            done, failed, tokens = self.completed, self.failed, self.tokens
            latencies = list(self.latencies)
        elapsed = max(time.time() - self.start, 1e-9)
        finished = done + failed
        # The service's ETA: what is left at the rate so far; unknown until a request has finished.
        eta_h = (self.total - finished) / (finished / elapsed) / 3600 if finished else None
        log.info("Progress: %.1f%% | Completed: %d/%d | Throughput: %.2f req/s | Tokens/sec: %.0f | "
                 "ETA: %s | Failed: %d", 100.0 * finished / self.total if self.total else 100.0, done,
                 self.total, done / elapsed, tokens / elapsed, "n/a" if eta_h is None else f"{eta_h:.3f}h",
                 failed)
        if latencies:
            log.info("Latency: p50 %.3f s | p95 %.3f s | p99 %.3f s", percentile(latencies, 50),
                     percentile(latencies, 95), percentile(latencies, 99))
        remaining_h = (self.sla_s - elapsed) / 3600
        if finished >= self.total:
            return
        if remaining_h < 0:
            log.critical("SLA VIOLATED: Job exceeded %g-hour window. Elapsed: %.3fh",
                         self.sla_s / 3600, elapsed / 3600)
        elif eta_h is not None and eta_h > remaining_h:
            log.warning("SLA AT RISK! ETA %.3fh > Remaining %.3fh", eta_h, remaining_h)
        elif elapsed > 0.7 * self.sla_s:
            log.warning("SLA APPROACHING: %.3fh/%gh used. ETA: %s", elapsed / 3600, self.sla_s / 3600,
                        "n/a" if eta_h is None else f"{eta_h:.3f}h")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def wait_for_nodes(ray, expected: int, hosts: str, timeout_s: float) -> None:
    """Until `expected` nodes are alive; else fail naming the expected hosts and the nodes alive."""
    end = time.monotonic() + timeout_s
    while True:
        alive = sorted(f"{node['NodeManagerHostname']} ({node['NodeManagerAddress']})"
                       for node in ray.nodes() if node["Alive"])
        if len(alive) >= expected:
            log.info("cluster ready: %d node(s) alive: %s", len(alive), ", ".join(alive))
            return
        if time.monotonic() > end:
            raise SimError(f"{len(alive)} of {expected} Ray nodes joined within {timeout_s:g} s"
                           f"{' (expected: ' + hosts + ')' if hosts else ''}; alive: {', '.join(alive) or 'none'}; "
                           f"check `ray start` on the missing hosts and its log")
        time.sleep(1)


def read_prompts(ray, path: Path):
    if path.suffix == ".parquet" or path.is_dir():
        return ray.data.read_parquet(str(path))
    return ray.data.read_json(str(path), lines=True)


def count_rows(path: Path) -> int:
    """The job's total, read on the driver (a Ray Data count() would run a whole read first)."""
    if path.suffix == ".parquet" or path.is_dir():
        import pyarrow.dataset

        return pyarrow.dataset.dataset(str(path), format="parquet").count_rows()
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def run_job(config: JobConfig) -> int:
    import pyarrow.parquet as pq
    import ray

    try:
        config.engine.num_blocks()
    except EngineConfigError as error:
        raise SimError(str(error), exit_code=2) from None
    if not config.input_path.exists():
        raise SimError(f"--input {config.input_path} does not exist; generate one with "
                       f"`stallscope-sim prompts --out FILE.jsonl`", exit_code=2)
    end = time.monotonic() + config.wait_nodes_s
    while True:  # a busy GCS may not answer Ray's first connection attempt in time
        try:
            ray.init(address=config.address, log_to_driver=True, configure_logging=False)
            break
        except (ConnectionError, RuntimeError) as error:
            ray.shutdown()  # undo what the failed attempt set up, so that the next one starts clean
            if time.monotonic() > end:
                raise SimError(f"cannot join the Ray cluster at {config.address} within --wait-nodes-s "
                               f"{config.wait_nodes_s:g}: {error}") from None
            log.warning("cannot join the Ray cluster at %s yet (%s); retrying", config.address, error)
            time.sleep(2)
    wait_for_nodes(ray, config.expect_nodes, config.expected_hosts, max(1.0, end - time.monotonic()))

    @ray.remote(num_cpus=0)
    class Ordinals:
        """Numbers the engine actors as they start, so that one of them can be the slow one."""

        def __init__(self):
            self.count = -1

        def next(self) -> int:
            self.count += 1
            return self.count

    prompts = read_prompts(ray, config.input_path)
    total = count_rows(config.input_path)
    log.info("job start: %d prompts from %s, batch_size=%d concurrency=%d max_concurrent_batches=%d "
             "max_tokens=%d sla_hours=%g", total, config.input_path, config.batch_size, config.concurrency,
             config.max_concurrent_batches, config.engine.max_tokens, config.sla_hours)
    pipeline = (
        prompts
        .map(preprocess, fn_kwargs=dict(preprocess_ms=config.preprocess_ms, output_len_min=config.output_len_min,
                                        output_len_max=config.output_len_max))
        .map_batches(EngineUDF, batch_size=config.batch_size, batch_format="numpy", num_cpus=config.engine_num_cpus,
                     compute=ray.data.ActorPoolStrategy(
                         size=config.concurrency, max_tasks_in_flight_per_actor=config.max_concurrent_batches),
                     # Ray Data's vLLM stage overlaps batches in one actor the same way.
                     ray_remote_args_fn=lambda: {"max_concurrency": config.max_concurrent_batches},
                     fn_constructor_kwargs=dict(engine=asdict(config.engine), ordinals=Ordinals.remote(),
                                                slow_worker_factor=config.slow_worker_factor))
        .map_batches(postprocess, batch_format="numpy")
    )
    config.output_dir.mkdir(parents=True, exist_ok=True)
    results = config.output_dir / RESULTS_FILE
    progress = Progress(total, config)
    progress.start_logging()
    writer = None
    try:
        for table in pipeline.iter_batches(batch_size=None, batch_format="pyarrow"):
            if writer is None:
                writer = pq.ParquetWriter(results.with_suffix(".parquet.tmp"), table.schema)
            writer.write_table(table)
            progress.add(table)
    finally:
        progress.stop()
        if writer is not None:
            writer.close()
    if writer is not None:
        results.with_suffix(".parquet.tmp").replace(results)
    progress.log_line()
    elapsed = time.time() - progress.start
    log.info("job done: %d completed, %d failed of %d in %.1f s: %.2f req/s, %.0f tokens/s; results in %s",
             progress.completed, progress.failed, total, elapsed, progress.completed / elapsed,
             progress.tokens / elapsed, results if writer is not None else "none (no rows)")
    print(pipeline.stats(), flush=True)
    return 0 if progress.completed else 1
