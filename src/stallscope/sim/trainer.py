"""The trainer: prime-rl's trainer role.

Per step N: wait for the orchestrator's rollouts of step N, "train" for `train_ms`, then write the
checkpoint `weights/step_N/` (`ckpt_mb` of data, fsynced, plus `write_delay_ms` of slow storage)
with `STABLE` written last, and log `[ckpt] write.done step=N write_ms=...`.
"""

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import Deadline, SimError
from .layout import STABLE_MARKER, read_jsonl, rollout_file, wait_for_file, weight_dir
from .. import instrument
from .logs import log, mono

WRITE_BLOCK = 1 << 20


@dataclass(frozen=True)
class TrainerConfig:
    output_dir: Path
    max_steps: int
    train_ms: float
    ckpt_mb: float
    write_delay_ms: float
    crash_at_step: int | None
    timeout_s: float


def write_checkpoint(directory: Path, step: int, size_bytes: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    block = bytes([step % 256]) * WRITE_BLOCK
    with open(directory / "model.bin", "wb") as f:
        left = size_bytes
        while left > 0:
            left -= f.write(block[: min(left, WRITE_BLOCK)])
        f.flush()
        os.fsync(f.fileno())


def mark_stable(directory: Path) -> None:
    with open(directory / STABLE_MARKER, "w") as f:
        f.flush()
        os.fsync(f.fileno())


async def run(config: TrainerConfig) -> int:
    deadline = Deadline(config.timeout_s, "trainer")
    log.info("trainer started: output_dir=%s max_steps=%d train_ms=%g ckpt_mb=%g",
             config.output_dir, config.max_steps, config.train_ms, config.ckpt_mb)
    for step in range(1, config.max_steps + 1):
        rollouts_path = rollout_file(config.output_dir, step)
        await wait_for_file(rollouts_path, deadline)
        rollouts = read_jsonl(rollouts_path)
        tokens = sum(r["completion_tokens"] for r in rollouts)
        if step == config.crash_at_step:
            raise SimError(f"trainer crashed at step {step}: fault injected by --crash-at-step")
        started = mono()
        await asyncio.sleep(config.train_ms / 1000)
        log.info("step %d: trained on %d rollouts (%d tokens) in %.1f ms",
                 step, len(rollouts), tokens, (mono() - started) * 1000)

        ckpt = weight_dir(config.output_dir, step)
        with instrument.CheckpointWrite(log, step):
            await asyncio.to_thread(write_checkpoint, ckpt, step, int(config.ckpt_mb * 1e6))
            await asyncio.sleep(config.write_delay_ms / 1000)
            await asyncio.to_thread(mark_stable, ckpt)
    log.info("trainer finished %d steps", config.max_steps)
    return 0
