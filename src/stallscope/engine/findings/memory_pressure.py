"""Dask workers short of memory: paused, restarted by their nanny, or warned of unmanaged memory."""

from .common import finding

ID = "memory_pressure"
JUDGED_ON = None


def evaluate(ctx):
    dask = ctx["sections"].get("dask")
    if dask is None:
        return None
    memory = dask["memory"]
    pauses, restarts, unmanaged = memory["pause"], memory["restart"], memory["unmanaged"]
    if not (pauses or restarts or unmanaged):
        return None
    # A paused worker runs no task and a restarted one loses its data (its tasks run again): both
    # cost throughput directly. Unmanaged-memory warnings alone are a leak on its way there.
    severity = "critical" if pauses or restarts else "warning"
    parts = []
    if restarts:
        parts.append(f"{restarts} worker restart(s) by the nanny past the terminate fraction of the memory limit "
                     f"({', '.join(memory['restarted_workers'][:5])})")
    if pauses:
        parts.append(f"{pauses} pause(s) past the pause fraction ({memory['resume']} resume(s))")
    if unmanaged:
        parts.append(f"{unmanaged} 'unmanaged memory use is high' warning(s)")
    summary = "Dask workers ran short of memory: " + "; ".join(parts) + "."
    recommendation = (
        "Give each worker more memory (raise --memory-limit, or fewer --nworkers per host), and find what holds "
        "memory outside Dask's managed data: unmanaged memory is not spilled (a leak in the simulation, large "
        "intermediates, fragmentation; see the dashboard's memory plot). Fewer concurrent trials (--threads) keep "
        "fewer replicate results in memory at once."
    )
    return finding(ID, severity, summary, {key: memory[key] for key in memory}, recommendation)
