"""The registry of findings, in tie-break order (docs/analysis.md, Findings). A new finding is one module
appended here: ID, and evaluate(ctx) -> finding dict | None.

ctx: `samples` and `metrics` (per metric name), `records`, `thresholds`, `async_level`
(`{value, source}`), `inputs` (report inputs, by file index), `correlation`, `profiles` (names of
the log families seen), `dask` (the report's dask section, None without Dask lines) and `gpu` (the
report's gpu section, None without GPU samples).
"""

from . import (
    aggregation_data_movement,
    checkpoint_stall,
    event_loop_blocked,
    frontend_queue_saturation,
    generation_contention,
    gpu_underutilised,
    incomplete_weight_updates,
    memory_pressure,
    no_weight_updates,
    poor_rollout_quality,
    slow_checkpoint_write,
    slow_generation,
    slow_weight_loading,
    worker_imbalance,
)
from .common import SEVERITY_RANK

FINDINGS = [
    frontend_queue_saturation,
    slow_weight_loading,
    checkpoint_stall,
    slow_checkpoint_write,
    generation_contention,
    slow_generation,
    poor_rollout_quality,
    no_weight_updates,
    incomplete_weight_updates,
    # A symptom: the findings above name its cause when they are present.
    gpu_underutilised,
    # Dask calibration (docs/dask.md): memory first (a paused or restarted worker distorts every other
    # figure), then data movement, which also blocks event loops.
    memory_pressure,
    aggregation_data_movement,
    event_loop_blocked,
    worker_imbalance,
]


def evaluate_all(ctx):
    """The findings present, in registry order."""
    return [result for result in (module.evaluate(ctx) for module in FINDINGS) if result is not None]


def diagnose(findings):
    """(diagnosis, severity): the most severe warning/critical finding, ties in registry order."""
    best = None
    for result in findings:
        rank = SEVERITY_RANK[result["severity"]]
        if rank >= SEVERITY_RANK["warning"] and (best is None or rank > SEVERITY_RANK[best["severity"]]):
            best = result
    return ("healthy", "ok") if best is None else (best["id"], best["severity"])
