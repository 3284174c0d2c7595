"""`stallscope-sim prompts`: the batch job's input, one JSON object per line (`id`, `prompt`)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from ..errors import SimError

WORDS = ("summarise explain translate classify the following text about distributed systems batch "
         "inference throughput latency cache memory network scheduler worker request token model "
         "answer question review code data pipeline cluster node queue").split()


def write_prompts(out: Path, num_samples: int, words_min: int, words_max: int, seed: int) -> int:
    """Write `num_samples` prompts of `words_min`..`words_max` words atomically; returns the count."""
    rng = random.Random(seed)
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            for index in range(num_samples):
                words = rng.choices(WORDS, k=rng.randint(words_min, words_max))
                f.write(json.dumps({"id": f"req-{index:07d}", "prompt": " ".join(words).capitalize() + "."}) + "\n")
        os.replace(tmp, out)
    except OSError as exc:
        raise SimError(f"--out {out}: cannot write ({exc.strerror or exc}); pass a writable path",
                       exit_code=2) from None
    return num_samples
