"""The orchestrator: prime-rl's orchestrator role.

- Keeps `inflight` streaming chat-completion requests going through one shared httpx client whose
  pool has `pool_size` connections: a stream holds its connection until its last token, the other
  requests wait in the pool's queue.
- Groups completions into a batch per step (`[gen] batch.start/done`) and writes the step's rollouts
  for the trainer; logs `[rollout] trunc_pct=... staleness=...` from the completions it got.
- Async barrier: at step N with N - ckpt_step > async_level, waits for checkpoint N - async_level
  (`[ckpt] wait.start/done`) and sends `update_weights` with a fresh trace id through the shared
  client (it queues behind the streams) or a dedicated admin client (max_connections=1, no
  keep-alive: prime-rl's fix), logging `client.send` / `client.done` with queue_ms = wall - rpc.
  `weight_update` says when: before the step collects its batch, or while it does (the step ends
  when both are done), so that the engine's weight load pauses the batch's generation: the
  spike during a weight update that generation_contention finds (docs/analysis.md).
"""

import asyncio
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import httpx

from .errors import Deadline, SimError
from .layout import STABLE_MARKER, wait_for_file, weight_dir, write_jsonl_atomically, rollout_file
from .. import instrument
from .logs import log, mono

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
HEALTH_POLL_S = 0.5


@dataclass(frozen=True)
class OrchestratorConfig:
    base_url: str
    output_dir: Path
    max_steps: int
    batch_size: int
    rollouts_per_example: int
    async_level: int
    seq_len: int
    max_tokens: int
    inflight: int
    pool_size: int
    admin_client: str  # "shared" | "dedicated"
    weight_update: str  # "before-batch" | "during-batch"
    crash_at_step: int | None
    health_timeout_s: float
    timeout_s: float


@dataclass(frozen=True)
class Completion:
    example: int
    sample: int
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    dur_ms: float

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def client_timeout(pool_s: float) -> httpx.Timeout:
    return httpx.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S, write=CONNECT_TIMEOUT_S,
                         pool=pool_s)


