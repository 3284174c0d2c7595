"""Measures what run_experiment.yml adds to the components' own start-up on a provisioned host.

    python bench/launch_overhead.py --repeat 3 [--runs-dir /tmp/stallscope-launch-bench]

Baseline: the simulated inference server started directly, timed from exec to its first healthy
`GET /health` (the components' own start-up; trainer and orchestrator have no health check and are
not waited for). Then `ansible-playbook playbooks/run_experiment.yml` on the embedded default
(localhost, already provisioned by an untimed first run), timed from exec until it returns, i.e. all
components started and healthy; each run is stopped afterwards. Overhead = playbook time minus the
baseline. Prints Markdown with the medians, the per-role time from ansible-runner's task events, the
slowest tasks (--tasks N) and the machine it ran on. Nothing is written in the repository or the user's run root: the controller's
record and the host's run directories go under --runs-dir, removed at the end.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import ansible_runner
from stallscope.sim.runner import free_port

from run import machine  # bench/run.py, beside this file

REPO = Path(__file__).resolve().parents[1]



def inference_startup_s():
    """Seconds from exec of `stallscope-sim inference` to its first healthy /health."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/health"
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "stallscope.sim", "inference", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - start
            except OSError:
                if server.poll() is not None:
                    sys.exit("bench: the inference server exited before it was healthy")
                time.sleep(0.02)
    finally:
        server.terminate()
        server.wait(timeout=30)


def playbook(name, runs_dir, private_dir, extravars=None):
    """(wall seconds, seconds per role, seconds per task) of one ansible-playbook run through
    ansible-runner; a task is named "role: task name" and its time summed over its runs (loops)."""
    starts, per_role, per_task = {}, defaultdict(float), defaultdict(float)

    def on_event(event):
        data = event.get("event_data", {})
        key = (data.get("task_uuid"), data.get("host"))
        if event["event"] == "runner_on_start":
            starts[key] = time.perf_counter()
        elif event["event"] in ("runner_on_ok", "runner_on_failed", "runner_on_skipped") and key in starts:
            seconds = time.perf_counter() - starts.pop(key)
            role = data.get("role") or "(play)"
            per_role[role] += seconds
            per_task[f"{role}: {data.get('task')}"] += seconds
        return True

    start = time.perf_counter()
    result = ansible_runner.run(
        private_data_dir=str(private_dir), project_dir=str(REPO), playbook=f"playbooks/{name}",
        inventory=str(REPO / "inventory" / "localhost.yml"),
        extravars={"stallscope_runs_dir": str(runs_dir / "controller"),
                   "stallscope_run_root": str(runs_dir / "host"), **(extravars or {})},
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}, event_handler=on_event, quiet=True)
    elapsed = time.perf_counter() - start
    if result.rc != 0:
        sys.exit(f"bench: {name} failed (rc {result.rc}); see {private_dir}/artifacts")
    return elapsed, dict(per_role), dict(per_task)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs-dir", type=Path, default=Path(tempfile.gettempdir()) / "stallscope-launch-bench")
    parser.add_argument("--tasks", type=int, default=10, metavar="N", help="list the N slowest tasks (default 10)")
    args = parser.parse_args()
    # ansible-runner looks for ansible-playbook on PATH: this interpreter's, as in the tests.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    shutil.rmtree(args.runs_dir, ignore_errors=True)
    args.runs_dir.mkdir(parents=True)
    private_dir = args.runs_dir / "runner"
    private_dir.mkdir()

    baseline = [inference_startup_s() for _ in range(args.repeat)]
    # An untimed first run provisions the host (and warms caches); then the timed ones.
    walls, roles, tasks = [], defaultdict(list), defaultdict(list)
    for attempt in range(args.repeat + 1):
        run_id = f"launch-bench-{attempt}"
        wall, per_role, per_task = playbook("run_experiment.yml", args.runs_dir, private_dir, {"run_id": run_id})
        playbook("stop_experiment.yml", args.runs_dir, private_dir, {"run_id": run_id})
        if attempt:
            walls.append(wall)
            for role, seconds in per_role.items():
                roles[role].append(seconds)
            for task, seconds in per_task.items():
                tasks[task].append(seconds)

    start_up, wall = statistics.median(baseline), statistics.median(walls)
    print(f"Machine: {machine()}, load {os.getloadavg()[0]:.2f}\n")
    print("| what | median s | runs (s) |\n| --- | ---: | --- |")
    print(f"| inference start-up alone (exec to healthy) | {start_up:.2f} | {', '.join(f'{b:.2f}' for b in baseline)} |")
    print(f"| run_experiment.yml (to all components healthy) | {wall:.2f} | {', '.join(f'{w:.2f}' for w in walls)} |")
    print(f"| **overhead** (playbook minus start-up) | **{wall - start_up:.2f}** | |")
    print("\nTime in each role's tasks (median of the timed runs):\n")
    print("| role | median s |\n| --- | ---: |")
    for role, seconds in sorted(roles.items(), key=lambda item: -statistics.median(item[1])):
        print(f"| {role} | {statistics.median(seconds):.2f} |")
    slowest = sorted(tasks.items(), key=lambda item: -statistics.median(item[1]))[:args.tasks]
    print(f"\nThe {len(slowest)} slowest of {len(tasks)} tasks (median s, a loop's items summed):\n")
    print("| task | median s |\n| --- | ---: |")
    for task, seconds in slowest:
        print(f"| {task} | {statistics.median(seconds):.2f} |")
    shutil.rmtree(args.runs_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
