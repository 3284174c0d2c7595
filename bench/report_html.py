"""Times report.html against the rest of `stallscope analyze` on the bench log, and its size.

    python bench/report_html.py --size-mb 1100 --repeat 3 [--work /tmp/stallscope-bench] [--keep]

Each run is a fresh interpreter (so Bokeh's import is counted) doing what `stallscope analyze`
does, timed per phase: the engine's analysis, its files (SUMMARY.md, report.json, timeline.txt...),
then report.html. Prints the medians, the page's size and the share rendering adds, as Markdown.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import SRC, bench_log, bench_parser, machine  # noqa: E402  (bench/run.py, beside this file)

PHASES = r"""
import json, os, resource, sys, time
from stallscope.engine import analyze, write_outputs
log, out = sys.argv[1:3]
times = {}
start = time.perf_counter()
report = analyze([log])
times["analyze"] = time.perf_counter() - start
start = time.perf_counter()
write_outputs(report, out)
times["files"] = time.perf_counter() - start
times["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
from stallscope.report_html import write_report_html
page = write_report_html(report, out)
times["html"] = time.perf_counter() - start
times["html_bytes"] = os.path.getsize(page)
times["html_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(times))
"""


def main(argv=None):
    args = bench_parser(__doc__).parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    try:
        log = bench_log(work, args.size_mb)
        runs = []
        for _ in range(args.repeat):
            done = subprocess.run([sys.executable, "-c", PHASES, str(log), str(work / "analysis")], env=env,
                                  capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout))
        size = log.stat().st_size
        load = os.getloadavg()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    median = {key: statistics.median(run[key] for run in runs) for key in ("analyze", "files", "html")}
    rest = median["analyze"] + median["files"]
    print(f"Machine: {machine()}; load average after the runs {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(f"| {size / 1e9:.2f} GB log, {args.repeat} runs | median s | runs (s) |")
    print("| --- | ---: | --- |")
    for key, label in (("analyze", "engine: analyze()"), ("files", "engine: write_outputs() (SUMMARY.md, report.json, *.txt)"),
                       ("html", "report.html (Bokeh import included)")):
        print(f"| {label} | {median[key]:.2f} | {[round(run[key], 2) for run in runs]} |")
    print(f"\nreport.html: {max(run['html_bytes'] for run in runs) / 1e6:.2f} MB; rendering adds "
          f"{median['html'] / rest:.0%} to the rest of `stallscope analyze` ({median['html']:.2f} s on {rest:.2f} s).")
    print(f"Peak RSS: {max(run['rss_mb'] for run in runs):.0f} MB before report.html, "
          f"{max(run['html_rss_mb'] for run in runs):.0f} MB after it.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
