"""The Ray Data batch-inference workload (`stallscope-sim prompts | batch-job`, docs/ray.md).

A Ray Data job on a real Ray cluster: read prompts, tokenise them in a CPU stage, run them through
an actor pool of engines with `map_batches`, write Parquet results. On a machine with no GPU each
actor runs `engine.MiniEngine`, a miniature vLLM (continuous batching under a KV-cache block budget,
preemption, vLLM's own log lines) whose every logged number is measured. Needs the `ray` extra;
nothing else in stallscope imports this package.
"""
