"""Times `stallscope analyze` against `grep -c '\\['` and a grep/awk pipeline (seed_pipeline.sh) on one log.

    python bench/run.py --size-mb 1100 --repeat 3 [--work /tmp/stallscope-bench]

Generates the log(s) with bench/make_log.py under --work (never in the repository), warms the page
cache, runs each command --repeat times and prints the medians, peak RSS and the ratios as
Markdown, with the machine it ran on. A second, quarter-size log checks that time is linear in size.
The work directory is deleted at the end unless --keep.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def timed(argv, work, **kwargs):
    """(wall seconds, peak RSS in MB) of one run of argv, from wait4's rusage.

    stdout goes to a file, not /dev/null: GNU grep notices /dev/null and stops at the first match.
    """
    with open(work / "stdout", "wb") as stdout, open(work / "stderr", "wb+") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, **kwargs)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):  # grep -c exits 1 when nothing matches
            stderr.seek(0)
            sys.exit(f"bench: {' '.join(map(str, argv))} failed: {stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def median_run(argv, repeat, work, **kwargs):
    runs = [timed(argv, work, **kwargs) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), max(rss for _, rss in runs), [round(t, 3) for t, _ in runs]


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return f"{os.cpu_count()} CPUs ({model}), {mem_kb / 1024 / 1024:.0f} GB RAM, Python {sys.version.split()[0]}"


def bench_parser(doc):
    """The options every benchmark here takes: --size-mb, --repeat, --work, --keep."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", default="/tmp/stallscope-bench")
    parser.add_argument("--keep", action="store_true", help="keep the generated logs")
    return parser


def bench_log(work, size_mb):
    """work/orchestrator_<size>MB.log, written by make_log.py unless it is there, in the page cache."""
    log = work / f"orchestrator_{int(size_mb)}MB.log"
    if not log.exists():
        subprocess.run([sys.executable, str(HERE / "make_log.py"), "--size-mb", str(size_mb), "--out", str(log)], check=True)
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    return log


def measure(log, work, repeat):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = work / "analysis"
    grep = median_run(["grep", "-c", r"\[", str(log)], repeat, work)
    seed = median_run([str(HERE / "seed_pipeline.sh"), str(log), str(work / "seed_out")], repeat, work)
    stallscope = median_run([sys.executable, "-m", "stallscope", "analyze", str(log), "--out", str(out), "--force"],
                            repeat, work, env=env)
    return {"size": log.stat().st_size, "grep": grep, "seed": seed, "stallscope": stallscope}


def main(argv=None):
    args = bench_parser(__doc__).parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = []
        for size in (args.size_mb, args.size_mb / 4):
            results.append(measure(bench_log(work, size), work, args.repeat))
        load = os.getloadavg()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"Machine: {machine()}; load average after the runs {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| log | command | median s | runs (s) | peak RSS MB | x grep -c |")
    print("| --- | --- | ---: | --- | ---: | ---: |")
    for result in results:
        size = f"{result['size'] / 1e9:.2f} GB"
        base = result["grep"][0]
        for name in ("grep", "seed", "stallscope"):
            median, rss, runs = result[name]
            label = {"grep": "`grep -c '\\['`", "seed": "seed pipeline (bench/seed_pipeline.sh)", "stallscope": "`stallscope analyze`"}[name]
            print(f"| {size} | {label} | {median:.2f} | {runs} | {rss:.0f} | {median / base:.1f} |")
    big, small = results
    print(f"\nLinearity: stallscope {big['stallscope'][0] / small['stallscope'][0]:.2f}x the time for "
          f"{big['size'] / small['size']:.2f}x the bytes.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
