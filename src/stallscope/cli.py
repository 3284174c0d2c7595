"""`stallscope analyze PATH...`, `stallscope merge STATE_DIR...` and `stallscope compare BEFORE AFTER [MORE...]`.

Exit status (docs/analysis.md): 0 report written (whatever the diagnosis, unless a gate option
says otherwise); 2 usage error or unreadable input; 3 inputs readable but no recognised line;
4 `analyze --fail-on LEVEL` and the diagnosis is at least that severe; 5 `compare
--fail-on-regression` and the verdict is fail; 6 `compare --fail-on-regression` and the verdict is
inconclusive or incomplete. Errors are one line on stderr, never a traceback (`--debug` re-raises).
"""

import argparse
import json
import os
import sys
import time

from . import __version__
from .engine import analyze, analyze_states, write_outputs
from .engine.compare import compare, compare_markdown, compare_runs, compare_runs_markdown, load_report
from .engine.errors import EngineError, InputError, NoRecognisedLines
from .engine.render import dump_report
from .engine.thresholds import LEVELS, merge_thresholds
from .fixes import profile_fixes
from .progress import Progress
from .report_html import RendererMissing, write_compare_html, write_report_html

EXIT_SEVERITY = 4  # analyze --fail-on: the diagnosis reached the level
EXIT_REGRESSION = 5  # compare --fail-on-regression: verdict fail
EXIT_NOT_JUDGED = 6  # compare --fail-on-regression: verdict inconclusive or incomplete


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (EngineError, OSError, UnicodeError) as error:
        if args.debug:
            raise
        print(f"stallscope {args.command}: {_message(error)}", file=sys.stderr)
        return 3 if isinstance(error, NoRecognisedLines) else 2


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="re-raise errors with a traceback")
    common.add_argument("--thresholds", metavar="FILE.yml", help="YAML overriding threshold rows and success criteria, e.g. queue_ms: {warning: 200}")
    common.add_argument("--async-level", type=_non_negative, metavar="N", help="the run's async_level (overrides run_manifest.json)")

    parser = argparse.ArgumentParser(prog="stallscope", description="Find where a distributed ML pipeline stalls.")
    parser.add_argument("--version", action="version", version=f"stallscope {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    analyze_cmd = commands.add_parser("analyze", parents=[common], help="analyse logs: statistics and a diagnosis",
                                      description="Analyse log files and directories (searched recursively).")
    analyze_cmd.add_argument("paths", nargs="+", metavar="PATH", help="log files or directories")
    for flag, kwargs in _OUTPUT_FLAGS:
        analyze_cmd.add_argument(flag, **kwargs)
    analyze_cmd.add_argument("--state", metavar="DIR", help="resume from the partial state kept in DIR and save it there: "
                             "only what was appended since is read")
    analyze_cmd.add_argument("--jobs", type=_positive, metavar="N",
                             help="worker processes reading the files (default: the machine's cores)")
    analyze_cmd.set_defaults(handler=_analyze)

    merge_cmd = commands.add_parser("merge", parents=[common], help="one analysis from several saved states (e.g. per host)",
                                    description="Analyse the partial states saved by `analyze --state` in each STATE_DIR, merged.")
    merge_cmd.add_argument("states", nargs="+", metavar="STATE_DIR", help="directories holding state.sqlite")
    for flag, kwargs in _OUTPUT_FLAGS:
        merge_cmd.add_argument(flag, **kwargs)
    merge_cmd.set_defaults(handler=_merge)

    compare_cmd = commands.add_parser("compare", parents=[common], help="compare analyses (before/after, or N runs)",
                                      description="Compare BEFORE and AFTER (analysis dirs, report.json files or log dirs); "
                                                  "with more runs, one row per run, each judged against BEFORE.")
    compare_cmd.add_argument("before", metavar="BEFORE")
    compare_cmd.add_argument("after", metavar="AFTER")
    compare_cmd.add_argument("more", metavar="MORE", nargs="*", help="further runs: an N-way table")
    compare_cmd.add_argument("--objective", type=_objective, metavar="FIGURE:higher|lower",
                             help="mark the best run by a report figure, e.g. throughput.completions_per_s:higher")
    compare_cmd.add_argument("--json", action="store_true", help="print the comparison as JSON instead of Markdown")
    compare_cmd.add_argument("--html", metavar="FILE", default="compare.html",
                             help="where to write the comparison page (default ./compare.html; replaced if there)")
    compare_cmd.add_argument("--fail-on-regression", action="store_true",
                             help=f"exit {EXIT_REGRESSION} when the verdict is fail, {EXIT_NOT_JUDGED} when it is "
                                  "inconclusive or incomplete")
    compare_cmd.set_defaults(handler=_compare)
    return parser


