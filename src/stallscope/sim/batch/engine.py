"""A miniature vLLM engine on CPU: continuous batching under a KV-cache block budget.

What it shares with vLLM's V1 scheduler, because diagnosis depends on it:

- The KV cache is `num_blocks` blocks of `block_size` tokens, sized from a device memory, the
  `gpu_memory_utilization` share of it and the model's weights, as vLLM sizes its cache. A request
  holds ceil(tokens / block_size) blocks for its prompt plus what it has generated.
- Each step admits waiting requests (first come, first served) while `max_num_seqs`, the
  step's `max_num_batched_tokens` and free blocks allow, prefills them, and decodes one token for
  every running request.
- When a running request needs a block and none is free, the most recently admitted request is
  preempted (RECOMPUTE: its blocks are freed, it goes back to the front of the queue and its prompt
  plus its generated tokens are prefilled again), logged in vLLM's words with the cumulative count.
- Every `stats_interval_s` it logs vLLM V1's periodic line with the measured prompt and generation
  throughput, running and waiting requests and KV-cache usage.

Each step's cost is real CPU work: a pass over the weights (decode is bound by reading them, as on
a GPU) plus a matrix product per token, both scaled by `model_mb`. No text is generated: an output
is `generated_tokens` filler tokens, as many as the request would write, capped by `max_tokens`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .config import EngineConfig, EngineConfigError

# vLLM's own log format (vllm/logger.py): `INFO 07-26 15:50:29 [loggers.py:282] Engine 000: ...`.
VLLM_LINE_FORMAT = "%(levelname)s %(asctime)s [%(filename)s:%(lineno)d] %(message)s"
VLLM_DATE_FORMAT = "%m-%d %H:%M:%S"

log = logging.getLogger("stallscope.batch.engine")


def configure_logging() -> None:
    """Engine lines on stderr in vLLM's format (Ray forwards a worker's stderr to its log files)."""
    if any(getattr(handler, "stallscope", False) for handler in log.handlers):
        return
    import sys
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(VLLM_LINE_FORMAT, VLLM_DATE_FORMAT))
    handler.stallscope = True
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


@dataclass(eq=False)  # identity: the scheduler looks requests up in its lists
class Request:
    request_id: str
    prompt_tokens: int
    wanted_tokens: int                  # what the model would write before its end-of-sequence token
    arrival: float = field(default_factory=time.monotonic)
    generated: int = 0
    blocks: int = 0
    prefilled: bool = False
    first_token_at: float | None = None
    finished_at: float | None = None
    preemptions: int = 0
    error: str | None = None
    done: threading.Event | None = None

    def latency_s(self) -> float:
        return (self.finished_at or time.monotonic()) - self.arrival


def injected_failure(request_id: str, fail_rate: float) -> bool:
    """Whether a request fails: a stable function of its id, so reruns fail the same requests."""
    if fail_rate <= 0:
        return False
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fail_rate


class MiniEngine:
    """The scheduler and the model. `step()` runs one engine step; `generate()` runs a batch to its end
    in the caller's thread; `start()` runs steps in a background thread for concurrent callers."""

    def __init__(self, config: EngineConfig, engine_index: int = 0):
        self.config = config
        self.engine_index = engine_index
        self.num_blocks = config.num_blocks()
        if self.num_blocks < 2:
            raise EngineConfigError(f"the KV cache has {self.num_blocks} block(s) of {config.block_size} tokens: "
                                    f"raise gpu_memory_utilization or the memory")
        self.free_blocks = self.num_blocks
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.preemptions_total = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = False
        # The model: weights whose every byte each step reads, and a square layer per token.
        hidden = max(16, int(math.sqrt(config.model_mb * 1024 * 1024 / 4 / 64)))
        rng = np.random.default_rng(engine_index)
        self._weights = rng.standard_normal(int(config.model_mb * 1024 * 1024 / 4), dtype=np.float32)
        self._layer = rng.standard_normal((hidden, hidden), dtype=np.float32) / hidden
        self._hidden = hidden
        self._stats_at = time.monotonic()
        self._stats_prompt = 0
        self._stats_generation = 0

    def log_startup(self, max_model_len: int | None = None) -> None:
        """vLLM V1's start-up lines (kv_cache_utils.py): the cache size and how many requests it holds."""
        tokens = self.num_blocks * self.config.block_size
        max_model_len = max_model_len or self.config.max_tokens * 2
        log.info("GPU KV cache size: %s tokens", f"{tokens:,}")
        log.info("Maximum concurrency for %s tokens per request: %.2fx", f"{max_model_len:,}", tokens / max_model_len)

    # The scheduler ---------------------------------------------------------------------------
    def _blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.config.block_size)

    def add(self, request: Request) -> None:
        if self._blocks_for(request.prompt_tokens + 1) > self.num_blocks:
            request.error = (f"prompt of {request.prompt_tokens} tokens does not fit the KV cache "
                             f"({self.num_blocks * self.config.block_size} tokens)")
            self._finish(request)
            return
        if injected_failure(request.request_id, self.config.fail_rate):
            request.error = "injected failure (fail_rate)"
            self._finish(request)
            return
        with self._lock:
            self.waiting.append(request)
            self._lock.notify_all()

    def _finish(self, request: Request) -> None:
        request.finished_at = time.monotonic()
        if request.done is not None:
            request.done.set()

    def _preempt(self) -> Request:
        victim = self.running.pop()  # the most recently admitted
        self.free_blocks += victim.blocks
        victim.blocks = 0
        victim.prefilled = False
        victim.preemptions += 1
        self.preemptions_total += 1
        self.waiting.appendleft(victim)
        log.warning("Sequence group %s is preempted by PreemptionMode.RECOMPUTE mode because there is not "
                    "enough KV cache space. This can affect the end-to-end performance. Increase "
                    "gpu_memory_utilization or tensor_parallel_size to provide more KV cache memory. "
                    "total_cumulative_preemption_cnt=%d", victim.request_id, self.preemptions_total)
        return victim

    def _schedule(self) -> tuple[int, list[Request]]:
        """Admit and grow under the budgets: (prefill tokens, requests decoding this step)."""
        budget = self.config.max_num_batched_tokens
        # Every running request needs room for its next token; preempt the newest until it fits.
        decoding: list[Request] = []
        for request in list(self.running):
            if request not in self.running:
                continue  # preempted in this loop
            need = self._blocks_for(request.prompt_tokens + request.generated + 1) - request.blocks
            while need > self.free_blocks and self.running and self.running[-1] is not request:
                self._preempt()
            if need > self.free_blocks:
                self._preempt()  # the request itself: nothing else left to free
                continue
            self.free_blocks -= need
            request.blocks += need
            decoding.append(request)
        budget -= len(decoding)
        prefill = 0
        while self.waiting and len(self.running) < self.config.max_num_seqs:
            request = self.waiting[0]
            tokens = request.prompt_tokens + request.generated  # RECOMPUTE prefills what it had
            blocks = self._blocks_for(tokens + 1)
            if tokens > budget or blocks > self.free_blocks:
                break
            self.waiting.popleft()
            self.free_blocks -= blocks
            request.blocks = blocks
            request.prefilled = True
            self.running.append(request)
            decoding.append(request)  # its prefill yields its next token, as in vLLM
            budget -= tokens
            prefill += tokens
        return prefill, decoding

    # The model -------------------------------------------------------------------------------
    def _compute(self, tokens: int) -> None:
        """Real CPU work for one step: read every weight, then one layer over the step's tokens."""
        for _ in range(max(1, round(self.config.slowdown))):
            float(self._weights.sum())
            rows = min(tokens, 4096)
            activations = np.ones((max(1, rows), self._hidden), dtype=np.float32)
            for _layer in range(4):
                activations = np.tanh(activations @ self._layer)

    def step(self) -> int:
        """One engine step; returns the requests it finished."""
        with self._lock:
            prefill, decoding = self._schedule()
        if not decoding:
            return 0
        self._compute(prefill + len(decoding))
        now = time.monotonic()
        finished = 0
        with self._lock:
            self.prompt_tokens_total += prefill
            self._stats_prompt += prefill
            for request in decoding:
                request.generated += 1
                self.generation_tokens_total += 1
                self._stats_generation += 1
                if request.first_token_at is None:
                    request.first_token_at = now
                if request.generated >= min(request.wanted_tokens, self.config.max_tokens):
                    self.running.remove(request)
                    self.free_blocks += request.blocks
                    request.blocks = 0
                    self._finish(request)
                    finished += 1
        self._maybe_log_stats(now)
        return finished

    def _maybe_log_stats(self, now: float, force: bool = False) -> None:
        elapsed = now - self._stats_at
        if elapsed < self.config.stats_interval_s and not force:
            return
        with self._lock:
            prompt, generation = self._stats_prompt, self._stats_generation
            running, waiting = len(self.running), len(self.waiting)
            usage = 100.0 * (self.num_blocks - self.free_blocks) / self.num_blocks
            self._stats_prompt = self._stats_generation = 0
        self._stats_at = now
        if not (prompt or generation or running or waiting) and not force:
            return  # idle: vLLM logs this at DEBUG only
        log.info("Engine %03d: Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, "
                 "Running: %d reqs, Waiting: %d reqs, GPU KV cache usage: %.1f%%, Prefix cache hit rate: %.1f%%",
                 self.engine_index, prompt / max(elapsed, 1e-9), generation / max(elapsed, 1e-9), running,
                 waiting, usage, 0.0)

    def generate(self, requests: list[Request]) -> list[Request]:
        """Run `requests` to their end in this thread (no background loop)."""
        for request in requests:
            self.add(request)
        while self.waiting or self.running:
            self.step()
        return requests

    # Concurrent callers (Ray Data's max_concurrent_batches) ----------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="engine-core", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not (self.waiting or self.running or self._stop):
                    self._lock.wait(timeout=self.config.stats_interval_s)
                if self._stop:
                    return
                busy = bool(self.waiting or self.running)
            if busy:
                self.step()
            else:
                self._maybe_log_stats(time.monotonic())

    def submit(self, requests: list[Request]) -> list[Request]:
        """Queue `requests` to the running loop and wait until each has finished."""
        for request in requests:
            request.done = threading.Event()
            self.add(request)
        for request in requests:
            request.done.wait()
        return requests

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._maybe_log_stats(time.monotonic(), force=True)
