"""The default threshold table: plain data, overridable key by key.

A sample value is `warning` when >= warning and `critical` when > critical (docs/analysis.md:
good < 100 ms, warning 100-1000 ms, critical > 1000 ms for queue_ms). Findings judge the p95 of a metric against its row.
"""

import math

from .errors import InputError

DEFAULT_THRESHOLDS = {
    # Expected ranges of a 7B model on 2x A100 (docs/analysis.md, Findings).
    "queue_ms": {"warning": 100.0, "critical": 1000.0},
    # rpc_ms per op; `rpc_ms` is the row for updates whose op is unknown.
    "rpc_ms": {"warning": 2000.0, "critical": 5000.0},
    "rpc_ms.update_weights": {"warning": 2000.0, "critical": 5000.0},
    "rpc_ms.reload_weights": {"warning": 500.0, "critical": 2000.0},
    "write_ms": {"warning": 1000.0, "critical": 5000.0},
    "wait_ms": {"warning": 500.0, "critical": 2000.0},
    # Batch `dur_ms`: good 1000-5000ms, warning 5000-10000ms, critical >10000ms.
    "gen_dur_ms": {"warning": 5000.0, "critical": 10000.0},
    "trunc_pct": {"warning": 10.0, "critical": 30.0},
    # `staleness`: good <= async_level, warning > async_level, critical > async_level+2;
    # judged on staleness - async_level.
    "staleness_over_async_level": {"warning": 1.0, "critical": 2.0},
    # Dask calibration (docs/dask.md). The workload's own analysis
    # script warns above a 30% split-aggregation rate; critical (60%) is ours: most multi-target
    # trials then move their replicates to two workers.
    "split_agg_pct": {"warning": 30.0, "critical": 60.0},
    # Median AGG_TIMING total_inline_mb: > 1 MB moderate, > 5 MB suggest multi-target aggregation.
    "agg_total_inline_mb": {"warning": 1.0, "critical": 5.0},
    # Median agg duration / median sim duration: > 0.5 "aggregation is significant"; critical (1.0,
    # an aggregation longer than a simulation) is ours.
    "agg_sim_ratio": {"warning": 0.5, "critical": 1.0},
    # distributed logs "Event loop was unresponsive" above its tick limit (3 s by default); ours: a
    # worker deaf for 10 s risks heartbeat timeouts.
    "event_loop_unresponsive_s": {"warning": 3.0, "critical": 10.0},
    # distributed logs GC time from 10% of CPU (its threshold); ours: 25% is critical.
    "gc_cpu_pct": {"warning": 10.0, "critical": 25.0},
    # Busiest worker's busy time (sum of task durations) / the mean over workers; ours.
    "worker_busy_imbalance": {"warning": 1.5, "critical": 2.0},
    # Share of the run's GPU samples (all GPUs) that are idle (docs/analysis.md, gpu_underutilised);
    # ours: idle most of the run is a warning, four fifths of it critical.
    "gpu_idle_share_pct": {"warning": 50.0, "critical": 80.0},
    # Batch inference (docs/ray.md, "The analysis"). The service's targets: > 5 req/s, > 1000 tokens/s,
    # p95 latency < 5 s, error rate < 5 %, GPU memory < 90 %, queue <= 100 jobs; every critical level
    # is ours. Throughput rows are floors (LOWER_IS_WORSE): below warning is a warning.
    "batch_throughput_rps": {"warning": 5.0, "critical": 1.0},
    "batch_tokens_per_s": {"warning": 1000.0, "critical": 200.0},
    "batch_latency_p95_s": {"warning": 5.0, "critical": 10.0},
    "batch_error_rate_pct": {"warning": 5.0, "critical": 20.0},
    # KV-cache usage of an engine's stats lines (its p95); ours: a cache that stays full preempts.
    "kv_cache_usage_pct": {"warning": 90.0, "critical": 98.0},
    # Preemptions per 100 finished requests; ours: any recompute wastes work, one in ten is critical.
    "preemption_pct": {"warning": 1.0, "critical": 10.0},
    # The others' median generation throughput over the slowest engine's; ours.
    "worker_slowdown": {"warning": 2.0, "critical": 4.0},
    # Ray Data's remote wall time of the CPU stages (read, tokenisation, ...) over the engine stage's;
    # ours: the CPU stages taking half the engines' time already starve them on a small cluster.
    "cpu_stage_share": {"warning": 0.5, "critical": 1.0},
    # The gateway's queue position of a job when queued; ours for critical.
    "queue_depth": {"warning": 100.0, "critical": 1000.0},
}
# Rows whose figure is worse the lower it is: critical below critical, warning below warning.
LOWER_IS_WORSE = frozenset({"batch_throughput_rps", "batch_tokens_per_s"})

