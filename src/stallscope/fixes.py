"""A profile's fixes and objective (docs/profiles.md): read, checked and chosen.

`fixes:` maps a finding id to the candidate fixes of that diagnosis, each a name, a sentence saying
what it changes and the profile variables that apply it. `objective:` names the report figure that
ranks variants of a run and whether lower or higher is better. Plain data in, plain data out; every
mistake is one line naming the profile and the key.
"""

import re

from .engine.compare import section_family
from .engine.errors import InputError
from .engine.families import FINDINGS
from .engine.stats import STAT_KEYS as STATS

FINDING_IDS = frozenset(module.ID for module in FINDINGS)
FIX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
FIX_KEYS = {"name", "description", "vars"}
DIRECTIONS = ("lower", "higher")


def profile_fixes(profile):
    """{"fixes": {finding id: [fix, ...]}, "objective": {...} or None} of a profile, checked.

    Raises InputError naming the profile and the key, e.g. "profile simrl: fixes.queue: unknown finding".
    """
    name = profile.get("name", "?") if isinstance(profile, dict) else "?"
    where = f"profile {name}"
    if not isinstance(profile, dict):
        raise InputError(f"{where}: not a mapping")
    variables = profile.get("vars") or {}
    fixes = profile.get("fixes") or {}
    if not isinstance(fixes, dict):
        raise InputError(f"{where}: fixes must map finding ids to lists of fixes")
    checked = {}
    names = set()
    for finding, candidates in fixes.items():
        at = f"{where}: fixes.{finding}"
        if finding not in FINDING_IDS:
            raise InputError(f"{at}: unknown finding (known: {', '.join(sorted(FINDING_IDS))})")
        if not isinstance(candidates, list) or not candidates:
            raise InputError(f"{at}: must be a non-empty list of fixes")
        checked[finding] = [_fix(candidate, f"{at}[{index}]", variables, names)
                            for index, candidate in enumerate(candidates)]
    return {"fixes": checked, "objective": _objective(profile.get("objective"), where)}


def _fix(fix, at, variables, names):
    if not isinstance(fix, dict):
        raise InputError(f"{at}: must be a mapping with name, description and vars")
    unknown = sorted(set(fix) - FIX_KEYS)
    if unknown:
        raise InputError(f"{at}: unknown keys {unknown} (a fix has {', '.join(sorted(FIX_KEYS))})")
    name = fix.get("name")
    if not isinstance(name, str) or not FIX_NAME.match(name):
        raise InputError(f"{at}.name: {name!r} must be 1-40 lower-case letters, digits, '_' or '-'")
    if name in names:
        raise InputError(f"{at}.name: {name} is the name of another fix of this profile")
    names.add(name)
    if not isinstance(fix.get("description"), str) or not fix["description"].strip():
        raise InputError(f"{at}.description: a sentence saying what the fix changes is required")
    overrides = fix.get("vars")
    if not isinstance(overrides, dict) or not overrides:
        raise InputError(f"{at}.vars: the profile variables that apply the fix are required")
    unknown = sorted(set(overrides) - set(variables))
    if unknown:
        raise InputError(f"{at}.vars: {unknown} are not variables of the profile (it has {sorted(variables)})")
    return {"name": name, "description": fix["description"].strip(), "vars": dict(overrides)}


def _objective(objective, where):
    if objective is None:
        return None
    at = f"{where}: objective"
    if not isinstance(objective, dict) or set(objective) != {"metric", "better"}:
        raise InputError(f"{at}: must be a mapping of metric (a report figure) and better (lower or higher)")
    if objective["better"] not in DIRECTIONS:
        raise InputError(f"{at}.better: {objective['better']!r} is not lower or higher")
    metric = objective["metric"]
    section, _, key = str(metric).partition(".")
    if not key or (section_family(section) is None and key.rpartition(".")[2] not in STATS):
        raise InputError(f"{at}.metric: {metric!r} is not <metric>.<stat> (e.g. queue_ms.p95), "
                         "throughput.<key>, gpu.<key> or dask.<key>")
    return {"metric": metric, "better": objective["better"]}


def choose_fix(profile, diagnosis, name=None):
    """(fix or None, the reason when None) for a baseline's diagnosis, or the fix named `name`.

    A named fix must be one of the profile's; it applies whatever the diagnosis.
    """
    fixes = profile_fixes(profile)["fixes"]
    if name:
        for finding, candidates in fixes.items():
            for fix in candidates:
                if fix["name"] == name:
                    return dict(fix, finding=finding), None
        known = sorted(fix["name"] for candidates in fixes.values() for fix in candidates)
        raise InputError(f"fix {name}: not a fix of profile {profile.get('name')} (it has {', '.join(known) or 'none'})")
    if diagnosis in (None, "healthy"):
        return None, "the baseline is healthy: there is nothing to fix"
    candidates = fixes.get(diagnosis)
    if not candidates:
        return None, f"profile {profile.get('name')} has no known fix for {diagnosis}"
    return dict(candidates[0], finding=diagnosis), None


RUN_ID_MAX = 53  # the run-id rule (test_plugins/run_id)


def variant_run_id(baseline_run_id, fix_name):
    """The run id of the variant that applies a fix to a baseline: `<baseline>-fix-<name>`, the
    baseline's part shortened to keep the id within the run-id rule's length."""
    suffix = f"-fix-{fix_name}"
    return baseline_run_id[:RUN_ID_MAX - len(suffix)] + suffix
