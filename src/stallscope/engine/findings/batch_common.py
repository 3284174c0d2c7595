"""What the batch-inference findings share: the jobs of the report's `batch` section, each judged,
the worst kept."""

from ..thresholds import LOWER_IS_WORSE, classify
from .common import SEVERITY_RANK


def jobs(ctx):
    """The batch section's jobs, or [] without batch-inference lines."""
    return (ctx["sections"].get("batch") or {}).get("jobs", [])


def worst_job(ctx, figure, row_name):
    """(severity, job, value, row): the job whose `figure(job)` is the most severe against the
    threshold row `row_name` (ties: the first job); severity `ok` and job None when none is judged."""
    row = ctx["thresholds"][row_name]
    best = ("ok", None, None, row)
    for job in jobs(ctx):
        value = figure(job)
        if value is None:
            continue
        severity = classify(value, row, floor=row_name in LOWER_IS_WORSE)
        if best[1] is None or SEVERITY_RANK[severity] > SEVERITY_RANK[best[0]]:
            best = (severity, job, value, row)
    return best


def where(job):
    """`the job in <file>` for a finding's sentence."""
    return f"the job in {job['file']}"


def config_text(job, *keys):
    values = [f"{key}={job['config'][key]}" for key in keys if key in job["config"]]
    return f" ({', '.join(values)})" if values else ""
