"""Measures run_experiment.yml on three sshd test hosts against one (issue target: at most 1.3x).

    sudo .venv/bin/python bench/launch_hosts.py --repeat 3     # root: test hosts are network namespaces

The simulated stack (profile simrl) on real sshd test hosts (scripts/testhosts, as the end-to-end
tests use them): all three components on one host, then inference, trainer and orchestrator each on
its own host, so that each component is healthy on its host before the next starts on another. Both
placements are provisioned and checked out by an untimed first run each; then the timed runs
alternate (one host, three hosts), each timed from exec of ansible-playbook until it returns and
stopped afterwards with stop_experiment.yml. Prints Markdown with the medians and their ratio.
Everything made (hosts, repository, controller records) is removed at the end.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e import harness  # noqa: E402  (the end-to-end tests' driver of the playbooks)
from tests.testhosts import TestHostsFactory, skip_reason  # noqa: E402

from run import machine  # noqa: E402  (bench/run.py, beside this file)


def timed_run(deployment, run_id):
    """(seconds run_experiment.yml took, seconds per task); the run is stopped afterwards."""
    start = time.perf_counter()
    result = deployment.play("run_experiment.yml", run_id=run_id)
    seconds = time.perf_counter() - start
    if result.rc != 0:
        sys.exit(f"bench: run_experiment.yml failed: {result.summary()}")
    stopped = deployment.play("stop_experiment.yml", run_id=run_id)
    if stopped.rc != 0:
        sys.exit(f"bench: stop_experiment.yml failed: {stopped.summary()}")
    return seconds, task_seconds(result.events)


def task_seconds(events):
    """"role: task" -> wall seconds from its start to the next task's start, summed over its runs
    (every host at once: the play waits for the slowest)."""
    starts = [(datetime.fromisoformat(event["created"]), event["event_data"])
              for event in events if event.get("event") == "playbook_on_task_start"]
    ends = [when for when, _ in starts[1:]] + [max(datetime.fromisoformat(event["created"]) for event in events)]
    per_task = defaultdict(float)
    for (began, data), ended in zip(starts, ends):
        per_task[f"{data.get('role') or '(play)'}: {data.get('task')}"] += (ended - began).total_seconds()
    return per_task


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=10, metavar="N", help="list the N tasks that grew most (default 10)")
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        sys.exit(f"bench: cannot make test hosts here: {reason}")
    work = Path(tempfile.mkdtemp(prefix="stallscope-launch-hosts-", dir="/tmp"))
    work.chmod(0o755)  # the test users read the repository under it
    factory = TestHostsFactory(work / "hosts")
    deployments = []
    try:
        repo_url = "file://" + str(harness.make_bare_repo(work))
        wheelhouse = harness.build_wheelhouse()
        host_set = factory.create(3)
        for host in host_set.hosts:
            harness.trust_repo(host, Path(repo_url.removeprefix("file://")))
        first, second, third = host_set.hosts
        placements = {
            "1 host": {group: [first] for group in harness.GROUPS},
            "3 hosts": {"inference": [first], "trainer": [second], "orchestrator": [third]},
        }
        for name, placement in placements.items():
            deployments.append(harness.Deployment(host_set, placement, work / name.replace(" ", "-"), repo_url, wheelhouse))
        times = {name: [] for name in placements}
        tasks = {name: defaultdict(list) for name in placements}
        for deployment in deployments:  # untimed: provision, check out and install on every host
            timed_run(deployment, "warmup")
        for index in range(args.repeat):
            for name, deployment in zip(placements, deployments):
                seconds, per_task = timed_run(deployment, f"bench{index}")
                times[name].append(seconds)
                for task, task_time in per_task.items():
                    tasks[name][task].append(task_time)
        print(machine())
        print()
        print("| placement | run_experiment.yml median s | runs (s) |")
        print("| --- | ---: | --- |")
        for name, runs in times.items():
            print(f"| {name} | {statistics.median(runs):.2f} | {', '.join(f'{run:.2f}' for run in runs)} |")
        ratio = statistics.median(times["3 hosts"]) / statistics.median(times["1 host"])
        print()
        print(f"3 hosts / 1 host: **{ratio:.2f}x** (target: at most 1.3x)")
        one, three = (tasks[name] for name in placements)
        grown = sorted(three, key=lambda task: statistics.median(one.get(task, [0.0])) - statistics.median(three[task]))
        print(f"\nThe {args.tasks} tasks that grew most (median wall s, every host at once):\n")
        print("| task | 1 host | 3 hosts |\n| --- | ---: | ---: |")
        for task in grown[:args.tasks]:
            print(f"| {task} | {statistics.median(one.get(task, [0.0])):.2f} | {statistics.median(three[task]):.2f} |")
    finally:
        for deployment in deployments:
            deployment.teardown()
        factory.destroy_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
