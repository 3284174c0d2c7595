"""A Dask process's event loop stalled (GIL-holding tasks, large transfers) or GC took its CPU."""

from .common import finding, judge, tail_sentence, worst

ID = "event_loop_blocked"
JUDGED_ON = "event_loop_unresponsive_s.p95"


def evaluate(ctx):
    dask = ctx["sections"].get("dask")
    if dask is None:
        return None
    thresholds = ctx["thresholds"]
    loop_severity, loop = judge(ctx, "event_loop_unresponsive_s", thresholds["event_loop_unresponsive_s"])
    gc_severity, gc = judge(ctx, "gc_cpu_pct", thresholds["gc_cpu_pct"])
    severity = worst(loop_severity, gc_severity)
    if severity == "ok":
        return None
    sentences = []
    if loop_severity != "ok":
        where = ", ".join(f"{component} {figures['warnings']}x (max {figures['max_s']:.1f} s)"
                          for component, figures in dask["event_loop"].items())
        sentences.append(f"Event loops were unresponsive ({where}): "
                         + tail_sentence("unresponsive time", loop, loop_severity, unit=" s"))
    if gc_severity != "ok":
        sentences.append("Garbage collection took CPU: " + tail_sentence("gc CPU", gc, gc_severity, unit="%"))
    recommendation = (
        "Keep tasks from holding the GIL for long (release it in native code, or run them in processes), move less "
        "data per task (large payloads block the loop while they are (de)serialised: see aggregation data "
        "movement), and create fewer short-lived Python objects per task if GC time is high."
    )
    return finding(ID, severity, " ".join(sentences),
                   {"event_loop_unresponsive_s": loop, "gc_cpu_pct": gc, "by_component": dask["event_loop"]},
                   recommendation)
