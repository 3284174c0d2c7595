"""Summary statistics of one metric's samples."""

import itertools
import math
import operator

STAT_KEYS = ("count", "mean", "stddev", "min", "p50", "p90", "p95", "p99", "max")


PERCENTILES = (50, 90, 95, 99)


def _ranks(count, q):
    """(low rank, high rank, weight of high) of the q-th percentile of `count` sorted values."""
    rank = (count - 1) * q / 100.0
    low = math.floor(rank)
    return low, min(low + 1, count - 1), rank - low


def _interpolate(at, count, q):
    low, high, weight = _ranks(count, q)
    return at[low] + (at[high] - at[low]) * weight


def percentile(ordered, q):
    """The q-th percentile (0-100) of sorted values, linearly interpolated between ranks."""
    if not ordered:
        return None
    return _interpolate(ordered, len(ordered), q)


def summarize(values):
    """`{count, mean, stddev, min, p50, p90, p95, p99, max}`; all but count are None without samples.

    `values`: a sequence of floats, or samples.Samples (possibly spilled to disk: read back in
    order once, and twice more for the sums). stddev is the population standard deviation (the
    samples are the whole run, not a sample of it). fsum is exact, so the order of the sums does
    not change them.
    """
    count = len(values)
    if count == 0:
        return {key: (0 if key == "count" else None) for key in STAT_KEYS}
    ordered = values.ordered() if hasattr(values, "ordered") else sorted(values)
    if not isinstance(ordered, list):  # a merge of sorted runs: keep only the ranks needed
        wanted = {0, count - 1}.union(*(_ranks(count, q)[:2] for q in PERCENTILES))
        ordered = {rank: value for rank, value in enumerate(ordered) if rank in wanted}
    every = ordered if isinstance(ordered, list) else values  # fsum is exact: any order, fewest reads
    mean = math.fsum(every) / count
    deviations = list(map(operator.sub, every, itertools.repeat(mean))) if isinstance(ordered, list) else None
    if deviations is not None:  # in C: 10^5 samples per GB of log, per metric
        variance = math.fsum(map(operator.mul, deviations, deviations)) / count
    else:
        variance = math.fsum((v - mean) * (v - mean) for v in values) / count
    return {
        "count": count,
        "mean": mean,
        "stddev": math.sqrt(variance),
        "min": ordered[0],
        **{f"p{q}": _interpolate(ordered, count, q) for q in PERCENTILES},
        "max": ordered[count - 1],
    }
