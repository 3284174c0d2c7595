"""`stallscope-sim gateway`: the service's HTTP gateway, with a job queue in Redis that really runs jobs.

    POST /start {"dataset", "num_samples", "sla_hours"}  -> queued (the job id, its queue position)
    GET  /jobs/{id}     progress, throughput, tokens/s, latency p95, ETA, SLA state, exit code
    GET  /sla/status    every job's progress, ETA, SLA time left and state (the service's shape)
    GET  /queue         queued job ids and the running one
    GET  /health        the gateway and its Redis
    GET  /metrics       Prometheus text, names under `stallscope_batch_` (not Ray Data's `ray_data_`)
    POST /shutdown-graceful  refuse new jobs, finish the running one, then exit

One runner in the gateway takes jobs from the Redis list in order and runs each as a
`stallscope-sim batch-job` subprocess against the Ray cluster, its log in `--logs-dir/<id>.log` and
its results in `--output-dir/<id>/`. The gateway follows that log and keeps the driver's progress,
latency and SLA lines in the job's Redis hash, so the figures are the driver's own counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from ..errors import SimError
from ..inference import listen
from .prompts import write_prompts

log = logging.getLogger("stallscope.batch.gateway")
DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
METRIC_PREFIX = "stallscope_batch_"
FOLLOW_S = 0.5
# The driver's lines (job.py), after its log prefix.
PROGRESS = re.compile(r"Progress: (?P<pct>[\d.]+)% \| Completed: (?P<completed>\d+)/(?P<total>\d+) \| "
                      r"Throughput: (?P<rps>[\d.]+) req/s \| Tokens/sec: (?P<tps>[\d.]+) \| "
                      r"ETA: (?:(?P<eta>[\d.]+)h|n/a) \| Failed: (?P<failed>\d+)")
LATENCY = re.compile(r"Latency: p50 (?P<p50>[\d.]+) s \| p95 (?P<p95>[\d.]+) s \| p99 (?P<p99>[\d.]+) s")
# The engines' lines, forwarded by Ray into the driver's log (engine.py, in vLLM's words).
KV_USAGE = re.compile(r"Engine \d{3}: .*GPU KV cache usage: (?P<usage>[\d.]+)%")
PREEMPTED = "is preempted by PreemptionMode."
SLA_LINES = (("SLA VIOLATED", "violated"), ("SLA AT RISK!", "at_risk"), ("SLA APPROACHING", "approaching"))


@dataclass(frozen=True)
class GatewayConfig:
    ray_address: str
    redis_url: str
    datasets_dir: Path
    output_dir: Path
    logs_dir: Path
    job_args: tuple = ()              # more `batch-job` flags (batch size, concurrency, knobs)
    progress_interval_s: float = 10.0
    namespace: str = "stallscope"     # Redis key prefix
    redis_wait_s: float = 30.0        # how long to wait for Redis at start-up


class Gateway:
    def __init__(self, config: GatewayConfig, redis):
        self.config = config
        self.redis = redis
        self.accepting = True
        self.running: str | None = None
        self.stop_when_idle = asyncio.Event()

    def key(self, *parts: str) -> str:
        return ":".join((self.config.namespace, *parts))

    # Jobs -----------------------------------------------------------------------------------
    async def enqueue(self, dataset: str, num_samples: int, sla_hours: float) -> dict:
        job_id = f"job-{secrets.token_hex(4)}"
        record = {"job_id": job_id, "status": "queued", "dataset": dataset, "num_samples": num_samples,
                  "sla_hours": sla_hours, "submitted_at": time.time()}
        await self.redis.hset(self.key("job", job_id), mapping={k: json.dumps(v) for k, v in record.items()})
        await self.redis.rpush(self.key("jobs"), job_id)
        position = await self.redis.rpush(self.key("queue"), job_id)
        log.info("job %s queued: dataset=%s num_samples=%d sla_hours=%g (position %d)", job_id, dataset,
                 num_samples, sla_hours, position)
        return {**record, "queue_position": position}

    async def job(self, job_id: str) -> dict | None:
        raw = await self.redis.hgetall(self.key("job", job_id))
        if not raw:
            return None
        record = {k.decode(): json.loads(v) for k, v in raw.items()}
        return {**record, **sla_state(record)}

    async def jobs(self) -> list[dict]:
        ids = [i.decode() for i in await self.redis.lrange(self.key("jobs"), 0, -1)]
        return [job for job in [await self.job(i) for i in ids] if job]

    async def update(self, job_id: str, **fields) -> None:
        await self.redis.hset(self.key("job", job_id), mapping={k: json.dumps(v) for k, v in fields.items()})

    def input_for(self, dataset: str, num_samples: int) -> Path:
        """The dataset's file in --datasets-dir, or `num_samples` generated prompts under its name."""
        for suffix in (".jsonl", ".parquet"):
            path = self.config.datasets_dir / f"{dataset}{suffix}"
            if path.exists():
                return path
        path = self.config.datasets_dir / f"{dataset}-{num_samples}.generated.jsonl"
        if not path.exists():
            write_prompts(path, num_samples, 8, 120, seed=0)
        return path

    async def run_next(self) -> bool:
        """Take the next queued job and run it to its end; False when the queue is empty."""
        raw = await self.redis.lpop(self.key("queue"))
        if raw is None:
            return False
        job_id = raw.decode()
        job = await self.job(job_id)
        self.running = job_id
        log_path = self.config.logs_dir / f"{job_id}.log"
        try:
            input_path = await asyncio.to_thread(self.input_for, job["dataset"], job["num_samples"])
            argv = [sys.executable, "-m", "stallscope.sim", "batch-job", "--address", self.config.ray_address,
                    "--input", str(input_path), "--output-dir", str(self.config.output_dir / job_id),
                    "--sla-hours", str(job["sla_hours"]), "--started-at", str(job["submitted_at"]),
                    "--progress-interval-s", str(self.config.progress_interval_s), *self.config.job_args]
            await self.update(job_id, status="running", started_at=time.time(), log=str(log_path))
            log.info("job %s running: %s", job_id, shlex.join(argv))
            with open(log_path, "ab") as out:
                proc = await asyncio.create_subprocess_exec(*argv, stdout=out, stderr=asyncio.subprocess.STDOUT)
            try:
                follower = asyncio.create_task(self.follow(job_id, log_path, proc))
                code = await proc.wait()
                await follower
            finally:
                if proc.returncode is None:  # the gateway is stopping: the job stops with it
                    proc.terminate()
                    await proc.wait()
        except (OSError, SimError) as error:
            await self.update(job_id, status="failed", error=str(error), finished_at=time.time())
            log.error("job %s failed to start: %s", job_id, error)
            return True
        finally:
            self.running = None
        status = "completed" if code == 0 else "failed"
        await self.update(job_id, status=status, exit_code=code, finished_at=time.time())
        log.info("job %s %s (exit code %d); log %s", job_id, status, code, log_path)
        return True

    async def follow(self, job_id: str, log_path: Path, proc) -> None:
        """Keep the driver's latest progress, latency and SLA lines in the job's record."""
        offset = preemptions = 0
        while True:
            done = proc.returncode is not None
            with open(log_path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]
            offset += len(complete)
            fields = parse_driver_lines(complete.decode(errors="replace"))
            if fields.get("preemptions"):
                preemptions += fields["preemptions"]
                fields["preemptions"] = preemptions
            if fields:
                await self.update(job_id, **fields)
            if done:
                return
            await asyncio.sleep(FOLLOW_S)

    async def run_queue(self) -> None:
        while True:
            if not self.accepting and self.running is None:
                self.stop_when_idle.set()
                return
            if not await self.run_next():
                await asyncio.sleep(FOLLOW_S)


