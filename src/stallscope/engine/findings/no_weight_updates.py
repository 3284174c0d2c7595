"""No client-side weight-update line at all (docs/analysis.md; the lines: docs/instrumenting.md)."""

from .common import finding

ID = "no_weight_updates"
JUDGED_ON = None


def evaluate(ctx):
    if "prime-rl" not in ctx["profiles"] and ctx["profiles"]:
        return None  # another workload's logs (Dask): weight updates are not expected
    counts = ctx["families"]["prime-rl"]["updates"].counts
    if counts["client_side"]:
        return None
    server_only = counts["server_only"]
    evidence = {"client_updates": 0, "server_logged_updates": server_only}
    if server_only:
        summary = (
            f"The inference server logged {server_only} traced weight updates, but no orchestrator-side "
            "[weights] client.send/client.done line is in the inputs."
        )
        recommendation = "Include the orchestrator's log in the analysed paths to get queue_ms and wall_ms."
        return finding(ID, "info", summary, evidence, recommendation)
    summary = "No weight update was logged: no [weights] client.send/client.done line in any input."
    recommendation = (
        "Check that async_level is set correctly, that the trainer is actually writing checkpoints "
        "(progress.step > 0), and that the orchestrator hits the async barrier (progress.step - ckpt_step > "
        "async_level); and that the orchestrator log (the instrumented branch) is among the analysed paths."
    )
    return finding(ID, "warning", summary, evidence, recommendation)
