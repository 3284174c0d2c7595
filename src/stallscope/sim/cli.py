"""`stallscope-sim inference | trainer | orchestrator | all`: flags in prime-rl's spirit.

Every option is declared once in OPTIONS with the components that take it; `all` offers each
once and forwards it to those components.
"""

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from . import runner
from .batch import cli as batch_cli
from .calibration import cli as calibration_cli
from .errors import SimError, run_until_signal
from .layout import ensure_writable_dir
from .logs import log, setup_logging

INFERENCE, TRAINER, ORCHESTRATOR = "inference", "trainer", "orchestrator"
COMPONENTS = (INFERENCE, TRAINER, ORCHESTRATOR)


def _number(kind, minimum, what):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


positive_int = _number(int, 1, "a positive integer")
non_negative_int = _number(int, 0, "a non-negative integer")
positive_float = _number(float, 1e-9, "a positive number")
non_negative_float = _number(float, 0.0, "a non-negative number")


def base_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s)://HOST:PORT URL")
    return text.rstrip("/")


@dataclass(frozen=True)
class Option:
    flag: str
    components: tuple[str, ...]
    kwargs: dict


OPTIONS = [
    # inference server (vLLM's role)
    Option("--host", (INFERENCE,), dict(default="127.0.0.1", help="address to bind (default %(default)s)")),
    Option("--port", (INFERENCE,), dict(type=non_negative_int, default=8000, help="port (default %(default)s; 0: any free port)")),
    Option("--tokens-per-s", (INFERENCE,), dict(type=positive_float, default=160.0, help="decode speed of one sequence (default %(default)s)")),
    Option("--chunk-tokens", (INFERENCE,), dict(type=positive_int, default=32, help="tokens per streamed event (default %(default)s)")),
    Option("--len-min", (INFERENCE,), dict(type=positive_int, default=64, help="shortest completion the policy wants to write (default %(default)s)")),
    Option("--len-max", (INFERENCE,), dict(type=positive_int, default=448, help="longest completion the policy wants to write (default %(default)s)")),
    Option("--slots", (INFERENCE,), dict(type=positive_int, default=256, help="sequences the engine generates at once; more wait (default %(default)s)")),
    Option("--engine-delay-ms", (INFERENCE,), dict(type=non_negative_float, default=300.0, help="engine time of a weight update after reading the files (default %(default)s)")),
    Option("--seed", (INFERENCE,), dict(type=int, default=0, help="seed of the completion lengths (default %(default)s)")),
    # shared by trainer and orchestrator
    Option("--output-dir", (TRAINER, ORCHESTRATOR), dict(type=Path, default=Path("outputs"), help="rollouts and weights/step_N/ (shared by trainer and orchestrator; default %(default)s)")),
    Option("--max-steps", (TRAINER, ORCHESTRATOR), dict(type=positive_int, default=7, help="steps to run (default %(default)s)")),
    Option("--crash-at-step", (TRAINER, ORCHESTRATOR), dict(type=positive_int, default=None, help="fault injection: exit non-zero at this step")),
    Option("--timeout-s", (TRAINER, ORCHESTRATOR), dict(type=positive_float, default=1800.0, help="give up (non-zero exit) after this many seconds (default %(default)s)")),
    # trainer
    Option("--train-ms", (TRAINER,), dict(type=non_negative_float, default=300.0, help="time one training step takes (default %(default)s)")),
    Option("--ckpt-mb", (TRAINER,), dict(type=non_negative_float, default=4.0, help="checkpoint size written per step, fsynced (default %(default)s)")),
    Option("--write-delay-ms", (TRAINER,), dict(type=non_negative_float, default=0.0, help="extra checkpoint write time: slow storage (default %(default)s)")),
    # orchestrator
    Option("--base-url", (ORCHESTRATOR,), dict(type=base_url, default="http://127.0.0.1:8000", help="inference server (default %(default)s)")),
    Option("--batch-size", (ORCHESTRATOR,), dict(type=positive_int, default=16, help="rollouts per step (default %(default)s)")),
    Option("--rollouts-per-example", (ORCHESTRATOR,), dict(type=positive_int, default=4, help="samples per problem (default %(default)s)")),
    Option("--async-level", (ORCHESTRATOR,), dict(type=non_negative_int, default=2, help="max steps the policy may lag behind (default %(default)s)")),
    Option("--seq-len", (ORCHESTRATOR,), dict(type=positive_int, default=2048, help="sequence length; caps max tokens (default %(default)s)")),
    Option("--max-tokens", (ORCHESTRATOR,), dict(type=positive_int, default=None, help="max completion tokens per request (default: --seq-len)")),
    Option("--inflight", (ORCHESTRATOR,), dict(type=positive_int, default=None, help="streaming requests kept in flight (default: 2 x --batch-size)")),
    Option("--pool-size", (ORCHESTRATOR,), dict(type=positive_int, default=8, help="max connections of the shared client (default %(default)s)")),
    Option("--admin-client", (ORCHESTRATOR,), dict(choices=["shared", "dedicated"], default="shared", help="client for weight updates: the streams' pool or its own connection (default %(default)s)")),
    Option("--weight-update", (ORCHESTRATOR,), dict(choices=["before-batch", "during-batch"], default="before-batch", help="when a step loads its checkpoint: before collecting its batch, or while it does, so that the load pauses the batch's generation (default %(default)s)")),
    Option("--health-timeout-s", (ORCHESTRATOR,), dict(type=positive_float, default=30.0, help="wait this long for the server's /health (default %(default)s)")),
]

# `all` places the components itself: these are its own options, not forwarded.
RUNNER_OWNED = {"--host", "--port", "--output-dir", "--base-url", "--timeout-s"}


def dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def component_argv(namespace: argparse.Namespace, component: str) -> list[str]:
    """The flags `all` forwards to `component`: every value given or defaulted, as text."""
    argv = []
    for option in OPTIONS:
        value = getattr(namespace, dest(option.flag), None)
        if (component not in option.components or option.flag in RUNNER_OWNED or value is None
                or (option.flag == "--crash-at-step" and component != namespace.crash_component)):
            continue
        argv += [option.flag, str(value)]
    return argv


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stallscope-sim", description="A miniature prime-rl: inference server, trainer, "
        "orchestrator (see docs/simulation.md); the Dask calibration job (docs/dask.md); the Ray Data "
        "batch-inference job (docs/ray.md).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {INFERENCE: "the inference server (vLLM's role)",
             TRAINER: "the trainer: reads rollouts, writes checkpoints",
             ORCHESTRATOR: "the orchestrator: streams rollouts, updates the server's weights"}
    for component in COMPONENTS:
        sub = commands.add_parser(component, help=helps[component])
        for option in OPTIONS:
            if component in option.components:
                sub.add_argument(option.flag, **option.kwargs)
    run_all = commands.add_parser(
        "all", help="run the three on this host; defaults are the demo scenario")
    run_all.add_argument("--out", type=Path, required=True,
                         help="run dir: logs/<component>.log, output/, run_manifest.json")
    run_all.add_argument("--port", type=non_negative_int, default=0,
                         help="inference server port on 127.0.0.1 (default: a free one)")
    run_all.add_argument("--timeout-s", type=positive_float, default=180.0,
                         help="stop everything and fail after this many seconds (default %(default)s)")
    run_all.add_argument("--crash-component", choices=[TRAINER, ORCHESTRATOR], default=TRAINER,
                         help="the component --crash-at-step applies to (default %(default)s)")
    for option in OPTIONS:
        if option.flag not in RUNNER_OWNED:
            run_all.add_argument(option.flag, **option.kwargs)
    calibration_cli.add_parser(commands, (positive_int, non_negative_float, positive_float))
    batch_cli.add_parsers(commands, (positive_int, non_negative_float, positive_float))
    batch_cli.add_gateway_parser(commands, positive_float, non_negative_int)
    batch_cli.add_submit_parser(commands, positive_int, positive_float)
    return parser


def check(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    """Cross-option rules argparse cannot express; a violation is a usage error (exit 2)."""
    if ns.command in (INFERENCE, "all") and ns.len_min > ns.len_max:
        parser.error(f"--len-min {ns.len_min} is above --len-max {ns.len_max}")
    if ns.command in (ORCHESTRATOR, "all"):
        if ns.batch_size % ns.rollouts_per_example:
            parser.error(f"--batch-size {ns.batch_size} is not a multiple of "
                         f"--rollouts-per-example {ns.rollouts_per_example}")
        if ns.max_tokens is not None and ns.max_tokens > ns.seq_len:
            parser.error(f"--max-tokens {ns.max_tokens} exceeds --seq-len {ns.seq_len}")


def run_component(ns: argparse.Namespace) -> int:
    # Imported here: the RL components need the `sim` extra, which `calibrate` (the `dask` extra) does not.
    from . import inference, orchestrator, trainer

    if ns.command == INFERENCE:
        return inference.serve(ns.host, ns.port, inference.EngineConfig(
            tokens_per_s=ns.tokens_per_s, chunk_tokens=ns.chunk_tokens, len_min=ns.len_min,
            len_max=ns.len_max, slots=ns.slots, engine_delay_ms=ns.engine_delay_ms, seed=ns.seed))
    output_dir = ensure_writable_dir(ns.output_dir, "--output-dir")
    if ns.command == TRAINER:
        config = trainer.TrainerConfig(
            output_dir=output_dir, max_steps=ns.max_steps, train_ms=ns.train_ms,
            ckpt_mb=ns.ckpt_mb, write_delay_ms=ns.write_delay_ms, crash_at_step=ns.crash_at_step,
            timeout_s=ns.timeout_s)
        main = trainer.run
    else:
        config = orchestrator.OrchestratorConfig(
            base_url=ns.base_url, output_dir=output_dir, max_steps=ns.max_steps,
            batch_size=ns.batch_size, rollouts_per_example=ns.rollouts_per_example,
            async_level=ns.async_level, seq_len=ns.seq_len,
            max_tokens=ns.max_tokens or ns.seq_len, inflight=ns.inflight or 2 * ns.batch_size,
            pool_size=ns.pool_size, admin_client=ns.admin_client, weight_update=ns.weight_update,
            crash_at_step=ns.crash_at_step, health_timeout_s=ns.health_timeout_s,
            timeout_s=ns.timeout_s)
        main = orchestrator.run

    def stopped(signal_name: str) -> None:
        log.info("%s stopped on %s before finishing its steps", ns.command, signal_name)

    return asyncio.run(run_until_signal(lambda: main(config), stopped))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    check(parser, ns)
    if ns.command == "all":
        config = {dest(o.flag): getattr(ns, dest(o.flag)) for o in OPTIONS
                  if o.flag not in RUNNER_OWNED}
        return runner.run_all(ns.out, ns.port, ns.timeout_s,
                              {c: component_argv(ns, c) for c in COMPONENTS}, config)
    if ns.command == "calibrate" or ns.command in batch_cli.COMMANDS:
        try:
            return (calibration_cli if ns.command == "calibrate" else batch_cli).run(parser, ns)
        except SimError as exc:
            print(f"stallscope-sim {ns.command}: {exc}", file=sys.stderr)
            return exc.exit_code
    setup_logging()
    try:
        return run_component(ns)
    except SimError as exc:
        log.error("%s", exc)
        return exc.exit_code