class RolloutStreams:
    """`inflight` workers, each: take the next (example, sample), stream its completion, hand it over.

    A worker whose completion finds the buffer full waits before asking again, so the number of
    requests in flight drops when the step loop stops consuming (e.g. at the async barrier).
    """

    def __init__(self, client: httpx.AsyncClient, config: OrchestratorConfig):
        self.client = client
        self.config = config
        self.completions: asyncio.Queue[Completion] = asyncio.Queue(maxsize=2 * config.batch_size)
        self.inflight = 0
        self._samples = ((i // config.rollouts_per_example, i % config.rollouts_per_example)
                         for i in itertools.count())

    async def worker(self) -> None:
        while True:
            example, sample = next(self._samples)
            self.inflight += 1
            try:
                completion = await self._complete(example, sample)
            finally:
                self.inflight -= 1
            await self.completions.put(completion)

    async def _complete(self, example: int, sample: int) -> Completion:
        body = {
            "model": "policy",
            "messages": [{"role": "user", "content": f"Solve problem {example} step by step."}],
            "max_tokens": self.config.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        started = mono()
        finish_reason, usage = None, None
        async with self.client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                raise SimError(f"inference server answered {response.status_code} to a "
                               f"completion request: {response.text[:200]}")
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[len("data: "):])
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk["choices"]:
                    finish_reason = choice.get("finish_reason") or finish_reason
        if usage is None or finish_reason is None:
            raise SimError("inference server closed a completion stream before its end")
        return Completion(example, sample, usage["prompt_tokens"], usage["completion_tokens"],
                          finish_reason, (mono() - started) * 1000)

    async def take(self, n: int, deadline: Deadline) -> list[Completion]:
        batch = []
        while len(batch) < n:
            try:
                batch.append(await asyncio.wait_for(self.completions.get(), deadline.remaining()))
            except TimeoutError:
                deadline.remaining()  # raises the deadline's SimError
        return batch


class Orchestrator:
    def __init__(self, config: OrchestratorConfig, shared: httpx.AsyncClient,
                 admin: httpx.AsyncClient, deadline: Deadline):
        self.config = config
        self.shared = shared
        self.admin = admin
        self.deadline = deadline
        self.streams = RolloutStreams(shared, config)
        self.ckpt_step = 0

    async def weights_rpc(self, op: str, weight_path: Path | None) -> None:
        body = {"weight_dir": str(weight_path)} if weight_path else {}
        with instrument.WeightUpdate(log, op, f"{self.config.base_url}/{op}", weight_dir=weight_path) as update:
            try:
                response = await asyncio.wait_for(
                    self.admin.post(f"/{op}", json=body, headers=update.headers), self.deadline.remaining())
            except (httpx.HTTPError, TimeoutError) as exc:
                raise SimError(f"{op} via {self.config.base_url} failed after "
                               f"{(mono() - update.started):.1f} s: {exc!r}") from None
            if response.status_code != 200:
                raise SimError(f"{op} refused by the inference server ({response.status_code}): "
                               f"{response.text[:200]}")
            update.rpc_ms = float(response.json()["rpc_ms"])

    async def wait_for_checkpoint(self, step: int) -> Path:
        path = weight_dir(self.config.output_dir, step)
        with instrument.CheckpointWait(log, target_step=step):
            await wait_for_file(path / STABLE_MARKER, self.deadline)
        return path

    async def load_checkpoint(self, step: int) -> None:
        await self.weights_rpc("update_weights", await self.wait_for_checkpoint(step))
        self.ckpt_step = step

    async def step(self, step: int) -> None:
        config = self.config
        behind = step - self.ckpt_step > config.async_level
        if behind and config.weight_update == "before-batch":
            await self.load_checkpoint(step - config.async_level)
        if step == config.crash_at_step:
            raise SimError(f"orchestrator crashed at step {step}: fault injected by --crash-at-step")

        # The step ends when its batch and, during-batch, its weight update are both done; a failure
        # of either cancels the other.
        async with asyncio.TaskGroup() as update:
            with instrument.GenerationBatch(log, target_batch=config.batch_size, inflight=self.streams.inflight) as generation:
                if behind and config.weight_update == "during-batch":
                    update.create_task(self.load_checkpoint(step - config.async_level))
                batch = await self.streams.take(config.batch_size, self.deadline)
                generation.completions, generation.inflight = len(batch), self.streams.inflight
                generation.tokens = sum(c.completion_tokens for c in batch)

        write_jsonl_atomically(rollout_file(config.output_dir, step), [
            {"example": c.example, "sample": c.sample, "prompt_tokens": c.prompt_tokens,
             "completion_tokens": c.completion_tokens, "finish_reason": c.finish_reason,
             "ckpt_step": self.ckpt_step} for c in batch])
        instrument.rollout(log, 100.0 * sum(c.truncated for c in batch) / len(batch), step, self.ckpt_step)

    async def run(self) -> None:
        # prime-rl resets the server to the base weights before the first step.
        await self.weights_rpc("reload_weights", None)
        async with asyncio.TaskGroup() as workers:
            tasks = [workers.create_task(self.streams.worker())
                     for _ in range(self.config.inflight)]
            await asyncio.sleep(0)  # let the workers send their first requests
            try:
                for step in range(1, self.config.max_steps + 1):
                    await self.step(step)
            finally:
                for task in tasks:
                    task.cancel()


def first_leaf(exc: BaseException) -> BaseException:
    """The first real failure inside (nested) exception groups, e.g. from a stream worker."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def wait_for_health(base_url: str, timeout_s: float) -> None:
    deadline = mono() + timeout_s
    last_error = "no answer"
    async with httpx.AsyncClient(base_url=base_url, timeout=CONNECT_TIMEOUT_S) as client:
        while True:
            try:
                response = await client.get("/health")
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = str(exc) or type(exc).__name__
            if mono() >= deadline:
                raise SimError(f"inference server {base_url} not healthy after {timeout_s:g} s "
                               f"({last_error}); start it first or fix --base-url")
            await asyncio.sleep(HEALTH_POLL_S)


async def run(config: OrchestratorConfig) -> int:
    deadline = Deadline(config.timeout_s, "orchestrator")
    log.info("orchestrator started: base_url=%s output_dir=%s max_steps=%d batch_size=%d "
             "inflight=%d pool_size=%d admin_client=%s weight_update=%s async_level=%d max_tokens=%d",
             config.base_url, config.output_dir, config.max_steps, config.batch_size,
             config.inflight, config.pool_size, config.admin_client, config.weight_update,
             config.async_level, config.max_tokens)
    await wait_for_health(config.base_url, min(config.health_timeout_s, deadline.remaining()))
    timeout = client_timeout(pool_s=config.timeout_s)
    shared = httpx.AsyncClient(
        base_url=config.base_url, timeout=timeout,
        limits=httpx.Limits(max_connections=config.pool_size,
                            max_keepalive_connections=config.pool_size))
    admin = shared
    if config.admin_client == "dedicated":
        admin = httpx.AsyncClient(
            base_url=config.base_url, timeout=timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=0))
    try:
        await Orchestrator(config, shared, admin, deadline).run()
    except (ExceptionGroup, httpx.HTTPError) as exc:
        failure = first_leaf(exc)
        if isinstance(failure, SimError):
            raise failure from None
        if isinstance(failure, httpx.HTTPError):
            raise SimError(f"request to inference server {config.base_url} failed: "
                           f"{failure!r}") from None
        raise
    finally:
        await shared.aclose()
        if admin is not shared:
            await admin.aclose()
    log.info("orchestrator finished %d steps", config.max_steps)
    return 0
