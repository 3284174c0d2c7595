# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)
"""Jinja filters for stallscope's templates and messages: durations, percentiles, severities, findings.

Documented in the sidecar files <filter>.yml next to this one (ansible-doc -t filter <filter>).
"""

from __future__ import annotations

import math
import re
from numbers import Real

from ansible.errors import AnsibleFilterError

from stallscope.engine.stats import percentile as engine_percentile

SEVERITY_BADGES = {
    "text": {"critical": "[CRITICAL]", "warning": "[WARNING]", "info": "[INFO]", "ok": "[OK]"},
    "emoji": {"critical": "\U0001F534", "warning": "\U0001F7E1", "info": "\U0001F535", "ok": "\u2705"},
}


def _number(value, what):
    # bool is a Real in Python, but True is no duration.
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise AnsibleFilterError(f"{what} must be a finite number, got {value!r}")
    return value


def duration_ms(value):
    """850 -> '850 ms', 3400 -> '3.4 s', 125000 -> '2 min 5 s', 3720000 -> '1 h 2 min'."""
    ms = _number(value, "duration_ms input")
    if ms < 0:
        raise AnsibleFilterError(f"duration_ms input must not be negative, got {value!r}")
    if ms < 10:
        return f"{ms:.1f} ms"
    if round(ms) < 1000:
        return f"{round(ms)} ms"
    tenths = round(ms / 100)
    if tenths < 600:
        return f"{tenths / 10:.1f} s"
    seconds = round(ms / 1000)
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    minutes = round(ms / 60000)
    return f"{minutes // 60} h {minutes % 60} min"


