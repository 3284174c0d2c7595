"""Weight updates sent and never finished: hung or killed."""

from .common import finding

ID = "incomplete_weight_updates"
JUDGED_ON = None
LISTED = 20


def evaluate(ctx):
    incomplete = ctx["families"]["prime-rl"]["updates"].incomplete()
    if not incomplete:
        return None
    have_server = ctx["families"]["prime-rl"]["server_events"] > 0
    listed = [_describe(u, ctx["inputs"], have_server) for u in incomplete[:LISTED]]
    lost_mid_run = sum(1 for u in incomplete if u.later_done_in_file)
    # One unfinished update at the end of a log is what stopping a run mid-update leaves behind.
    severity = "warning" if lost_mid_run or len(incomplete) > 1 else "info"
    stuck = sorted({entry["stuck_at"] for entry in listed})
    summary = (
        f"{len(incomplete)} weight update(s) were sent and never logged client.done"
        + (f", {lost_mid_run} of them while later updates completed" if lost_mid_run else "")
        + f": {'; '.join(stuck)}."
    )
    recommendation = {
        True: "Follow each trace id in the inference server log: ",
        False: "Add the inference server log to the analysed paths to see where they stopped; ",
    }[have_server] + (
        "no server.recv means the request never reached the server (client pool or network); rpc.start without "
        "rpc.done means the engine's collective RPC hung (check the vLLM workers); if the run was killed "
        "mid-update this is expected."
    )
    evidence = {"count": len(incomplete), "lost_mid_run": lost_mid_run, "updates": listed}
    return finding(ID, severity, summary, evidence, recommendation)


def _describe(update, inputs, have_server):
    events = update.events
    if not have_server:
        stuck_at = "no server log in the inputs"
    elif events.server_recv is None:
        stuck_at = "never reached the server (no server.recv)"
    elif events.rpc_start is None:
        stuck_at = "received by the server, RPC never started"
    elif events.rpc_done is None:
        stuck_at = "RPC started, never finished"
    else:
        stuck_at = "RPC finished, the client never logged client.done"
    send = events.client_send
    return {
        "trace": update.trace,
        "op": update.op,
        "file": inputs[send.file]["path"],
        "line": send.line,
        "t": send.t,
        "stuck_at": stuck_at,
    }
