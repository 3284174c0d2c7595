"""The prime-rl family: every line shape of docs/instrumenting.md, tolerance, mentions and malformed lines."""

import pytest

from stallscope.engine.families import FAMILIES, MalformedLine, prime_rl

from .seedlog import SEED


@pytest.mark.parametrize("line", [line for lines in SEED.values() for line in lines])
def test_every_seed_line_is_an_event(line):
    assert prime_rl.parse(line)["event"]


def test_fields_in_any_order_with_extra_fields():
    event = prime_rl.parse("x [weights][t1] client.done extra=1 queue_ms=3.5 wall_ms=10.0 rpc_ms=6.5 note=ok")
    assert (event["trace"], event["wall_ms"], event["rpc_ms"], event["queue_ms"]) == ("t1", 10.0, 6.5, 3.5)


@pytest.mark.parametrize(
    ("line", "op"),
    [
        ("[weights][a] rpc.start op=reload_weights t=1.0", "reload_weights"),
        ("[weights][a] server.recv path=/update_weights t=1.0", "update_weights"),
        ("[weights][a] client.send url=http://127.0.0.1:8000 path=/reload_weights t=1.0", "reload_weights"),
        ("[weights][a] client.send url=http://h:8000/update_weights t=1.0", "update_weights"),
        ("[weights][a] client.send url=http://h:8000 path=/models/x/step_4 t=1.0", None),
    ],
)
def test_op_comes_from_the_endpoint(line, op):
    assert prime_rl.parse(line)["op"] == op


def test_optional_t_on_gen_and_ckpt_lines_and_line_timestamp():
    event = prime_rl.parse("2025-01-02 11:22:20.123 | INFO | orch:gen:1 - [gen] batch.done completions=8 dur_ms=5.0 inflight=3 t=99.5")
    assert (event["t"], event["ts"]) == (99.5, "2025-01-02 11:22:20.123")


@pytest.mark.parametrize(
    "line",
    [
        "the [weights] tag is documented in docs/instrumenting.md",
        "[weights] client.send without a trace id",
        "[gen] batch.skipped reason=none",
        "[rollout] nothing to report",
        "[ckpt]write.done-ish",
        "[weights][abc] client.sending t=1",
    ],
)
def test_mentions_are_not_events(line):
    assert prime_rl.parse(line) is None


@pytest.mark.parametrize(
    "line",
    [
        "[weights][abc] client.done wall_ms=abc queue_ms=1",
        "[weights][abc] client.done note=nothing",
        "[ckpt] write.done step=1",
        "[ckpt] wait.done target_step=1 wait_ms=",
        "[gen] batch.done completions=64 inflight=3",
        "[rollout] trunc_pct=nan current_step=1",
        "[weights][abc] client.send t=1e400",
    ],
)
def test_event_shape_with_unreadable_fields_is_malformed(line):
    with pytest.raises(MalformedLine):
        prime_rl.parse(line)


def test_family_registry_is_a_plain_list_of_modules():
    for family in FAMILIES:
        assert family.NAME and family.TAGS and family.LOOKED_FOR and callable(family.parse)