def percentile(values, q):
    """The q-th percentile (0-100) of the values, linearly interpolated between ranks (as the engine's)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise AnsibleFilterError(f"percentile needs a non-empty list of numbers, got {values!r}")
    ordered = sorted(_number(value, "each percentile value") for value in values)
    q = _number(q, "percentile q")
    if not 0 <= q <= 100:
        raise AnsibleFilterError(f"percentile q must be between 0 and 100, got {q!r}")
    return engine_percentile(ordered, q)


def severity_badge(severity, style="text"):
    """'critical' -> '[CRITICAL]' (style text) or a coloured circle (style emoji)."""
    if style not in SEVERITY_BADGES:
        raise AnsibleFilterError(f"severity_badge style must be one of {', '.join(SEVERITY_BADGES)}, got {style!r}")
    badges = SEVERITY_BADGES[style]
    key = str(severity).lower()
    if key not in badges:
        raise AnsibleFilterError(f"severity_badge: unknown severity {severity!r}, expected one of {', '.join(badges)}")
    return badges[key]


def finding_line(finding, style="text"):
    """A finding as one line of a message: '[CRITICAL] <summary>'."""
    if not isinstance(finding, dict) or "severity" not in finding or "summary" not in finding:
        raise AnsibleFilterError(f"finding_line needs a finding with severity and summary, got {finding!r}")
    return f"{severity_badge(finding['severity'], style)} {finding['summary']}"


MASK = "********"


def mask_secrets(lines, secrets):
    """Lines with every occurrence of each (non-empty) secret value replaced by ********; longer
    values first, so that a secret containing another is masked whole."""
    if isinstance(lines, str) or not isinstance(lines, (list, tuple)):
        raise AnsibleFilterError(f"mask_secrets needs a list of lines, got {type(lines).__name__}")
    values = secrets.values() if isinstance(secrets, dict) else secrets
    values = sorted({str(value) for value in values if value not in (None, "")}, key=len, reverse=True)
    masked = []
    for line in lines:
        line = str(line)
        for value in values:
            line = line.replace(value, MASK)
        masked.append(line)
    return masked


def expand_home(path, home, variable="the path"):
    """`~` and `~/...` under `home` (the SSH user's, ansible_facts.user_dir), for commands and
    modules that see no shell; other paths unchanged. `~user/...` is refused: whose home that is
    depends on the host, and a path that means different things on different hosts is a mistake."""
    path, home = str(path), str(home).rstrip("/")
    if path == "~":
        return home or "/"
    if path.startswith("~/"):
        return home + path[1:]
    if path.startswith("~"):
        raise AnsibleFilterError(f"{variable} {path!r}: only ~ and ~/... (the SSH user's home) are expanded; "
                                 "give an absolute path instead")
    return path


# In `ss -Htlnp` output: users:(("sshd",pid=812,fd=3),("sshd",pid=813,fd=3))
SS_PROCESS = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+)')
ANOTHER_USER = "a process of another user"


def port_holders(ss_lines, port):
    """The processes `ss -Htlnp` lists as listening on TCP `port`, as 'name pid N', each once; a
    listener whose process ss may not see (another user's, without root) is 'a process of another
    user'. Empty when nothing listed listens there."""
    if isinstance(ss_lines, str) or not isinstance(ss_lines, (list, tuple)):
        raise AnsibleFilterError(f"port_holders needs the lines of ss -Htlnp, got {type(ss_lines).__name__}")
    holders = []
    for line in ss_lines:
        fields = str(line).split()
        if len(fields) < 5 or fields[3].rpartition(":")[2] != str(port):
            continue
        found = [f"{name} pid {pid}" for name, pid in SS_PROCESS.findall(str(line))] or [ANOTHER_USER]
        holders += [holder for holder in found if holder not in holders]
    return holders


# A uri result that got no HTTP answer: "Status code was -1 and not [200]: Request failed: <urlopen
# error [Errno 111] Connection refused>"; the reason is the part a person needs.
URLOPEN_REASON = re.compile(r"<urlopen error (?:\[Errno -?\d+\] )?(.*?)>?$")


def _not_answering(what, url, response):
    """'<what> not answering at <url> (<reason>)' for a uri result without a usable JSON answer."""
    response = response if isinstance(response, dict) else {}
    status = response.get("status")
    message = str(response.get("msg") or "no answer").splitlines()[0]
    if status is None:  # the uri module itself failed: no question was asked
        return f"{what} could not be asked at {url} ({message[:160]})"
    if isinstance(status, int) and status > 0:
        return f"{what} not answering at {url} (HTTP {status}{' without the expected JSON' if status == 200 else ''})"
    match = URLOPEN_REASON.search(message)
    reason = match.group(1) if match else message.partition("]: ")[2] or message
    return f"{what} not answering at {url} ({reason.strip()[:160]})"


def _answer(response):
    """The JSON body of a uri result that answered 200, else None."""
    if isinstance(response, dict) and response.get("status") == 200 and isinstance(response.get("json"), dict):
        return response["json"]
    return None


def _figure(value, spec, unit=""):
    return "?" if not isinstance(value, Real) or isinstance(value, bool) else f"{value:{spec}}{unit}"


def ray_cluster_status(nodes_response, cluster_response, expected, url):
    """The Ray cluster as the head's dashboard reports it: from a uri result of GET /api/v0/nodes (the
    state API) and one of GET /api/cluster_status (the figures `ray status` prints), a dict with the
    nodes alive and dead against the number expected, the resources in use of the total, the pending
    resource demands, and `line`, one line saying it all (or that the dashboard does not answer)."""
    summary = {"url": url, "answering": False, "nodes_expected": expected}
    answer = _answer(nodes_response)
    try:
        nodes = answer["data"]["result"]["result"] if answer and answer.get("result") else None
    except (KeyError, TypeError):
        nodes = None
    if not isinstance(nodes, list):
        summary["line"] = "Ray cluster: " + _not_answering("the head's dashboard", url, nodes_response)
        return summary
    alive = [node for node in nodes if isinstance(node, dict) and node.get("state") == "ALIVE"]
    heads = [str(node.get("node_ip")) for node in alive if node.get("is_head_node")]
    summary.update(answering=True, nodes_alive=len(alive), nodes_dead=len(nodes) - len(alive),
                   head=heads[0] if heads else None)
    words = [f"Ray cluster at {url}: {len(alive)} of {expected} expected node(s) alive"]
    if isinstance(expected, int) and len(alive) < expected:
        words[0] += f" ({expected - len(alive)} missing)"
    if summary["nodes_dead"]:
        words[0] += f", {summary['nodes_dead']} dead"
    if not heads:
        words[0] += ", no head node alive"
    data = (_answer(cluster_response) or {}).get("data")
    report = data.get("clusterStatus") if isinstance(data, dict) else None
    load = report.get("loadMetricsReport") if isinstance(report, dict) else None
    load = load if isinstance(load, dict) else {}
    usage = load.get("usage") if isinstance(load.get("usage"), dict) else {}
    resources = {}
    for key, name, scale, spec, unit in (("CPU", "CPU", 1, ".1f", ""), ("GPU", "GPU", 1, ".1f", ""),
                                         ("objectStoreMemory", "object store", 2**20, ".0f", " MiB")):
        pair = usage.get(key)
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, Real) for v in pair) and pair[1] > 0:
            resources[name] = {"used": pair[0], "total": pair[1]}
            words.append(f"{name} {_figure(pair[0] / scale, spec)}/{_figure(pair[1] / scale, spec, unit)} in use")
    summary["resources"] = resources
    demands = load.get("resourceDemand") or []
    summary["pending_demands"] = len(demands) if isinstance(demands, list) else 0
    if summary["pending_demands"]:
        words.append(f"{summary['pending_demands']} kind(s) of task or actor waiting for resources")
    summary["line"] = "; ".join(words)
    return summary


