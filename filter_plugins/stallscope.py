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
        }
