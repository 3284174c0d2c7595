"""Which host wrote a log file, and its async_level, from the nearest run_manifest.json.

A file's manifest is the nearest `run_manifest.json` in its directory or a parent, up to the root it
was found under and that root's parent: a run directory's `logs/` analysed alone (as status and a
digest collection do on a host) has its manifest one level up (docs/architecture.md, "The run
directory and manifest"). A manifest that cannot be
read is ignored with a warning: the analysis goes on as if it were absent.
"""

import json
import os

MANIFEST = "run_manifest.json"
COLLECT_RECORD = "collect.json"  # written beside the manifest by the collect role: the host's clock


def resolve(files, warnings):
    """Per LogFile, `{"host", "async_level", "manifest", "clock"}` (None where unknown). `clock`: the
    host's monotonic clock against the controller's wall clock as collect measured it,
    `[t= to controller time (s), uncertainty (s)]`."""
    cache = {}
    return [_for_file(log_file, cache, warnings) for log_file in files]


def _for_file(log_file, cache, warnings):
    root = os.path.abspath(log_file.root)
    if os.path.isdir(root):
        root = os.path.dirname(root)  # the analysed directory's parent too (a run dir's logs/)
    directory = os.path.dirname(os.path.abspath(log_file.path))
    while True:
        candidate = os.path.join(directory, MANIFEST)
        if candidate not in cache:
            cache[candidate] = _read(candidate, warnings) if os.path.isfile(candidate) else None
        if cache[candidate] is not None:
            return cache[candidate]
        parent = os.path.dirname(directory)
        if directory == root or parent == directory or not directory.startswith(root):
            return {"host": None, "async_level": None, "manifest": None, "clock": None}
        directory = parent


def _read(path, warnings):
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, UnicodeError, ValueError) as error:
        warnings.append(f"{path}: ignored, not a readable JSON manifest ({error})")
        return None
    if not isinstance(manifest, dict):
        warnings.append(f"{path}: ignored, not a JSON object")
        return None
    host = manifest.get("host")
    if not isinstance(host, str) or not host:
        warnings.append(f"{path}: no 'host' string; its files are taken to share one unnamed host")
        host = None
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    async_level = config.get("async_level")
    if async_level is not None and (isinstance(async_level, bool) or not isinstance(async_level, int) or async_level < 0):
        warnings.append(f"{path}: config.async_level {async_level!r} is not a non-negative integer; ignored")
        async_level = None
    return {"host": host, "async_level": async_level, "manifest": path,
            "clock": collected_clock(os.path.join(os.path.dirname(path), COLLECT_RECORD))}


def collected_clock(path):
    """[t= to controller time, uncertainty] from a collect.json, or None (absent or unreadable: the
    clocks are then reconciled from the updates alone)."""
    try:
        with open(path, encoding="utf-8") as handle:
            clock = json.load(handle)["clock"]
        to_controller = float(clock["host_wall_minus_monotonic"]) - float(clock["offset_from_controller_s"])
        uncertainty = float(clock["uncertainty_s"])
    except (OSError, UnicodeError, ValueError, KeyError, TypeError):
        return None
    return [to_controller, uncertainty]
