"""stallscope.instrument: the lines it emits through real loggers, across a real HTTP round trip, are
read back by the engine to the same numbers the helpers measured."""

import json
import logging
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stallscope import instrument
from stallscope.engine import analyze

# prime-rl's two line prefixes (docs/instrumenting.md): bare `HH:MM:SS    INFO ` and loguru's.
BARE = "%(asctime)s%(levelname)8s %(message)s"
LOGURU = "%(asctime)s.%(msecs)03d | %(levelname)-8s | %(name)s:%(funcName)s:%(lineno)d - %(message)s"


@pytest.fixture
def loggers(tmp_path):
    made = {}

    def make(name, fmt):
        logger = logging.getLogger(f"stallscope.test_instrument.{name}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        handler = logging.FileHandler(tmp_path / f"{name}.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter(fmt, "%H:%M:%S" if fmt is BARE else "%Y-%m-%d %H:%M:%S"))
        logger.handlers[:] = [handler]
        made[name] = logger
        return logger

    yield make
    for logger in made.values():
        for handler in logger.handlers:
            handler.close()
        logger.handlers[:] = []


def inference_server(logger, rpc_seconds):
    """A real HTTP server instrumented as docs/instrumenting.md says: server.recv for every request,
    rpc.start/rpc.done around the weight load, rpc_ms in the JSON response."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            instrument.server_recv(logger, self.headers, self.path)
            self._reply({"data": []})

        def do_POST(self):
            trace = instrument.server_recv(logger, self.headers, self.path)
            self.rfile.read(int(self.headers.get("content-length", 0)))
            op = self.path.strip("/")
            with instrument.WeightRpc(logger, trace, op) as rpc:
                time.sleep(rpc_seconds)  # the engine loading weights
            self._reply({"rpc_ms": rpc.rpc_ms})

        def _reply(self, payload):
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def post(url, headers):
    request = urllib.request.Request(url, data=b"{}", headers={"content-type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_helpers_lines_read_back_to_the_same_numbers(tmp_path, loggers):
    orchestrator, inference, trainer = loggers("orchestrator", LOGURU), loggers("inference", BARE), loggers("trainer", BARE)
    server = inference_server(inference, rpc_seconds=0.02)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        updates = []
        with instrument.WeightUpdate(orchestrator, "reload_weights", f"{base}/reload_weights") as update:
            update.rpc_ms = post(update.url, update.headers)["rpc_ms"]
        updates.append(update)
        with urllib.request.urlopen(f"{base}/v1/models", timeout=60):
            pass  # inference traffic: an untraced request
        with instrument.GenerationBatch(orchestrator, target_batch=8, inflight=12) as batch:
            with instrument.CheckpointWrite(trainer, step=1) as write:
                time.sleep(0.01)
            with instrument.CheckpointWait(orchestrator, target_step=1) as wait:
                time.sleep(0.005)
            with instrument.WeightUpdate(orchestrator, "update_weights", f"{base}/update_weights",
                                         weight_dir="/runs/r1/output/weights/step 1") as update:
                update.rpc_ms = post(update.url, update.headers)["rpc_ms"]
            updates.append(update)
            batch.completions, batch.tokens, batch.inflight = 8, 1200, 10
        staleness = instrument.rollout(orchestrator, trunc_pct=12.5, current_step=3, ckpt_step=1)
    finally:
        server.shutdown()
        server.server_close()

    report = analyze([str(tmp_path)])
    metrics = report["metrics"]

    def values(name):
        stats = metrics[name]
        return sorted({stats["min"], stats["max"]}) if stats["count"] else []

    assert report["updates"]["complete"] == 2 and report["updates"]["incomplete"] == 0
    assert report["updates"]["by_op"] == {"reload_weights": 1, "update_weights": 1}
    assert report["requests"]["untraced"] == 1
    assert values("wall_ms") == sorted(u.wall_ms for u in updates)
    assert values("rpc_ms") == sorted(u.rpc_ms for u in updates)
    assert values("queue_ms") == sorted(u.queue_ms for u in updates)
    assert all(u.queue_ms == round(u.wall_ms - u.rpc_ms, 3) and u.rpc_ms >= 20 for u in updates)
    assert values("rpc_ms.update_weights") == [updates[1].rpc_ms]
    assert values("rpc_ms.reload_weights") == [updates[0].rpc_ms]
    # Both clocks are this host's: the queue split is measured from the t= values directly.
    assert metrics["client_queue_ms"]["count"] == 2 and metrics["server_queue_ms"]["count"] == 2
    assert report["correlation"]["method"] == "same_host"
    assert values("write_ms") == [write.write_ms] and values("wait_ms") == [wait.wait_ms]
    assert values("gen_dur_ms") == [batch.dur_ms] and values("gen_dur_ms.during_updates") == [batch.dur_ms]
    assert values("inflight") == [10.0, 12.0]
    assert values("trunc_pct") == [12.5] and values("staleness") == [staleness] == [2]
    assert all(entry["malformed"] == 0 for entry in report["inputs"])


def test_failed_update_logs_no_done_line_and_is_incomplete(tmp_path, loggers):
    orchestrator = loggers("orchestrator", BARE)
    with pytest.raises(ConnectionError):
        with instrument.WeightUpdate(orchestrator, "update_weights", "http://127.0.0.1:9/update_weights"):
            raise ConnectionError("refused")
    report = analyze([str(tmp_path)])
    assert report["updates"] == {"complete": 0, "incomplete": 1, "server_only": 0, "duplicate_trace_ids": 0,
                                 "by_op": {"update_weights": 1}}


@pytest.mark.parametrize("headers, trace", [
    ({"X-Trace-Id": "a1b2c3d4e5f60718"}, "a1b2c3d4e5f60718"),
    ([(b"x-trace-id", b"a1b2c3d4e5f60718")], "a1b2c3d4e5f60718"),  # an ASGI scope's headers
    ({}, "-"),
    ({"x-trace-id": "a] client.done wall_ms=1"}, "-"),  # would forge a line
    ({"x-trace-id": "x\n[weights][y] client.send"}, "-"),
])
def test_trace_of(headers, trace):
    assert instrument.trace_of(headers) == trace


def test_field_values_stay_one_token(tmp_path, loggers):
    orchestrator = loggers("orchestrator", BARE)
    with instrument.WeightUpdate(orchestrator, "update_weights", "http://h/update_weights", weight_dir="/a b/step_1"):
        pass
    text = (tmp_path / "orchestrator.log").read_text()
    assert "weight_dir=/a%20b/step_1 " in text
    assert len(instrument.new_trace_id()) == 16
