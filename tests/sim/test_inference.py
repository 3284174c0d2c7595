"""The inference server over real HTTP: weight updates read the checkpoint, streams end right."""

import asyncio
import json
import socket

import httpx

from .simproc import LINE_PREFIX


def write_checkpoint(directory, size, stable=True):
    directory.mkdir(parents=True)
    (directory / "model.bin").write_bytes(b"\1" * size)
    if stable:
        (directory / "STABLE").write_text("")
    return directory


def test_update_weights_reads_the_checkpoint_and_logs_the_trace(server, tmp_path):
    component, url = server
    ckpt = write_checkpoint(tmp_path / "weights" / "step_1", 3_000_000)
    response = httpx.post(f"{url}/update_weights", json={"weight_dir": str(ckpt)},
                          headers={"x-trace-id": "0123456789abcdef"}, timeout=10)
    assert response.status_code == 200
    assert response.json()["bytes"] == 3_000_000  # model.bin; STABLE is empty
    assert response.json()["rpc_ms"] >= 50  # --engine-delay-ms 50 is part of the rpc
    log = component.wait_for(r"rpc\.done op=update_weights t=\S+ rpc_ms=(\S+)").string
    assert "[weights][0123456789abcdef] server.recv path=/update_weights t=" in log
    assert "[weights][0123456789abcdef] rpc.start op=update_weights t=" in log

    reload = httpx.post(f"{url}/reload_weights", timeout=10)
    assert reload.json()["bytes"] == 3_000_000  # rereads the last loaded checkpoint
    component.wait_for(r"rpc\.done op=reload_weights")


def test_untraced_requests_are_logged_with_a_dash(server):
    component, url = server
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    component.wait_for(r"\[weights\]\[-\] server\.recv path=/health t=\d+\.\d{6}\n")
    assert all(LINE_PREFIX.match(line) for line in component.text().splitlines())


def test_incomplete_checkpoint_and_bad_bodies_are_refused(server, tmp_path):
    _, url = server
    partial = write_checkpoint(tmp_path / "step_2", 10, stable=False)
    assert httpx.post(f"{url}/update_weights", json={"weight_dir": str(partial)},
                      timeout=10).status_code == 404
    assert httpx.post(f"{url}/update_weights", json={"dir": "x"}, timeout=10).status_code == 400
    assert httpx.post(f"{url}/v1/chat/completions", content=b"not json",
                      timeout=10).status_code == 400


def stream(url, max_tokens):
    body = {"messages": [{"role": "user", "content": "two words"}], "max_tokens": max_tokens,
            "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]


def test_stream_is_cut_at_max_tokens(server):
    _, url = server
    events = stream(url, max_tokens=40)  # the server's default lengths start at 64
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "length" and not any(finish[:-1])
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 40, "total_tokens": 42}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert len(text.split()) == 40


def test_stream_ends_with_stop_below_max_tokens(server):
    _, url = server
    chunks = [json.loads(e) for e in stream(url, max_tokens=2048)[:-1]]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert 64 <= chunks[-1]["usage"]["completion_tokens"] <= 448


def test_requests_beyond_the_slots_wait_for_one(start_server):
    _, url = start_server("--slots", 1, "--len-min", 64, "--len-max", 64, "--tokens-per-s", 640)
    body = {"messages": [{"role": "user", "content": "x"}], "stream": True}

    async def one_stream(client, events):
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if '"content":"tok' in line:
                    events.append(("token", id(events)))
                elif line == "data: [DONE]":
                    events.append(("done", id(events)))

    async def two_streams():
        order: list = []
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await asyncio.gather(one_stream(client, order), one_stream(client, order))
        return order

    order = [kind for kind, _ in asyncio.run(two_streams())]
    # One slot: the second sequence produces no token before the first is done.
    first_done = order.index("done")
    assert order[first_done + 1:].count("done") == 1
    assert order[:first_done] == ["token"] * first_done and order[first_done + 1] == "token"


def test_client_leaving_mid_body_is_a_log_line_not_a_traceback(server):
    component, url = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mess")
        component.wait_for(r"server\.recv path=/v1/chat/completions")
    component.wait_for("client disconnected before sending its request body")
    assert "Traceback" not in component.text()