# The success criteria of `stallscope compare` (docs/analysis.md, "Run-level generation throughput"
# for how throughput is measured); overridable as the `success_criteria` entry of a thresholds file.
SUCCESS_CRITERIA = {
    "queue_ms_p95_below": 300.0,
    # "No regression in generation throughput": run-level completions/s (and tokens/s when the lines
    # carry tokens=) after >= before * (1 - tolerance), as throughput varies from run to run.
    "gen_throughput_tolerance": 0.05,
    # Steps (generation batches) at the start of each orchestrator's log left out of the run-level
    # throughput: the first one includes start-up (server reset, the pipeline of streams filling).
    "warmup_steps": 1,
    # Fewer steady-state steps than this in either run: the throughput verdict is inconclusive.
    "min_steps": 3,
    # A fix's verdict (docs/analysis.md): the figure its finding is judged on must move by at least
    # this fraction to count as improved or worse; less is run-to-run noise.
    "fix_metric_change": 0.10,
    # Dask calibration A/B (docs/dask.md, ours): trials per
    # minute not worse than before by more than this, and the split-aggregation rate after below
    # split_agg_pct's warning threshold.
    "trials_per_min_tolerance": 0.05,
}
# Each criterion's kind: a fraction in [0, 1), a positive number, or a whole number >= its minimum.
_CRITERION_KINDS = {"queue_ms_p95_below": "positive", "gen_throughput_tolerance": "fraction", "warmup_steps": 0,
                    "min_steps": 1, "trials_per_min_tolerance": "fraction", "fix_metric_change": "fraction"}
CRITERIA_KEY = "success_criteria"

# Settings of how the findings judge (a whole number each, not a warning/critical row).
DEFAULT_SETTINGS = {
    # The first weight updates of each orchestrator log are reported but not judged: the first is a
    # cold load (prime-rl's start-up reload_weights). 0 judges every update.
    "warmup_updates": 1,
    # A GPU sample below this utilisation (%) is idle.
    "gpu_idle_util_pct": 10,
}

LEVELS = ("warning", "critical")


def merge_thresholds(override=None):
    """The default table, with `success_criteria`, and `override` (plain data shaped like it)
    merged over it, validated.

    Raises InputError naming the offending key, e.g. "queue_ms.warning: not a number ('abc')".
    """
    table = {metric: dict(row) for metric, row in DEFAULT_THRESHOLDS.items()}
    table[CRITERIA_KEY] = dict(SUCCESS_CRITERIA)
    table.update(DEFAULT_SETTINGS)
    if override is None:
        return table
    if not isinstance(override, dict):
        raise InputError(f"expected a mapping of metric names to {{warning, critical}}, got {type(override).__name__}")
    for metric, row in override.items():
        if metric == CRITERIA_KEY:
            table[CRITERIA_KEY].update(_criteria(row))
            continue
        if metric in DEFAULT_SETTINGS:
            if isinstance(row, bool) or not isinstance(row, int) or row < 0:
                raise InputError(f"{metric}: expected a whole number >= 0, got {row!r}")
            table[metric] = row
            continue
        if metric not in table:
            raise InputError(f"{metric}: unknown metric (known: {', '.join(sorted(table))})")
        if not isinstance(row, dict):
            raise InputError(f"{metric}: expected a mapping with warning and/or critical, got {row!r}")
        for level, value in row.items():
            if level not in LEVELS:
                raise InputError(f"{metric}.{level}: unknown level (use warning or critical)")
            if not _is_number(value):
                raise InputError(f"{metric}.{level}: not a number ({value!r})")
            table[metric][level] = float(value)
        if metric in LOWER_IS_WORSE and table[metric]["warning"] < table[metric]["critical"]:
            raise InputError(f"{metric}: a floor's warning ({table[metric]['warning']:g}) is below its critical "
                             f"({table[metric]['critical']:g})")
        if metric not in LOWER_IS_WORSE and table[metric]["warning"] > table[metric]["critical"]:
            raise InputError(
                f"{metric}: warning ({table[metric]['warning']:g}) is above critical ({table[metric]['critical']:g})"
            )
    return table


def success_criteria(override=None):
    """SUCCESS_CRITERIA with the `success_criteria` entry of a thresholds override merged, validated."""
    return merge_thresholds(override)[CRITERIA_KEY]


def _criteria(override):
    if not isinstance(override, dict):
        raise InputError(f"{CRITERIA_KEY}: expected a mapping (known keys: {', '.join(SUCCESS_CRITERIA)}), got {override!r}")
    merged = {}
    for key, value in override.items():
        kind = _CRITERION_KINDS.get(key)
        where = f"{CRITERIA_KEY}.{key}"
        if kind is None:
            raise InputError(f"{where}: unknown criterion (known: {', '.join(SUCCESS_CRITERIA)})")
        if not _is_number(value):
            raise InputError(f"{where}: not a number ({value!r})")
        if kind == "fraction" and not 0 <= value < 1:
            raise InputError(f"{where}: a tolerance is a fraction from 0 to below 1 (0.05 is 5 %), got {value!r}")
        if kind == "positive" and value <= 0:
            raise InputError(f"{where}: must be above 0, got {value!r}")
        if isinstance(kind, int):
            if not math.isfinite(value) or value != int(value) or value < kind:
                raise InputError(f"{where}: must be a whole number of steps >= {kind}, got {value!r}")
            value = int(value)
        merged[key] = value if isinstance(kind, int) else float(value)
    return merged


def _is_number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value == value


def classify(value, row, floor=False):
    """`critical`, `warning` or `ok` for one value against one threshold row (a floor: LOWER_IS_WORSE)."""
    if floor:
        return "critical" if value < row["critical"] else "warning" if value < row["warning"] else "ok"
    if value > row["critical"]:
        return "critical"
    if value >= row["warning"]:
        return "warning"
    return "ok"
