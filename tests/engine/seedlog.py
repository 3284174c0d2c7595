"""Example lines of every event (docs/instrumenting.md), and writing them as real log files with real prefixes.

The weight-update examples are the three signatures of docs/analysis.md: a fast update, a
front-end queue and a slow engine.
"""

SEED = {
    # prime-rl resets the server to its base weights when the orchestrator starts: a cold load, slow
    # enough to be critical for reload_weights, and a warm-up update that is reported, not judged.
    "startup_reload": [
        "[weights][aaa000] client.send url=http://192.168.1.100:8000 path=/reload_weights t=1200.000100",
        "[weights][aaa000] client.done wall_ms=2410.3 rpc_ms=2400.1 queue_ms=10.2",
    ],
    "weights_normal": [
        "[weights][abc123] client.send url=http://192.168.1.100:8000 path=/models/.../step_42 t=1234.567890",
        "[weights][abc123] server.recv path=/update_weights t=1234.567901",
        "[weights][abc123] rpc.start op=update_weights t=1234.568012",
        "[weights][abc123] rpc.done op=update_weights t=1235.823456 rpc_ms=1255.4",
        "[weights][abc123] client.done wall_ms=1255.6 rpc_ms=1255.4 queue_ms=0.2",
    ],
    "weights_frontend_queue": [
        "[weights][def456] client.send url=http://192.168.1.100:8000 path=/models/.../step_43 t=1240.123456",
        "[weights][def456] server.recv path=/update_weights t=1270.456789",
        "[weights][def456] rpc.start op=update_weights t=1270.456890",
        "[weights][def456] rpc.done op=update_weights t=1271.678901 rpc_ms=1222.0",
        "[weights][def456] client.done wall_ms=31555.4 rpc_ms=1222.0 queue_ms=30333.4",
    ],
    "weights_slow_engine": [
        "[weights][ghi789] client.send url=http://192.168.1.100:8000 path=/models/.../step_44 t=1280.234567",
        "[weights][ghi789] server.recv path=/update_weights t=1280.234578",
        "[weights][ghi789] rpc.start op=update_weights t=1280.234689",
        "[weights][ghi789] rpc.done op=update_weights t=1295.345678 rpc_ms=15111.0",
        "[weights][ghi789] client.done wall_ms=15111.1 rpc_ms=15111.0 queue_ms=0.1",
    ],
    "ckpt_normal": [
        "[ckpt] write.done step=42 write_ms=823.4",
        "[ckpt] wait.start target_step=42",
        "[ckpt] wait.done target_step=42 wait_ms=12.3",
    ],
    "ckpt_slow_write": ["[ckpt] write.done step=43 write_ms=8234.5"],
    "ckpt_long_wait": ["[ckpt] wait.start target_step=43", "[ckpt] wait.done target_step=43 wait_ms=5432.1"],
    "gen_normal": [
        "[gen] batch.start inflight=96 target_batch=64",
        "[gen] batch.done completions=64 dur_ms=2345.6 inflight=96",
    ],
    "gen_spike_during_update": [
        "[gen] batch.start inflight=128 target_batch=64",
        "[weights][xyz] client.send ...",
        "[weights][xyz] client.done wall_ms=30000 queue_ms=29000 ...",
        "[gen] batch.done completions=64 dur_ms=45678.9 inflight=140",
    ],
    "rollout_good": ["[rollout] trunc_pct=2.3 current_step=10 ckpt_step=9 staleness=1"],
    "rollout_high_truncation": ["[rollout] trunc_pct=78.5 current_step=10 ckpt_step=9 staleness=1"],
    "rollout_high_staleness": ["[rollout] trunc_pct=3.2 current_step=15 ckpt_step=10 staleness=5"],
}

# Line prefixes of real runs (docs/reference prime-rl.md) and common logging setups.
PREFIXES = {
    "none": lambda n: "",
    "bare": lambda n: f"11:22:{n % 60:02d}    INFO ",
    "loguru": lambda n: f"2025-01-02 11:22:{n % 60:02d}.123 | INFO     | prime_rl.orchestrator.client:update_weights:{n} - ",
    "logging": lambda n: f"2025-01-02 11:22:{n % 60:02d},123 - prime_rl.orchestrator - INFO - ",
    "iso": lambda n: f"2025-01-02T11:22:{n % 60:02d}.123456+00:00 INFO ",
}


def colour(message):
    """The message with ANSI colour codes around its tag and around the whole line, as a tty shows it."""
    tag_end = message.index("]") + 1
    return f"\x1b[32m\x1b[1m{message[:tag_end]}\x1b[0m{message[tag_end:]}\x1b[0m"


def render(messages, prefix="bare", coloured=False, crlf=False):
    """The bytes of a log holding `messages`, each with a prefix, optionally coloured and CRLF."""
    make_prefix = PREFIXES[prefix]
    end = "\r\n" if crlf else "\n"
    lines = [make_prefix(n) + (colour(m) if coloured else m) for n, m in enumerate(messages)]
    return (end.join(lines) + end).encode()


def write_log(path, messages, **style):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(messages, **style))
    return path