def parse_driver_lines(text: str) -> dict:
    """The latest figures in these lines; `kv_cache_usage_pct` is the fullest engine's cache in them and
    `preemptions` the count of preemption lines (the caller adds them up)."""
    fields: dict = {}
    for line in text.splitlines():
        if match := KV_USAGE.search(line):
            fields["kv_cache_usage_pct"] = max(fields.get("kv_cache_usage_pct", 0.0), float(match["usage"]))
            continue
        if PREEMPTED in line:
            fields["preemptions"] = fields.get("preemptions", 0) + 1
            continue
        if match := PROGRESS.search(line):
            fields.update(progress_pct=float(match["pct"]), completed=int(match["completed"]),
                          total=int(match["total"]), failed=int(match["failed"]),
                          throughput_rps=float(match["rps"]), tokens_per_s=float(match["tps"]),
                          eta_hours=float(match["eta"]) if match["eta"] else None)
        elif match := LATENCY.search(line):
            fields.update(latency_p50_s=float(match["p50"]), latency_p95_s=float(match["p95"]),
                          latency_p99_s=float(match["p99"]))
        else:
            for text_start, state in SLA_LINES:
                if text_start in line:
                    fields["sla_line"] = state
    return fields


def sla_state(job: dict) -> dict:
    """The service's SLA rules on the job's latest figures: time left < 0 violated, ETA > time left at
    risk, more than 70 % of the SLA used approaching, else on track; once ended, met or violated, or
    failed for a job that failed."""
    end = job.get("finished_at") or time.time()
    elapsed_h = (end - job["submitted_at"]) / 3600
    remaining_h = job["sla_hours"] - elapsed_h
    eta = job.get("eta_hours")
    finished = job["status"] in ("completed", "failed")
    if job["status"] == "failed":
        state = "failed"  # no results: the SLA is not met, whatever the time left
    elif finished:
        state = "met" if remaining_h >= 0 else "violated"
    elif remaining_h < 0:
        state = "violated"
    elif eta is not None and eta > remaining_h:
        state = "at_risk"
    elif elapsed_h > 0.7 * job["sla_hours"]:
        state = "approaching"
    else:
        state = "on_track"
    return {"elapsed_hours": round(elapsed_h, 6), "sla_remaining_hours": round(remaining_h, 6), "sla_status": state}


