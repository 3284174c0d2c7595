"""The launch_plan filter over the project's real profiles."""

import base64
import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("launch_plan", REPO / "filter_plugins" / "launch_plan.py")
launch_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launch_plan)

ADDRESSES = {"h1": "10.0.0.1", "h2": "10.0.0.2", "h3": "10.0.0.3"}
CONTROLLER = {"python": "/venv/bin/python", "project_dir": "/src/stallscope"}


def profile(name):
    return yaml.safe_load((REPO / "profiles" / f"{name}.yml").read_text())


def run(run_id="r1"):
    base = f"/home/u/stallscope-runs/{run_id}"
    return {"id": run_id, "dir": base, "logs_dir": base + "/logs", "output_dir": base + "/output",
            "checkout_dir": "/home/u/prime-rl"}


def plan(name, host, groups, overrides=None):
    return launch_plan.launch_plan(profile(name), host, groups, ADDRESSES, run(), CONTROLLER,
                                   overrides)


def by_name(resolved):
    return {c["name"]: c for c in resolved["components"]}


ONE_HOST = {"inference": ["h1"], "trainer": ["h1"], "orchestrator": ["h1"]}
THREE_HOSTS = {"inference": ["h1"], "trainer": ["h2"], "orchestrator": ["h3"]}


def test_simrl_on_one_host_binds_to_loopback():
    resolved = plan("simrl", "h1", ONE_HOST)
    assert resolved["order"] == ["inference", "trainer", "orchestrator"]
    assert resolved["here"] == resolved["order"] and resolved["ports"] == [8000]
    assert resolved["stages"] == [resolved["order"]]  # one host: one task starts them all, in order
    components = by_name(resolved)
    assert components["inference"]["command"] == (
        "/venv/bin/python -m stallscope.sim inference --host 127.0.0.1 --port 8000")
    assert components["inference"]["health"] == {"url": "http://127.0.0.1:8000/health",
                                                 "status": 200, "timeout": 60}
    assert "--base-url http://127.0.0.1:8000 " in components["orchestrator"]["command"]
    assert "--output-dir /home/u/stallscope-runs/r1/output" in components["trainer"]["command"]
    assert components["trainer"]["environment"] == {"PYTHONUNBUFFERED": "1",
                                                    "PYTHONPATH": "/src/stallscope/src"}
    assert components["orchestrator"]["log"] == "logs/orchestrator.log"
    assert components["orchestrator"]["exit"] == "logs/orchestrator.exit"
    assert components["trainer"]["stop"] == {"signals": ["INT", "TERM", "KILL"], "timeout": 15}
    assert resolved["config"] == {"async_level": 2, "admin_client": "shared", "weight_update": "before-batch"}
    assert not any("{" in c["command"] for c in resolved["components"])


def test_simrl_on_three_hosts_binds_inference_to_its_address_and_points_clients_there():
    on_inference_host = plan("simrl", "h1", THREE_HOSTS)
    assert on_inference_host["here"] == ["inference"] and on_inference_host["ports"] == [8000]
    inference = by_name(on_inference_host)["inference"]
    assert "--host 10.0.0.1 " in inference["command"]
    assert inference["health"]["url"] == "http://10.0.0.1:8000/health"
    on_orchestrator_host = plan("simrl", "h3", THREE_HOSTS)
    assert on_orchestrator_host["here"] == ["orchestrator"] and on_orchestrator_host["ports"] == []
    assert "--base-url http://10.0.0.1:8000 " in by_name(on_orchestrator_host)["orchestrator"]["command"]
    # The order (which drives the cross-host start sequence) is the same on every host.
    assert on_inference_host["order"] == on_orchestrator_host["order"]
    assert on_inference_host["stages"] == on_orchestrator_host["stages"] == [["inference"], ["trainer"], ["orchestrator"]]
    assert on_inference_host["groups"] == THREE_HOSTS


def test_stages_group_only_consecutive_components_of_one_single_host():
    # Two hosts run the trainer: it is healthy on both before anything after it starts.
    assert plan("simrl", "h1", {"inference": ["h1"], "trainer": ["h1", "h2"], "orchestrator": ["h1"]})["stages"] == [
        ["inference"], ["trainer"], ["orchestrator"]]
    assert plan("simrl", "h1", {"inference": ["h1"], "trainer": ["h1"], "orchestrator": ["h2"]})["stages"] == [
        ["inference", "trainer"], ["orchestrator"]]


