"""Records tests/fixtures/ray_batch/ from real runs: `python -m tests.ray.record_batch_fixtures DIR`
starts a Ray head as the tests do (tests/ray/cluster.py), runs `stallscope-sim batch-job` once per
knob and writes each job's log (stdout and stderr) to DIR/<name>.log (the low-memory one
gzipped: its preemption lines make it large)."""

import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .cluster import RayHead, environment, run_job

# name -> (prompts, extra batch-job flags); 640 prompts give the engines enough busy stats lines to
# tell a slow worker from the others, 240 are enough where one line says it all.
RUNS = {
    "default": (640, []),
    "slow_worker": (640, ["--slow-worker-factor", 4]),
    "preprocess": (640, ["--preprocess-ms", 20]),
    "low_gpu_memory": (240, ["--gpu-memory-utilization", 0.2]),
    "failures": (240, ["--fail-rate", 0.1]),
    # The SLA clock started 50 minutes ago with a one-hour SLA (tests/ray/test_batch_job.py).
    "sla_at_risk": (240, ["--sla-hours", 1, "--started-at", "STARTED", "--batch-size", 16, "--progress-interval-s", 0.2]),
}
COMMON = ["--concurrency", 2, "--progress-interval-s", 1, "--stats-interval-s", 1]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ray-fixtures-") as run_dir:
        head = RayHead(Path(run_dir)).start()
        try:
            for name, (count, extra) in RUNS.items():
                prompts = Path(run_dir) / f"prompts-{count}.jsonl"
                if not prompts.exists():
                    subprocess.run([sys.executable, "-m", "stallscope.sim", "prompts", "--out", prompts,
                                    "--num-samples", str(count), "--words-max", "60"], env=environment(), check=True)
                flags = [time.time() - 3000 if flag == "STARTED" else flag for flag in extra]
                proc, log = run_job(head, name, "--input", prompts, "--output-dir", Path(run_dir) / name, *COMMON, *flags)
                if proc.returncode:
                    raise SystemExit(f"{name}: batch-job exited {proc.returncode}:\n{log[-2000:]}")
                if name == "low_gpu_memory":
                    (out / f"{name}.log.gz").write_bytes(gzip.compress(log.encode()))
                else:
                    (out / f"{name}.log").write_text(log)
                print(name, "recorded", flush=True)
        finally:
            head.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