def metrics_text(jobs: list[dict], queue_depth: int) -> str:
    """Prometheus text exposition of the queue and of every known job's latest figures."""
    lines = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
        lines.extend([f"# HELP {METRIC_PREFIX}{name} {help_text}", f"# TYPE {METRIC_PREFIX}{name} {kind}"])
        for labels, value in samples:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{METRIC_PREFIX}{name}{{{label_text}}} {value:g}" if labels
                         else f"{METRIC_PREFIX}{name} {value:g}")

    family("queue_depth", "gauge", "Jobs waiting in the Redis queue.", [({}, queue_depth)])
    states = ("queued", "running", "completed", "failed")
    family("jobs", "gauge", "Jobs by status.", [({"status": s}, sum(j["status"] == s for j in jobs)) for s in states])
    per_job = [
        ("job_progress_ratio", "Share of the job's requests finished.", lambda j: j.get("progress_pct", 0) / 100),
        ("job_throughput_requests_per_second", "Completed requests per second since submission (driver's count).",
         lambda j: j.get("throughput_rps")),
        ("job_tokens_per_second", "Generated tokens per second since submission.", lambda j: j.get("tokens_per_s")),
        ("job_latency_p95_seconds", "95th percentile of the completed requests' latency.",
         lambda j: j.get("latency_p95_s")),
        ("job_error_ratio", "Failed requests / finished requests.",
         lambda j: j["failed"] / max(1, j["failed"] + j["completed"]) if "failed" in j else None),
        ("job_eta_hours", "Time left at the rate so far.", lambda j: j.get("eta_hours")),
        ("job_kv_cache_usage_ratio", "KV-cache usage of the fullest engine in its latest stats line.",
         lambda j: j["kv_cache_usage_pct"] / 100 if "kv_cache_usage_pct" in j else None),
        ("job_preemptions", "Requests the engines preempted for want of KV cache so far.",
         lambda j: j.get("preemptions", 0)),
        ("job_sla_remaining_hours", "SLA time left.", lambda j: j["sla_remaining_hours"]),
        ("job_sla_at_risk", "1 when the ETA exceeds the SLA time left or the SLA is violated.",
         lambda j: float(j["sla_status"] in ("at_risk", "violated"))),
    ]
    for name, help_text, value in per_job:
        samples = [({"job_id": j["job_id"]}, value(j)) for j in jobs if j["status"] == "running"]
        family(name, "gauge", help_text, [(labels, v) for labels, v in samples if v is not None])
    return "\n".join(lines) + "\n"


