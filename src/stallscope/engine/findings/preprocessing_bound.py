"""A CPU stage of the Ray Data pipeline (reading, tokenisation) takes so long that the engines wait
for input (docs/ray.md)."""

from .batch_common import jobs, worst_job, where
from .common import finding

ID = "preprocessing_bound"
JUDGED_ON = "batch.cpu_stage_share"


def evaluate(ctx):
    if not jobs(ctx):
        return None
    severity, job, share, row = worst_job(ctx, lambda job: job["cpu_stage_share"], "cpu_stage_share")
    if severity == "ok":
        return None
    kinds = [stage["kind"] for stage in job["stages"]]
    feeding = job["stages"][:kinds.index("engine")]
    slowest = max(feeding, key=lambda stage: stage["wall_s"] or 0.0)
    engine = [stage for stage in job["stages"] if stage["kind"] == "engine"]
    idle = sum(worker["idle_lines"] for worker in job["workers"])
    lines = sum(worker["stats_lines"] for worker in job["workers"])
    idle_text = (f"; the engines had no request running in {idle} of their {lines} stats lines" if lines else "")
    summary = (f"The CPU stages starve the engines in {where(job)}: Ray Data's stats give the CPU stages that feed them "
               f"{share:.2f} x the engine stage's remote wall time ({severity}: warning >= {row['warning']:g}, critical > "
               f"{row['critical']:g}); the slowest is {slowest['name']} with {slowest['wall_s']:.1f} s over "
               f"{slowest['tasks']} tasks against {sum(stage['wall_s'] or 0.0 for stage in engine):.1f} s for "
               f"{', '.join(stage['name'] for stage in engine)}{idle_text}.")
    recommendation = (
        f"Make {slowest['name']} cheaper or wider: give it more parallel tasks (more CPUs in the cluster or per "
        "node, `concurrency=` on its map, a smaller num_cpus per task), batch it (map_batches with a vectorised "
        "tokenizer instead of a per-row map), or move tokenisation into the engine stage (vLLM tokenises itself); "
        "more engine actors or a larger batch_size do not help while the engines wait for input.")
    evidence = {"job": job["file"], "cpu_stage_share": share, "warning_threshold": row["warning"],
                "critical_threshold": row["critical"], "stages": job["stages"], "engine_idle_stats_lines": idle,
                "engine_stats_lines": lines}
    return finding(ID, severity, summary, evidence, recommendation)
