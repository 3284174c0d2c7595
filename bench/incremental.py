"""Times a resumed analysis (what `status.yml` runs on a host) after a log grew, against another engine.

    python bench/incremental.py --size-mb 1000 --append-mb 10 --repeat 3 [--baseline main]

Writes a log of --size-mb (bench/make_log.py) as logs/orchestrator.log under --work, analyses it once
with a state directory (the first pass, timed once), appends --append-mb more (another seed), then
times --repeat resumed analyses, each in a fresh interpreter from a copy of the state saved by the
first pass: `analyze(paths, state_dir=...)` as the `log_diagnosis` module runs it for status (no
report files written). With --baseline REF the same steps run with the engine of that git commit
(its src/ exported from this repository), in the same session, alternating with this one's runs.
Prints Markdown with the machine and the load average. The work directory is deleted unless --keep.
"""

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from run import HERE, SRC, bench_parser, machine, timed

# The analysis status runs: the report without its timeline rows where the engine has that option.
RESUME = """
import inspect, sys
from stallscope.engine import analyze
options = {"timeline": False} if "timeline" in inspect.signature(analyze).parameters else {}
analyze([sys.argv[1]], state_dir=sys.argv[2], jobs=1, **options)
"""


def export(ref, work):
    """The src/ of commit `ref` of this repository, under work."""
    target = work / f"src-{ref.replace('/', '_')}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", ref, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def make(log, size_mb, seed):
    subprocess.run([sys.executable, str(HERE / "make_log.py"), "--size-mb", str(size_mb), "--out", str(log),
                    "--seed", str(seed)], check=True)


def main(argv=None):
    parser = bench_parser(__doc__)
    parser.set_defaults(size_mb=1000)
    parser.add_argument("--append-mb", type=float, default=10)
    parser.add_argument("--baseline", help="a git commit whose engine is timed in the same run")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    engines = {"this tree": SRC}
    try:
        if args.baseline:
            engines[f"`{args.baseline}`"] = export(args.baseline, work)
        logs = work / "logs"
        logs.mkdir(exist_ok=True)
        log = logs / "orchestrator.log"
        make(log, args.size_mb, 1)
        appended = work / "appended.log"
        make(appended, args.append_mb, 2)
        first = {}
        for name, src in engines.items():
            env = dict(os.environ, PYTHONPATH=str(src))
            state = work / f"state-{len(first)}"
            shutil.rmtree(state, ignore_errors=True)
            first[name] = timed([sys.executable, "-c", RESUME, str(logs), str(state)], work, env=env)
        with open(log, "ab") as handle, open(appended, "rb") as more:
            shutil.copyfileobj(more, handle)
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # in the page cache
        runs = {name: [] for name in engines}
        for _ in range(args.repeat):
            for index, (name, src) in enumerate(engines.items()):
                env = dict(os.environ, PYTHONPATH=str(src))
                state, copy = work / f"state-{index}", work / "resumed"
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(state, copy)
                runs[name].append(timed([sys.executable, "-c", RESUME, str(logs), str(copy)], work, env=env))
        size = log.stat().st_size
        load = os.getloadavg()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"Machine: {machine()}; load average after the runs {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(f"A {size / 1e9 - args.append_mb / 1e3:.2f} GB log analysed once with a state, then {args.append_mb:g} MB "
          "appended and the analysis resumed:\n")
    print("| engine | first pass s | resumed: median s | runs (s) | peak RSS MB |")
    print("| --- | ---: | ---: | --- | ---: |")
    for name in engines:
        times = [elapsed for elapsed, _ in runs[name]]
        rss = max(max(peak for _, peak in runs[name]), first[name][1])
        print(f"| {name} | {first[name][0]:.2f} | {statistics.median(times):.2f} | {[round(t, 2) for t in times]} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