def build_app(gateway: Gateway) -> Starlette:
    async def start(request: Request):
        if not gateway.accepting:
            return JSONResponse({"error": "shutting down: no new jobs"}, status_code=503)
        try:
            body = await request.json()
            dataset = str(body.get("dataset", "prompts"))
            num_samples = int(body.get("num_samples", 1000))
            sla_hours = float(body.get("sla_hours", 24))
        except (ValueError, TypeError, AttributeError):
            return JSONResponse({"error": "expected JSON {dataset, num_samples, sla_hours}"}, status_code=400)
        if not DATASET.match(dataset) or num_samples < 1 or not sla_hours > 0:
            return JSONResponse({"error": "dataset: letters, digits, '.', '_', '-'; num_samples >= 1; "
                                          "sla_hours > 0"}, status_code=400)
        return JSONResponse(await gateway.enqueue(dataset, num_samples, sla_hours), status_code=202)

    async def job(request: Request):
        record = await gateway.job(request.path_params["job_id"])
        return JSONResponse(record) if record else JSONResponse({"error": "no such job"}, status_code=404)

    async def sla_status(_request: Request):
        keys = ("job_id", "status", "progress_pct", "eta_hours", "sla_remaining_hours", "sla_status")
        return JSONResponse({"jobs": [{k: j.get(k) for k in keys} for j in await gateway.jobs()]})

    async def queue(_request: Request):
        ids = [i.decode() for i in await gateway.redis.lrange(gateway.key("queue"), 0, -1)]
        return JSONResponse({"queued": len(ids), "jobs": ids, "running": gateway.running,
                             "accepting": gateway.accepting})

    async def health(_request: Request):
        try:
            await gateway.redis.ping()
        except Exception as error:  # redis' errors have no common base worth naming here
            return JSONResponse({"status": "unhealthy", "redis": str(error)}, status_code=503)
        return JSONResponse({"status": "ok", "redis": "ok", "ray_address": gateway.config.ray_address})

    async def metrics(_request: Request):
        depth = await gateway.redis.llen(gateway.key("queue"))
        return PlainTextResponse(metrics_text(await gateway.jobs(), depth),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    async def shutdown_graceful(_request: Request):
        gateway.accepting = False
        depth = await gateway.redis.llen(gateway.key("queue"))
        log.info("graceful shutdown: no new jobs; finishing %s; %d left queued", gateway.running or "nothing", depth)
        return JSONResponse({"status": "draining", "running": gateway.running, "queued": depth})

    return Starlette(routes=[
        Route("/start", start, methods=["POST"]),
        Route("/jobs/{job_id}", job),
        Route("/sla/status", sla_status),
        Route("/queue", queue),
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/shutdown-graceful", shutdown_graceful, methods=["POST"]),
    ])


def serve(host: str, port: int, config: GatewayConfig) -> int:
    """Serve until SIGTERM/SIGINT, or until a graceful shutdown has finished the running job."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    sock = listen(host, port)
    for path in (config.datasets_dir, config.output_dir, config.logs_dir):
        path.mkdir(parents=True, exist_ok=True)
    received: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: received.append(signum))

    async def run() -> None:
        client = aioredis.from_url(config.redis_url)
        deadline = time.monotonic() + config.redis_wait_s
        while True:  # Redis may be starting beside us (the profile starts it just before)
            try:
                await client.ping()
                break
            except (RedisError, OSError) as error:
                if time.monotonic() > deadline:
                    raise SimError(f"--redis-url {config.redis_url}: {error} (after {config.redis_wait_s:g} s); "
                                   f"start redis-server or fix the URL") from None
                await asyncio.sleep(0.5)
        gateway = Gateway(config, client)
        server = uvicorn.Server(uvicorn.Config(build_app(gateway), log_config=None, lifespan="off",
                                               timeout_graceful_shutdown=2))
        runner = asyncio.create_task(gateway.run_queue())

        async def stop_when_drained() -> None:
            await gateway.stop_when_idle.wait()
            log.info("graceful shutdown done: no job running")
            server.should_exit = True

        watcher = asyncio.create_task(stop_when_drained())
        log.info("gateway listening on http://%s:%d (redis %s, ray %s)", host, sock.getsockname()[1],
                 config.redis_url, config.ray_address)
        try:
            await server.serve(sockets=[sock])
        finally:
            runner.cancel()
            watcher.cancel()
            await client.aclose()

    asyncio.run(run())
    if received:
        log.info("gateway stopped on %s", signal.Signals(received[0]).name)
        return 130 if received[0] == signal.SIGINT else 0
    return 0
