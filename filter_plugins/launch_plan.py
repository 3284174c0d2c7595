# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)
"""The launch_plan filter: a workload profile (profiles/*.yml) resolved for one host.

A profile is plain data whose strings are Jinja templates. Ansible does not template it (it is read
with a file lookup, so its strings are untrusted data); this filter renders it in a sandbox with an
explicit, documented context (docs/profiles.md), so that a profile can only use what is listed there.
Documented for ansible-doc in the sidecar launch_plan.yml.
"""

from __future__ import annotations

import base64
import posixpath
import re
import tomllib

from ansible.errors import AnsibleFilterError
from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

SCHEMA_VERSION = 1
LOOPBACK = "127.0.0.1"
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}$", re.S)
COMPONENT_KEYS = {"name", "group", "start_order", "command", "chdir", "environment", "secrets",
                  "listen", "holds_ports", "health", "log", "stop", "service", "requires_gpu"}
DEFAULT_STOP = {"signals": ["INT", "TERM", "KILL"], "timeout": 10}
DEFAULT_HEALTH = {"status": 200, "timeout": 60}

_ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)


class ProfileError(AnsibleFilterError):
    """A mistake in a profile or its placement, named so a person can fix it."""


def _render(value, context, where):
    """Render templates in a value (recursively). A string that is one `{{ expression }}` keeps the
    expression's type (a port stays an int)."""
    if isinstance(value, dict):
        return {key: _render(item, context, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, context, f"{where}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str) or "{" not in value:
        return value
    try:
        single = SINGLE_EXPRESSION.match(value.strip())
        if single:
            result = _ENV.compile_expression(single.group("expr"), undefined_to_none=False)(context)
            if isinstance(result, Undefined):
                str(result)  # StrictUndefined raises here, naming the variable
            return result
        return _ENV.from_string(value).render(context)
    except TemplateError as error:
        raise ProfileError(f"{where}: {error}") from None


def _typed_like(default, value):
    """An override given as text (`-e name=value` gives text) takes the type of a plain integer
    default when it reads as one, so that async_level stays an int in the manifest."""
    if (isinstance(default, int) and not isinstance(default, bool) and isinstance(value, str)
            and re.fullmatch(r"-?\d+", value.strip())):
        return int(value)
    return value


def _require(condition, message):
    if not condition:
        raise ProfileError(message)


def _check_profile(profile):
    name = profile.get("name", "?") if isinstance(profile, dict) else "?"
    _require(isinstance(profile, dict), "the profile is not a mapping")
    _require(profile.get("schema_version") == SCHEMA_VERSION,
             f"profile {name}: schema_version must be {SCHEMA_VERSION}")
    components = profile.get("components")
    _require(isinstance(components, list) and components,
             f"profile {name}: components must be a non-empty list")
    names = {c.get("name") for c in components if isinstance(c, dict)}
    seen = set()
    for index, component in enumerate(components):
        where = f"profile {name}: components[{index}]"
        _require(isinstance(component, dict), f"{where} is not a mapping")
        unknown = set(component) - COMPONENT_KEYS
        _require(not unknown, f"{where}: unknown keys {sorted(unknown)}")
        for key in ("name", "group", "command"):
            _require(key in component, f"{where}: {key} is required")
        _require(NAME.match(str(component["name"])) is not None,
                 f"{where}: name {component['name']!r} must be 1-64 letters, digits, '_' or '-'")
        _require(component["name"] not in seen, f"{where}: name {component['name']!r} repeats")
        seen.add(component["name"])
        for env_name in list(component.get("environment", {})) + list(component.get("secrets", [])):
            _require(ENV_NAME.match(env_name) is not None,
                     f"{where}: environment variable name {env_name!r} is invalid")
        _require(not (component.get("requires_gpu") and component.get("listen")),
                 f"{where}: a requires_gpu component cannot listen (it may run on no host)")
        clients = component.get("listen", {}).get("clients", [])
        _require(set(clients) <= names,
                 f"{where}: listen.clients names unknown components {sorted(set(clients) - names)}")
    sources = profile.get("analysis_from_config") or {}
    _require(isinstance(sources, dict), f"profile {name}: analysis_from_config must be a mapping")
    for hint, source in sources.items():
        where = f"profile {name}: analysis_from_config.{hint}"
        _require(isinstance(source, dict) and set(source) == {"component", "toml", "keys"},
                 f"{where} must be a mapping of component, toml and keys")
        _require(source["component"] in names, f"{where}: component {source['component']!r} is not in the profile")
        keys = source["keys"]
        _require(isinstance(keys, list) and keys and all(isinstance(k, str) and k for k in keys),
                 f"{where}: keys must be a non-empty list of (dotted) TOML keys")
    return name


def _placement(components, groups, addresses, profile_name, gpu_hosts):
    """Component name -> its hosts: the members of its group that take part (have an address); for
    a requires_gpu component, those of them with a GPU (possibly none)."""
    hosts = {}
    for component in components:
        members = [h for h in groups.get(component["group"], []) if h in addresses]
        if component.get("requires_gpu"):
            hosts[component["name"]] = [h for h in members if h in gpu_hosts]
            continue
        _require(members, f"profile {profile_name}: component {component['name']} runs on the hosts "
                          f"of group '{component['group']}', which has none in the inventory "
                          f"(or none in this play)")
        hosts[component["name"]] = members
    return hosts


def launch_plan(profile, host, groups, addresses, run, controller=None, overrides=None, environment=None,
                gpu_hosts=()):
    """The profile resolved for one host: see launch_plan.yml and docs/profiles.md."""
    profile_name = _check_profile(profile)
    components = sorted(profile["components"], key=lambda c: c.get("start_order", 0))
    hosts = _placement(components, groups, addresses, profile_name, set(gpu_hosts or ()))
    context = {"run": dict(run), "controller": dict(controller or {}),
               "host": {"name": host, "address": addresses.get(host)},
               "component_hosts": {name: list(members) for name, members in hosts.items()}}
    defaults = dict(profile.get("vars") or {})
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(defaults))
    _require(not unknown, f"launch_profile_vars (or stallscope_profile_var_*): {unknown} are not "
                          f"variables of profile {profile_name} (it has {sorted(defaults)})")
    reserved = sorted(set(defaults) & {"run", "controller", "host", "component", "component_hosts", "endpoints"})
    _require(not reserved, f"profile {profile_name}: vars may not be named {reserved}")
    # In order, so that a variable can use the ones above it (overridden or not).
    for key, value in defaults.items():
        context[key] = _typed_like(value, overrides[key]) if key in overrides else _render(
            value, context, f"profile {profile_name}: vars.{key}")

    # Where each listening component binds and how every host reaches it: loopback when all of its
    # clients share its host, else its host's inventory address.
    endpoints = {}
    for component in components:
        listen = component.get("listen")
        if not listen:
            continue
        where = f"profile {profile_name}: {component['name']}.listen"
        server = hosts[component["name"]][0]
        client_hosts = {h for name in listen.get("clients", []) for h in hosts[name]}
        bind = LOOPBACK if client_hosts <= {server} else addresses[server]
        port = _render(listen.get("port"), context, where + ".port")
        _require(isinstance(port, int) and 0 < port < 65536, f"{where}.port must be a TCP port")
        address = bind if host == server else addresses[server]
        endpoints[component["name"]] = {"host": server, "bind_address": bind, "address": address,
                                        "port": port, "url": f"http://{address}:{port}"}
    context["endpoints"] = endpoints
    # The other ports a component binds on each of its hosts (a Ray node's object manager, agents,
    # ...): not endpoints, but preflight checks them free where the component runs.
    held = set()
    for component in components:
        if host not in hosts[component["name"]]:
            continue
        where = f"profile {profile_name}: {component['name']}.holds_ports"
        ports = _render(component.get("holds_ports") or [], context, where)
        _require(isinstance(ports, list) and all(isinstance(port, int) and 0 < port < 65536 for port in ports),
                 f"{where} must be a list of TCP ports")
        held.update(ports)

    resolved = []
    # A requires_gpu component no host can run is left out (the same on every host: the same hosts).
    for component in (c for c in components if hosts[c["name"]] or not c.get("requires_gpu")):
        name = component["name"]
        where = f"profile {profile_name}: {name}"
        here = host in hosts[name]
        own = endpoints.get(name, {})
        local = dict(context, component={"name": name, "host": host,
                                    "bind_address": own.get("bind_address"),
                                    "address": own.get("bind_address"), "port": own.get("port")})
        health = component.get("health")
        if health:
            health = dict(DEFAULT_HEALTH, **_render(health, local, where + ".health"))
        stop = dict(DEFAULT_STOP, **_render(component.get("stop") or {}, local, where + ".stop"))
        component_environment = _render(component.get("environment") or {}, local, where + ".environment")
        resolved.append({
            "name": name,
            "group": component["group"],
            "hosts": hosts[name],
            "here": here,
            "command": _render(component["command"], local, where + ".command").strip(),
            "chdir": _render(component.get("chdir") or run["dir"], local, where + ".chdir"),
            # The role's base environment (PATH with uv), under the component's own entries.
            "environment": {key: str(value) for key, value in dict(environment or {}, **component_environment).items()},
            "secrets": list(component.get("secrets") or []),
            # A service runs until it is stopped; the others are jobs, and the run is over when
            # every job has ended.
            "service": bool(component.get("service", False)),
            "requires_gpu": bool(component.get("requires_gpu", False)),
            "listen": own or None,
            "health": health or None,
            "log": "logs/" + (component.get("log") or name + ".log"),
            "exit": "logs/" + name + ".exit",
            "stop": stop,
        })
    analysis = _render(dict(profile.get("analysis") or {}), context,
                       f"profile {profile_name}: analysis")
    # Hints the command lines leave out, to be read from a component's config file on its hosts.
    by_name = {c["name"]: c for c in resolved}
    config_files = []
    for hint, source in (profile.get("analysis_from_config") or {}).items():
        component = by_name.get(source["component"])
        if analysis.get(hint) is not None or component is None:
            continue
        path = _render(source["toml"], context, f"profile {profile_name}: analysis_from_config.{hint}.toml")
        config_files.append({"hint": hint, "component": component["name"], "here": component["here"],
                             "path": posixpath.join(component["chdir"], path), "keys": list(source["keys"])})
    return {
        "profile": profile_name,
        "order": [c["name"] for c in resolved],
        "stages": _stages(resolved),
        "components": resolved,
        "here": [c["name"] for c in resolved if c["here"]],
        # requires_gpu components of this host's groups that do not run here: it has no GPU.
        "no_gpu_here": [c["name"] for c in components if c.get("requires_gpu") and host not in hosts[c["name"]]
                        and host in groups.get(c["group"], [])],
        "ports": sorted({e["port"] for e in endpoints.values() if e["host"] == host} | held),
        "groups": {c["group"]: c["hosts"] for c in resolved if not c["requires_gpu"]},
        "config": analysis,
        "config_files": config_files,
    }


def _stages(resolved):
    """The components in start order, grouped where one task per host may start several: consecutive
    components of one and the same single host (across hosts, each component is healthy on every
    host before the next starts anywhere, so each is a stage of its own)."""
    stages = []
    for component in resolved:
        if stages and len(component["hosts"]) == 1 and stages[-1]["hosts"] == component["hosts"]:
            stages[-1]["components"].append(component["name"])
        else:
            stages.append({"hosts": component["hosts"], "components": [component["name"]]})
    return [stage["components"] for stage in stages]


def launch_windows(components, run_dir, secrets):
    """tmux_session's `windows` for planned components: their commands, files, stop and health
    settings, and the values of the secrets each names (launch_secrets)."""
    windows = []
    for component in components:
        window = {"window": component["name"], "command": component["command"], "chdir": component["chdir"],
                  "environment": component["environment"],
                  "secret_environment": {name: secrets[name] for name in component["secrets"] if name in secrets},
                  "log_file": posixpath.join(run_dir, component["log"]),
                  "exit_file": posixpath.join(run_dir, component["exit"]),
                  "stop_signals": component["stop"]["signals"], "stop_timeout": component["stop"]["timeout"]}
        if component["health"]:
            window.update(health_url=component["health"]["url"], health_status=component["health"]["status"],
                          health_timeout=component["health"]["timeout"])
        windows.append(window)
    return windows


def _lookup(document, dotted):
    value = document
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def launch_config_hints(config, config_files, read):
    """The plan's analysis hints with those read from config files: see launch_config_hints.yml."""
    config = dict(config)
    notes = []
    for source, result in zip(config_files, read):
        where = f"{source['hint']} from {source['path']}"
        if result.get("failed") or "content" not in result:
            notes.append(f"{where}: cannot read it ({result.get('msg', 'unknown error')}); recorded as unknown")
            continue
        try:
            document = tomllib.loads(base64.b64decode(result["content"]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            notes.append(f"{where}: not valid TOML ({error}); recorded as unknown")
            continue
        key, value = next(((key, value) for key in source["keys"] if (value := _lookup(document, key)) is not None),
                          (None, None))
        if key is None:
            notes.append(f"{where}: none of {', '.join(source['keys'])} is set; the component's own default "
                         "applies, recorded as unknown")
            continue
        if isinstance(value, (dict, list)):
            notes.append(f"{where}: {key} is a {type(value).__name__}, not a value; recorded as unknown")
            continue
        config[source["hint"]] = value
    return {"config": config, "notes": notes}


class FilterModule:
    def filters(self):
        return {"launch_plan": launch_plan, "launch_config_hints": launch_config_hints, "launch_windows": launch_windows}
