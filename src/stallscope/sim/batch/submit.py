"""`stallscope-sim submit`: the user's side of the gateway (the service's curl calls), as a job that
ends when the batch job does: POST /start, then GET /jobs/{id} until it has ended."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

from ..errors import SimError

log = logging.getLogger("stallscope.batch.submit")


def call(url: str, body: dict | None = None, timeout: float = 30) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise SimError(f"{url}: HTTP {error.code} {error.read().decode(errors='replace')[:200]}") from None
    except (OSError, ValueError) as error:
        raise SimError(f"{url}: {error}") from None


def submit(gateway: str, dataset: str, num_samples: int, sla_hours: float, poll_s: float, timeout_s: float,
           shutdown_after: bool) -> int:
    job = call(f"{gateway}/start", {"dataset": dataset, "num_samples": num_samples, "sla_hours": sla_hours})
    job_id = job["job_id"]
    log.info("submitted %s: dataset=%s num_samples=%d sla_hours=%g, queue position %d", job_id, dataset,
             num_samples, sla_hours, job["queue_position"])
    end = time.monotonic() + timeout_s
    last = None
    while True:
        job = call(f"{gateway}/jobs/{job_id}")
        shown = (job["status"], job.get("completed"), job.get("failed"), job["sla_status"])
        if shown != last:
            log.info("%s %s: %s/%s completed, %s failed, %s req/s, ETA %sh, SLA %s (%.3fh left)", job_id,
                     job["status"], job.get("completed", 0), job.get("total", "?"), job.get("failed", 0),
                     job.get("throughput_rps", 0), job.get("eta_hours"), job["sla_status"],
                     job["sla_remaining_hours"])
            last = shown
        if job["status"] in ("completed", "failed"):
            break
        if time.monotonic() > end:
            raise SimError(f"{job_id} has not ended within --timeout-s {timeout_s:g} (status {job['status']})")
        time.sleep(poll_s)
    if shutdown_after:
        call(f"{gateway}/shutdown-graceful", {})
        log.info("asked the gateway to shut down gracefully")
    if job["status"] == "failed":
        raise SimError(f"{job_id} failed (exit code {job.get('exit_code')}); its log: {job.get('log')}")
    return 0