_OUTPUT_FLAGS = (
    ("--out", {"metavar": "DIR", "help": "output directory (default ./analysis_<UTC timestamp>/)"}),
    ("--json", {"action": "store_true", "help": "also print report.json to stdout"}),
    ("--force", {"action": "store_true", "help": "write into a non-empty --out directory"}),
    ("--fail-on", {"choices": LEVELS, "metavar": "LEVEL",
                   "help": f"exit {EXIT_SEVERITY} when the diagnosis is at least this severe (warning or critical); "
                           "the report is written either way"}),
)


def _positive(text):
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 workers: give 1 or more")
    return value


def _non_negative(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _analyze(args):
    out_dir = _out_dir(args)
    thresholds = _thresholds(args.thresholds)
    progress = Progress.for_terminal(args.paths)
    try:
        report = analyze(args.paths, thresholds=thresholds, async_level=args.async_level, state_dir=args.state,
                         jobs=args.jobs, progress=progress)
    finally:
        if progress is not None:
            progress.finish()
    return _write(args, report, out_dir)


def _merge(args):
    out_dir = _out_dir(args)
    return _write(args, analyze_states(args.states, thresholds=_thresholds(args.thresholds), async_level=args.async_level),
                  out_dir)


def _out_dir(args):
    out_dir = args.out or f"analysis_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"{out_dir}: exists and is not a directory; choose another --out")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not args.force:
        raise InputError(f"{out_dir}: exists and is not empty; choose another --out or pass --force to overwrite")
    return out_dir


def _write(args, report, out_dir):
    write_outputs(report, out_dir)
    summary = os.path.join(out_dir, "SUMMARY.md")
    try:
        page = write_report_html(report, out_dir)
    except RendererMissing as missing:
        page = None
        print(f"stallscope {args.command}: {missing}", file=sys.stderr)
    if args.json:
        dump_report(report, sys.stdout)
        print(f"stallscope {args.command}: {report['diagnosis']} ({report['severity']}); report in {summary}", file=sys.stderr)
    else:
        print(f"diagnosis: {report['diagnosis']} ({report['severity']})")
        top = next((f for f in report["findings"] if f["id"] == report["diagnosis"]), None)
        if top is not None:
            print(top["summary"])
        print(f"report: {summary}")
        if page is not None:
            print(f"html: {page}")
    if args.fail_on is not None and report["severity"] in LEVELS[LEVELS.index(args.fail_on):]:
        return EXIT_SEVERITY
    return 0


def _compare(args):
    thresholds = _thresholds(args.thresholds)
    paths = [args.before, args.after, *args.more]
    reports = [load_report(path, thresholds, args.async_level) for path in paths]
    if len(reports) == 2 and args.objective is None:
        result = compare(*reports, thresholds)
        verdicts = {result["verdict"]}
        text = compare_markdown(result, args.before, args.after)
    else:
        result = compare_runs([{"name": path, "report": report} for path, report in zip(paths, reports)],
                              args.objective, thresholds)
        verdicts = {row["verdict"] for row in result["rows"][1:]}
        text = compare_runs_markdown(result)
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False))
    else:
        sys.stdout.write(text)
    if len(reports) == 2 and args.objective is None:
        try:
            page = write_compare_html(result, *reports, (args.before, args.after), args.html)
            print(f"html: {page}", file=sys.stderr if args.json else sys.stdout)
        except RendererMissing as missing:
            print(f"stallscope compare: {missing}", file=sys.stderr)
    if args.fail_on_regression and verdicts != {"pass"}:
        return EXIT_REGRESSION if "fail" in verdicts else EXIT_NOT_JUDGED
    return 0


def _objective(text):
    """`FIGURE:higher|lower` as {metric, better}, checked as a profile's objective is."""
    metric, _, better = text.rpartition(":")
    try:
        return profile_fixes({"name": "--objective", "objective": {"metric": metric, "better": better}})["objective"]
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error).replace("profile --objective: objective", "--objective")) from None


def _thresholds(path):
    """The override table of a --thresholds YAML file as plain data, validated; None without one."""
    if path is None:
        return None
    import yaml  # the CLI's one dependency; the engine takes plain data

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None
    except (OSError, UnicodeError) as error:
        raise InputError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    if data is None:
        return None
    try:
        merge_thresholds(data)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    return data


def _message(error):
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__
