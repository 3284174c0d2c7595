"""Weight-update requests wait before the server runs them (a shared connection pool; docs/analysis.md)."""

from ..gpu_run import idle_sentence
from .common import finding, judge, ms, tail_sentence

ID = "frontend_queue_saturation"
JUDGED_ON = "queue_ms.p95"


def evaluate(ctx):
    severity, evidence = judge(ctx, "queue_ms", ctx["thresholds"]["queue_ms"])
    if severity == "ok":
        return None
    metrics = ctx["metrics"]
    evidence["rpc_ms_p95"] = metrics["rpc_ms"]["p95"]
    evidence["client_queue_ms_p95"] = metrics["client_queue_ms"]["p95"]
    evidence["server_queue_ms_p95"] = metrics["server_queue_ms"]["p95"]
    evidence["inflight_during_updates_mean"] = ctx["families"]["prime-rl"]["batch_summary"].inflight_during_updates_mean()
    summary = "Weight updates queue before the server runs them: " + tail_sentence("queue_ms", evidence, severity)
    if evidence["rpc_ms_p95"] is not None:
        summary += f" The RPC itself takes p95 {ms(evidence['rpc_ms_p95'])}."
    recommendation = (
        "Send update_weights/reload_weights through a dedicated admin HTTP client (httpx, max_connections=1, "
        "no keep-alive) instead of the shared inference client, so weight updates stop waiting behind "
        "streaming generation requests; then check with `stallscope compare` that queue_ms p95 falls below 300 ms."
    )
    client, server = evidence["client_queue_ms_p95"], evidence["server_queue_ms_p95"]
    if client is not None and server is not None:
        if client >= server:
            recommendation += (
                f" The wait is on the client side (send->recv p95 {ms(client)}, recv->rpc.start p95 {ms(server)}): "
                "the request sat in the orchestrator's connection pool, which the dedicated client fixes."
            )
        else:
            recommendation += (
                f" The wait is on the server side (recv->rpc.start p95 {ms(server)}, send->recv p95 {ms(client)}): "
                "the server accepted the request but started the RPC late; look at what its event loop was busy with."
            )
    gpu = ctx["sections"].get("gpu")
    if gpu and gpu["during_weight_updates"]:
        evidence["gpu_during_updates"] = gpu["during_weight_updates"]
        summary += idle_sentence(gpu["during_weight_updates"], "weight updates queued and loaded")
    return finding(ID, severity, summary, evidence, recommendation)
