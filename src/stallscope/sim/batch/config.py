"""The miniature engine's configuration, in vLLM's names (no numpy: the CLI reads its defaults)."""

from dataclasses import dataclass


class EngineConfigError(ValueError):
    """A configuration the engine cannot run (no room for the cache, a prompt longer than the cache)."""


@dataclass(frozen=True)
class EngineConfig:
    gpu_memory_mb: float = 128.0        # the device's memory (a miniature GPU)
    gpu_memory_utilization: float = 0.85
    model_mb: float = 16.0              # weights; also scales each step's compute
    kv_kb_per_token: float = 8.0        # KV-cache bytes one token holds (all layers)
    block_size: int = 16                # tokens per KV-cache block, vLLM's default
    max_num_seqs: int = 32              # requests running at once
    max_num_batched_tokens: int = 2048  # prompt + decode tokens per step
    max_tokens: int = 256               # sampling_params.max_tokens
    slowdown: int = 1                   # > 1: this engine's steps do that many times the work (a slow worker)
    fail_rate: float = 0.0              # share of requests that fail (injected), by their id
    stats_interval_s: float = 5.0       # vLLM's VLLM_LOG_STATS_INTERVAL

    def num_blocks(self) -> int:
        """Blocks left for the KV cache once the weights are loaded, as vLLM computes it."""
        free_mb = self.gpu_memory_mb * self.gpu_memory_utilization - self.model_mb
        if free_mb <= 0:
            raise EngineConfigError(
                f"no memory for the KV cache: {self.gpu_memory_mb:g} MB x gpu_memory_utilization "
                f"{self.gpu_memory_utilization:g} leaves nothing beyond the {self.model_mb:g} MB of weights; "
                f"raise gpu_memory_utilization or the memory, or use a smaller model")
        return int(free_mb * 1024 / self.kv_kb_per_token) // self.block_size
