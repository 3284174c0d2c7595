"""Each engine knob of the batch job, run on a real Ray head, gives its diagnosis from the job's log
(docs/ray.md, "The analysis"): a small KV budget preemptions, one slow worker a straggler, a slow
tokenisation stage starved engines."""

import subprocess
import sys

import pytest

pytest.importorskip("ray")

from stallscope.engine import analyze  # noqa: E402

from .cluster import environment, run_job  # noqa: E402

pytestmark = pytest.mark.slow
COMMON = ["--concurrency", 2, "--progress-interval-s", 1, "--stats-interval-s", 1]


def prompts(head, count):
    path = head.run_dir / f"prompts-{count}.jsonl"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "stallscope.sim", "prompts", "--out", path, "--num-samples", str(count),
                        "--words-max", "60"], env=environment(), check=True, capture_output=True)
    return path


# (knob flags, prompts, the finding): the slow worker needs enough busy stats lines per engine to
# be told from the others (tests/fixtures/ray_batch/README.md).
KNOBS = {
    "low_gpu_memory": (["--gpu-memory-utilization", 0.2], 240, "kv_cache_pressure"),
    "slow_worker": (["--slow-worker-factor", 4], 640, "straggler_worker"),
    "preprocess": (["--preprocess-ms", 20], 320, "preprocessing_bound"),
}


@pytest.mark.parametrize("name", list(KNOBS))
def test_each_knob_gives_its_diagnosis(head, tmp_path, name):
    flags, count, expected = KNOBS[name]
    proc, log = run_job(head, f"diagnosis-{name}", "--input", prompts(head, count), "--output-dir", tmp_path / "out",
                        *COMMON, *flags)
    assert proc.returncode == 0, log[-3000:]
    report = analyze([head.logs / f"diagnosis-{name}.log"])
    assert report["profile"] == "batch"
    assert report["diagnosis"] == expected, [(f["id"], f["severity"], f["summary"]) for f in report["findings"]]
    assert report["severity"] in ("warning", "critical")