def test_launch_windows_carry_files_health_and_only_the_named_secrets():
    resolved = plan("simrl", "h1", ONE_HOST)
    components = [dict(c, secrets=["HF_TOKEN"]) if c["name"] == "trainer" else c for c in resolved["components"]]
    windows = {w["window"]: w for w in launch_plan.launch_windows(components, "/runs/r1", {"HF_TOKEN": "t", "OTHER": "o"})}
    assert windows["inference"]["log_file"] == "/runs/r1/logs/inference.log"
    assert windows["inference"]["exit_file"] == "/runs/r1/logs/inference.exit"
    assert windows["inference"]["health_url"] == "http://127.0.0.1:8000/health"
    assert "health_url" not in windows["trainer"] and windows["trainer"]["secret_environment"] == {"HF_TOKEN": "t"}
    assert windows["orchestrator"]["secret_environment"] == {}
    assert windows["trainer"]["stop_signals"] == ["INT", "TERM", "KILL"] and windows["trainer"]["stop_timeout"] == 15


def test_a_client_on_another_host_is_what_leaves_loopback():
    groups = {"inference": ["h1"], "trainer": ["h2"], "orchestrator": ["h1"]}
    resolved = plan("simrl", "h1", groups)
    assert "--host 127.0.0.1 " in by_name(resolved)["inference"]["command"]


def test_overrides_replace_profile_vars_and_later_vars_see_them():
    resolved = plan("simrl", "h1", ONE_HOST, {"sim_python": "/opt/venv/bin/python",
                                             "admin_client": "dedicated", "async_level": 1,
                                             "weight_update": "during-batch"})
    orchestrator = by_name(resolved)["orchestrator"]["command"]
    assert orchestrator.startswith("/opt/venv/bin/python -m stallscope.sim orchestrator")
    assert "--admin-client dedicated" in orchestrator and "--async-level 1 " in orchestrator
    assert "--weight-update during-batch" in orchestrator
    assert resolved["config"]["async_level"] == 1


def test_prime_rl_commands_secrets_and_async_flag():
    components = by_name(plan("prime_rl", "h3", THREE_HOSTS))
    orchestrator = components["orchestrator"]
    assert orchestrator["command"].startswith("uv run orchestrator @ configs/orchestrator.toml")
    assert "--client.base-url http://10.0.0.1:8000/v1 " in orchestrator["command"]
    assert "--async-level 2" in orchestrator["command"]
    assert orchestrator["chdir"] == "/home/u/prime-rl"
    assert orchestrator["secrets"] == ["HF_TOKEN", "WANDB_API_KEY", "VLLM_API_KEY"]
    assert components["inference"]["health"]["timeout"] == 900
    assert components["inference"]["environment"]["VLLM_WORKER_MULTIPROC_METHOD"] == "spawn"
    resolved = plan("prime_rl", "h3", THREE_HOSTS, {"async_level_flag": ""})
    assert "async" not in by_name(resolved)["orchestrator"]["command"]
    # The orchestrator reads its config file's value: the manifest must not claim the variable's, and
    # launch reads the file where the orchestrator runs.
    assert resolved["config"] == {"async_level": None}
    assert resolved["config_files"] == [{"hint": "async_level", "component": "orchestrator", "here": True,
                                         "path": "/home/u/prime-rl/configs/orchestrator.toml",
                                         "keys": ["async_level", "max_async_level"]}]
    assert plan("prime_rl", "h1", THREE_HOSTS, {"async_level_flag": ""})["config_files"][0]["here"] is False
    assert plan("prime_rl", "h3", THREE_HOSTS)["config"] == {"async_level": 2}
    assert plan("prime_rl", "h3", THREE_HOSTS)["config_files"] == []


def _slurped(text):
    return {"content": base64.b64encode(text.encode()).decode(), "encoding": "base64"}


@pytest.mark.parametrize("read, expected, note", [
    (_slurped("max_async_level = 3\n"), 3, None),
    (_slurped("async_level = 1\nmax_async_level = 3\n"), 1, None),             # the first key listed wins
    (_slurped("[model]\nname = 'x'\n"), None, "none of async_level, max_async_level is set"),
    (_slurped("async_level = \n"), None, "not valid TOML"),
    (_slurped("[async_level]\nx = 1\n"), None, "async_level is a dict, not a value"),
    ({"failed": True, "msg": "file not found: /p/o.toml"}, None, "cannot read it (file not found: /p/o.toml)"),
])
def test_config_hints_are_read_from_the_components_toml(read, expected, note):
    files = plan("prime_rl", "h3", THREE_HOSTS, {"async_level_flag": ""})["config_files"]
    hints = launch_plan.launch_config_hints({"async_level": None, "other": 1}, files, [read])
    assert hints["config"] == {"async_level": expected, "other": 1}
    if note is None:
        assert hints["notes"] == []
    else:
        [line] = hints["notes"]
        assert line.startswith("async_level from /home/u/prime-rl/configs/orchestrator.toml: ") and note in line
        assert line.endswith("recorded as unknown")


