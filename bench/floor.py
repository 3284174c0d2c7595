"""What the least a pure-Python scan must do costs, against `grep -c '\\['` on the same log.

    python bench/floor.py --size-mb 1100 --repeat 3 [--work /tmp/stallscope-bench] [--keep]

Each step below is a separate Python process timed like the commands in bench/run.py (wall time
from exec to exit, medians), and each does what the step before it did plus one thing, all with
the engine's own chunk size and patterns:

- read: the file in the engine's chunks (scan.CHUNK_BYTES), nothing else;
- + newlines: bytes.count(b"\\n") on each chunk (report.json needs every file's line count);
- + event search: one pass of the prime-rl event pattern (finditer, no field parsed);
- + family checks: the per-chunk substring tests that decide which families' patterns run;
- the last step again with the file split at a newline between 2 processes (fork).

`stallscope analyze` (every stage and output file) is timed in the same session. The gap between
the last single-process step and the analysis is the per-event Python work: parsing fields,
joining, statistics, findings and the output files.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(SRC))

from run import bench_log, bench_parser, machine, median_run  # noqa: E402  (bench/run.py, beside this file)

STEPS = ("read", "newlines", "search", "families")
LABELS = {
    "read": "read in chunks",
    "newlines": "+ newline count",
    "search": "+ one event-pattern pass",
    "families": "+ family substring checks",
    "families-2p": "the same, 2 processes (fork)",
}


def scan(path, step, start=0, end=None):
    """Does `step` (and every step before it) over bytes [start, end) of path; returns the counts."""
    from stallscope.engine.families import FAMILIES, prime_rl
    from stallscope.engine.scan import CHUNK_BYTES, _bytes_pattern, _present

    level = STEPS.index(step)
    pattern = _bytes_pattern(prime_rl.EVENT)
    present = [_present(family, False) for family in FAMILIES]
    lines = events = families_present = 0
    end = os.path.getsize(path) if end is None else end
    with open(path, "rb") as handle:
        handle.seek(start)
        position = start
        while position < end:
            chunk = handle.read(min(CHUNK_BYTES, end - position))
            if not chunk:
                break
            position += len(chunk)
            if level >= 1:
                lines += chunk.count(b"\n")
            if level >= 2:
                events += sum(1 for _ in pattern.finditer(chunk))
            if level >= 3:
                families_present += sum(any(tag in chunk for tag in tags) for tags in present)
    return lines, events, families_present


def split_point(path):
    """The offset just after the first newline at or past the middle of the file."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        handle.seek(size // 2)
        handle.readline()
        return handle.tell()


def scan_in_two(path, step):
    middle = split_point(path)
    children = []
    for start, end in ((0, middle), (middle, None)):
        pid = os.fork()
        if pid == 0:
            scan(path, step, start, end)
            os._exit(0)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit("floor: a child scan failed")


def main(argv=None):
    parser = bench_parser(__doc__)
    parser.add_argument("--step", choices=[*STEPS, "families-2p"], help=argparse.SUPPRESS)  # one child run
    parser.add_argument("--log", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        if args.step == "families-2p":
            scan_in_two(args.log, "families")
        else:
            scan(args.log, args.step)
        return 0

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        log = bench_log(work, args.size_mb)
        rows = [("`grep -c '\\['`", median_run(["grep", "-c", r"\[", str(log)], args.repeat, work))]
        for step in (*STEPS, "families-2p"):
            argv_ = [sys.executable, __file__, "--step", step, "--log", str(log)]
            rows.append((LABELS[step], median_run(argv_, args.repeat, work)))
        env = dict(os.environ, PYTHONPATH=str(SRC))
        analyze = [sys.executable, "-m", "stallscope", "analyze", str(log), "--out", str(work / "analysis"), "--force"]
        rows.append(("`stallscope analyze`", median_run(analyze, args.repeat, work, env=env)))
        load = os.getloadavg()
        size = log.stat().st_size
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"Machine: {machine()}; load average after the runs {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(f"| {size / 1e9:.2f} GB log | median s | runs (s) | peak RSS MB | x grep -c |")
    print("| --- | ---: | --- | ---: | ---: |")
    base = rows[0][1][0]
    for label, (median, rss, runs) in rows:
        print(f"| {label} | {median:.2f} | {runs} | {rss:.0f} | {median / base:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
