"""Writes a realistic prime-rl orchestrator log of a given size, for the benchmark.

Like a real run's orchestrator.log: mostly ordinary lines (the HTTP client's one line per inference
request, progress and debug lines), and a few instrumented lines per hundred (generation batches,
weight updates, checkpoint waits, rollout stats), with a realistic mix of slow weight updates.

    python bench/make_log.py --size-mb 1100 --out /tmp/orchestrator.log
"""

import argparse
import random


def steps(rng):
    """Yields blocks of lines, one training step each, forever."""
    t = 1000.0 + rng.random() * 100
    step = 0
    clock = 8 * 3600
    while True:
        step += 1
        lines = []

        def stamp():
            return f"{clock // 3600 % 24:02d}:{clock // 60 % 60:02d}:{clock % 60:02d}"

        lines.append(f"{stamp()}    INFO [gen] batch.start inflight={rng.randint(64, 160)} target_batch=64")
        trace = f"{rng.getrandbits(64):016x}"
        slow = rng.random() < 0.3
        queue = rng.uniform(8000, 30000) if slow else rng.uniform(0.1, 40)
        rpc = rng.uniform(300, 1500)
        requests = rng.randint(60, 140)
        send_at = rng.randint(5, requests - 5)
        for index in range(requests):
            if index % 20 == 0:
                clock += 1
            if index == send_at:
                lines.append(f"{stamp()}    INFO [weights][{trace}] client.send url=http://127.0.0.1:8000 "
                             f"path=/update_weights t={t:.6f}")
            if index == send_at + 3:
                lines.append(f"{stamp()}    INFO [weights][{trace}] client.done wall_ms={queue + rpc:.1f} "
                             f"rpc_ms={rpc:.1f} queue_ms={queue:.1f}")
            lines.append(f'{stamp()}    INFO HTTP Request: POST http://127.0.0.1:8000/v1/chat/completions '
                         f'"HTTP/1.1 200 OK"')
            roll = rng.random()
            if roll < 0.05:
                lines.append(f"{stamp()}   DEBUG Received {rng.randint(1, 8)} completions for problem "
                             f"{rng.randint(0, 99999)} (reward={rng.random():.4f}, len={rng.randint(40, 2048)})")
            elif roll < 0.07:
                lines.append(f"{stamp()} WARNING [verifiers] parser returned no answer for problem {rng.randint(0, 99999)}")
            t += rng.uniform(0.05, 0.4)
        dur = rng.uniform(30000, 50000) if slow else rng.uniform(1500, 4500)
        lines.append(f"{stamp()}    INFO [gen] batch.done completions=64 dur_ms={dur:.1f} inflight={rng.randint(64, 160)}")
        lines.append(f"{stamp()}    INFO [ckpt] wait.start target_step={step}")
        lines.append(f"{stamp()}    INFO [ckpt] wait.done target_step={step} wait_ms={rng.uniform(1, 900):.1f}")
        lines.append(f"{stamp()}    INFO [rollout] trunc_pct={rng.uniform(0, 15):.1f} current_step={step} "
                     f"ckpt_step={step - 1} staleness=1")
        lines.append(f"{stamp()}    INFO Step {step} | Time: {dur / 1000:.2f}s | Reward: {rng.random():.4f} | "
                     f"Throughput: {rng.uniform(800, 3000):.1f} tokens/s | Seq. Length: {rng.uniform(200, 900):.1f} tokens/sample")
        yield "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, required=True, help="size of the log in MB (10^6 bytes)")
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    target = int(args.size_mb * 1_000_000)
    written = 0
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8") as out:
        buffer = []
        for block in steps(rng):
            buffer.append(block)
            written += len(block)
            if len(buffer) >= 200 or written >= target:
                out.write("".join(buffer))
                buffer = []
            if written >= target:
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