def test_config_hints_naming_an_unknown_component_are_a_profile_error():
    bad = dict(profile("prime_rl"), analysis_from_config={"async_level": {
        "component": "orchestrater", "toml": "o.toml", "keys": ["async_level"]}})
    with pytest.raises(launch_plan.ProfileError, match="analysis_from_config.async_level: component 'orchestrater'"):
        launch_plan.launch_plan(bad, "h1", ONE_HOST, ADDRESSES, run(), CONTROLLER)


def test_prime_rl_gives_each_gpu_component_its_devices_and_the_orchestrator_none():
    components = by_name(plan("prime_rl", "h1", ONE_HOST))
    assert {name: c["environment"]["CUDA_VISIBLE_DEVICES"] for name, c in components.items()} == {
        "inference": "0", "trainer": "1", "orchestrator": ""}
    components = by_name(plan("prime_rl", "h1", ONE_HOST, {"orchestrator_gpu_ids": "2"}))
    assert components["orchestrator"]["environment"]["CUDA_VISIBLE_DEVICES"] == "2"


def test_base_environment_goes_under_each_components_own_and_text_overrides_take_int_type():
    resolved = launch_plan.launch_plan(profile("simrl"), "h1", ONE_HOST, ADDRESSES, run(), CONTROLLER,
                                       {"async_level": "3", "admin_client": "7"},
                                       environment={"PATH": "/home/u/.local/bin:/usr/bin",
                                                    "PYTHONUNBUFFERED": "0"})
    trainer = by_name(resolved)["trainer"]["environment"]
    assert trainer == {"PATH": "/home/u/.local/bin:/usr/bin", "PYTHONUNBUFFERED": "1",
                       "PYTHONPATH": "/src/stallscope/src"}
    assert resolved["config"]["async_level"] == 3          # an int default: "3" is 3
    assert resolved["config"]["admin_client"] == "7"       # a text default stays text


@pytest.mark.parametrize("change, message", [
    (lambda p: p["components"][1].update(group="gpu_trainers"),
     "group 'gpu_trainers', which has none in the inventory"),
    (lambda p: p["components"][0].update(command="{{ no_such_var }}"),
     "profile simrl: inference.command: 'no_such_var' is undefined"),
    (lambda p: p["components"][0].update(name="in ference"), "name 'in ference' must be"),
    (lambda p: p["components"][0].update(colour="red"), "unknown keys ['colour']"),
    (lambda p: p["components"][0]["listen"].update(port="{{ 'http' }}"), "must be a TCP port"),
    (lambda p: p["components"][0].update(holds_ports=["{{ 'http' }}"]),
     "inference.holds_ports must be a list of TCP ports"),
    (lambda p: p.update(schema_version=2), "schema_version must be 1"),
])
def test_profile_mistakes_are_named(change, message):
    broken = profile("simrl")
    change(broken)
    with pytest.raises(launch_plan.ProfileError, match=r".*" + message.replace("[", r"\[")
                       .replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        launch_plan.launch_plan(broken, "h1", ONE_HOST, ADDRESSES, run(), CONTROLLER)


def test_unknown_override_is_named():
    with pytest.raises(launch_plan.ProfileError, match=r"\['sim_pyhton'\] are not variables"):
        plan("simrl", "h1", ONE_HOST, {"sim_pyhton": "/x"})


def test_templates_are_sandboxed():
    broken = profile("simrl")
    broken["components"][0]["command"] = "{{ run.__class__.__mro__ }}"
    with pytest.raises(launch_plan.ProfileError):
        launch_plan.launch_plan(broken, "h1", ONE_HOST, ADDRESSES, run(), CONTROLLER)


def test_a_requires_gpu_component_runs_only_where_there_is_a_gpu():
    with_sampler = profile("prime_rl")
    with_sampler["components"].append({"name": "gpu_sampler", "group": "all", "start_order": 0,
                                       "service": True, "requires_gpu": True, "command": "nvidia-smi"})
    groups = dict(THREE_HOSTS, all=["h1", "h2", "h3"])

    def on(host):
        return launch_plan.launch_plan(with_sampler, host, groups, ADDRESSES, run(), CONTROLLER,
                                       gpu_hosts=["h1", "h2"])
    assert on("h1")["order"][0] == "gpu_sampler"
    assert on("h1")["here"] == ["gpu_sampler", "inference"] and on("h1")["no_gpu_here"] == []
    assert on("h3")["here"] == ["orchestrator"] and on("h3")["no_gpu_here"] == ["gpu_sampler"]
    assert "all" not in on("h1")["groups"]
    nowhere = launch_plan.launch_plan(with_sampler, "h1", groups, ADDRESSES, run(), CONTROLLER)
    assert "gpu_sampler" not in nowhere["order"] and nowhere["no_gpu_here"] == ["gpu_sampler"]
    with_sampler["components"][-1]["listen"] = {"port": 9400}
    with pytest.raises(launch_plan.ProfileError, match="a requires_gpu component cannot listen"):
        on("h1")
