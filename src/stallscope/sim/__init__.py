"""A miniature prime-rl (inference server, trainer, orchestrator) for machines with no GPU.

Three real processes with prime-rl's roles, HTTP shape and log lines; see docs/simulation.md.
Nothing here is imported by stallscope/__init__.py or by stallscope.engine.
"""
