"""Summary statistics of one metric's samples."""

import math

STAT_KEYS = ("count", "mean", "stddev", "min", "p50", "p90", "p95", "p99", "max")


def percentile(ordered, q):
    """The q-th percentile (0-100) of sorted values, linearly interpolated between ranks."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values):
    """`{count, mean, stddev, min, p50, p90, p95, p99, max}`; all but count are None without samples.

    stddev is the population standard deviation (the samples are the whole run, not a sample of it).
    """
    ordered = sorted(values)
    count = len(ordered)
    if count == 0:
        return {key: (0 if key == "count" else None) for key in STAT_KEYS}
    mean = math.fsum(ordered) / count
    variance = math.fsum((v - mean) ** 2 for v in ordered) / count
    return {
        "count": count,
        "mean": mean,
        "stddev": math.sqrt(variance),
        "min": ordered[0],
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
    }
