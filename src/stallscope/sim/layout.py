"""The output dir shared by trainer and orchestrator, as prime-rl's (a shared filesystem across hosts).

    <output_dir>/rollouts/step_N/rollouts.jsonl   written by the orchestrator (atomically renamed)
    <output_dir>/weights/step_N/model.bin         written by the trainer, fsynced
    <output_dir>/weights/step_N/STABLE            written last: the checkpoint is complete
"""

import asyncio
import json
import os
from pathlib import Path

from .errors import Deadline, SimError

ROLLOUTS_FILE = "rollouts.jsonl"
STABLE_MARKER = "STABLE"


def rollout_file(output_dir: Path, step: int) -> Path:
    return output_dir / "rollouts" / f"step_{step}" / ROLLOUTS_FILE


def weight_dir(output_dir: Path, step: int) -> Path:
    return output_dir / "weights" / f"step_{step}"


def ensure_writable_dir(path: Path, flag: str) -> Path:
    """Create `path` and prove it writable, or fail with a one-line reason naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SimError(
            f"{flag} {path} is not a writable directory ({exc.strerror or exc}); "
            f"pass a directory you can write to",
            exit_code=2,
        ) from None
    return path.resolve()


def write_jsonl_atomically(path: Path, records: list[dict]) -> None:
    """Readers never see a partial file: write a temporary file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


POLL_S = 0.05  # prime-rl polls once a second; finer here so short runs do not add poll latency


async def wait_for_file(path: Path, deadline: Deadline) -> None:
    """Poll until `path` exists; the deadline bounds the wait."""
    try:
        while not path.exists():
            await asyncio.sleep(min(POLL_S, deadline.remaining()))
    except SimError as exc:
        raise SimError(f"{exc} (still waiting for {path})") from None