JOB_FIGURES = ("status", "progress_pct", "completed", "total", "failed", "throughput_rps", "tokens_per_s",
               "latency_p95_s", "eta_hours", "elapsed_hours", "sla_hours", "sla_remaining_hours", "sla_status",
               "exit_code")


def batch_gateway_status(sla_response, job_response, queue_response, url):
    """The run's job as the batch gateway reports it: from uri results of GET /sla/status, GET
    /jobs/{id} (the job shown: the running one, else the latest) and GET /queue, a dict with the job's
    figures (progress, throughput, ETA, SLA state), the queue, and `lines` saying them (or that the
    gateway does not answer)."""
    summary = {"url": url, "answering": False, "job": None, "queue": None}
    answer = _answer(sla_response)
    if answer is None or not isinstance(answer.get("jobs"), list):
        summary["lines"] = [_not_answering("gateway", url, sla_response)]
        return summary
    summary["answering"] = True
    lines = []
    job = _answer(job_response)
    if job is None and answer["jobs"]:
        shown = batch_job_to_show(answer["jobs"]) or {}
        job = shown  # the gateway answered /sla/status but not /jobs/{id}: its fewer figures
        lines.append(_not_answering(f"gateway's /jobs/{shown.get('job_id')}", url, job_response))
    if job:
        summary["job"] = {"job_id": job.get("job_id"), **{key: job.get(key) for key in JOB_FIGURES}}
        line = f"job {job.get('job_id')} {job.get('status')}: "
        if job.get("progress_pct") is None:
            line += "no progress line from its driver yet"
        else:
            line += (f"{_figure(job.get('progress_pct'), '.1f', ' %')} ({job.get('completed')}/{job.get('total')}"
                     f" completed, {job.get('failed') or 0} failed), "
                     f"{_figure(job.get('throughput_rps'), '.2f', ' req/s')}, "
                     f"{_figure(job.get('tokens_per_s'), '.0f', ' tokens/s')}")
        if job.get("latency_p95_s") is not None:
            line += f", latency p95 {_figure(job.get('latency_p95_s'), '.2f', ' s')}"
        if job.get("status") in ("queued", "running") and job.get("progress_pct") is not None:
            line += f", ETA {_figure(job.get('eta_hours'), '.3f', ' h')}" if job.get("eta_hours") is not None \
                else ", ETA not known yet"
        lines.append(line)
        lines.append(f"SLA {job.get('sla_status')}: {_figure(job.get('sla_remaining_hours'), '.3f', ' h')} left of "
                     f"{_figure(job.get('sla_hours'), 'g', ' h')}"
                     f" ({_figure(job.get('elapsed_hours'), '.3f', ' h')} elapsed)")
    else:
        lines.append("gateway: no job submitted yet")
    queue = _answer(queue_response)
    if queue is not None:
        summary["queue"] = {key: queue.get(key) for key in ("queued", "running", "accepting")}
        lines.append(f"gateway queue: {queue.get('queued')} job(s) waiting, running "
                     f"{queue.get('running') or 'nothing'}" + ("" if queue.get("accepting", True)
                                                               else ", not accepting jobs (shutting down)"))
    summary["lines"] = lines
    return summary


def batch_job_to_show(jobs):
    """Of the gateway's /sla/status jobs, the one status shows: the running one, else the latest."""
    if not isinstance(jobs, list):
        raise AnsibleFilterError(f"batch_job_to_show needs the list of /sla/status jobs, got {type(jobs).__name__}")
    jobs = [job for job in jobs if isinstance(job, dict)]
    running = [job for job in jobs if job.get("status") == "running"]
    return (running or jobs or [None])[-1]


class FilterModule:
    """stallscope's filters."""

    def filters(self):
        return {
            "duration_ms": duration_ms,
            "percentile": percentile,
            "severity_badge": severity_badge,
            "finding_line": finding_line,
            "mask_secrets": mask_secrets,
            "expand_home": expand_home,
            "port_holders": port_holders,
            "ray_cluster_status": ray_cluster_status,
            "batch_gateway_status": batch_gateway_status,
            "batch_job_to_show": batch_job_to_show,
        }
