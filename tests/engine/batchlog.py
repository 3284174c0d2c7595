"""Synthetic orchestrator logs with a known timeline of steps, for the run-level throughput tests.

Each step waits (for a checkpoint, a weight update) and then collects a batch; the lines carry the
`t=` a monotonic clock would give them and a matching `HH:MM:SS.mmm` prefix, so that the expected
throughput is known exactly.
"""


def step_lines(steps, batch_size=16, start_t=1000.0, tokens_per_completion=None, clock_prefix=True, with_t=True):
    """The log lines of `steps`, a list of (wait_s, batch_s) per step, in order."""
    lines = []
    t = start_t
    for step, (wait_s, batch_s) in enumerate(steps, start=1):
        t += wait_s
        if wait_s:
            lines.append(_line(t, f"[ckpt] wait.done target_step={step} wait_ms={wait_s * 1000:.1f}", clock_prefix, with_t))
        lines.append(_line(t, f"[gen] batch.start inflight=32 target_batch={batch_size}", clock_prefix, with_t))
        t += batch_s
        tokens = "" if tokens_per_completion is None else f" tokens={batch_size * tokens_per_completion}"
        lines.append(_line(t, f"[gen] batch.done completions={batch_size}{tokens} dur_ms={batch_s * 1000:.1f} inflight=32",
                           clock_prefix, with_t))
    return lines


def _line(t, message, clock_prefix, with_t):
    prefix = ""
    if clock_prefix:
        seconds = t % 86400
        prefix = f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}    INFO "
    return prefix + message + (f" t={t:.6f}" if with_t else "")


def write_steps(path, steps, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(step_lines(steps, **options)) + "\n")
    return path
