"""library/gpu_facts.py run for real against a fake nvidia-smi that replays recorded output."""

import os
import shutil
from pathlib import Path

import ansible_runner
import pytest

from tests.module_harness import run_module

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "nvidia-smi"




def fake_bin(tmp_path, scenario):
    """A PATH directory whose nvidia-smi replays tests/fixtures/nvidia-smi/<scenario>."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(FIXTURES / "fake-nvidia-smi", bin_dir / "nvidia-smi")
    (bin_dir / "fixture").symlink_to(FIXTURES / scenario)
    return bin_dir


def run_gpu_facts(args=None):
    return run_module("gpu_facts", args or {})


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    def put(scenario):
        monkeypatch.setenv("PATH", f"{fake_bin(tmp_path, scenario)}{os.pathsep}/usr/bin:/bin")
    return put


def test_two_a100_with_a_process_holding_memory(on_path):
    on_path("a100x2")
    result = run_gpu_facts()
    assert not result.get("failed")
    assert result["gpu_present"] is True and result["gpu_count"] == 2
    assert result["gpu_models"] == ["NVIDIA A100-SXM4-80GB"]
    assert result["gpu_memory_total_mib"] == 81920
    assert result["driver_version"] == "535.104.05"
    assert [gpu["memory_used_mib"] for gpu in result["gpus"]] == [70143, 4]
    assert result["gpu_processes"] == [{
        "pid": 48211, "process_name": "/home/ubuntu/prime-rl/.venv/bin/python", "used_memory_mib": 70128,
        "gpu_uuid": "GPU-3f2c8a1e-94b7-5d60-1c2e-8a7f0b6d4e91", "gpu_index": 0}]
    facts = result["ansible_facts"]["stallscope_gpu"]
    assert facts["gpu_count"] == 2 and facts["gpu_processes"] == result["gpu_processes"]
    assert result["changed"] is False


def test_eight_h100_processes_map_to_their_gpus(on_path):
    on_path("h100x8")
    result = run_gpu_facts()
    assert result["gpu_count"] == 8 and result["gpu_memory_total_mib"] == 81559
    assert result["gpu_models"] == ["NVIDIA H100 80GB HBM3"]
    assert [p["gpu_index"] for p in result["gpu_processes"]] == [0, 1, 2, 3, 4, 5, 6]
    assert {p["process_name"] for p in result["gpu_processes"][:4]} == {f"VLLM::Worker_TP{i}" for i in range(4)}


def test_no_nvidia_smi_means_no_gpu_not_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_gpu_facts()
    assert not result.get("failed")
    assert result["gpu_present"] is False and result["gpu_count"] == 0 and result["nvidia_smi_path"] is None


def test_driver_failure_is_a_clear_failure(on_path):
    on_path("driver-failure")
    result = run_gpu_facts()
    assert result["failed"] is True and result["rc"] == 9
    assert "failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." in result["msg"]
    assert "Fix the NVIDIA driver on the host" in result["msg"]


def test_explicit_path_and_unexpected_output(tmp_path):
    bin_dir = fake_bin(tmp_path, "a100x2")
    assert run_gpu_facts({"nvidia_smi_path": str(bin_dir / "nvidia-smi")})["gpu_count"] == 2
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "query-gpu.out").write_text("index, name\n0, NVIDIA A100\n")
    (bin_dir / "fixture").unlink()
    (bin_dir / "fixture").symlink_to(garbage)
    result = run_gpu_facts({"nvidia_smi_path": str(bin_dir / "nvidia-smi")})
    assert result["failed"] is True
    assert "--query-gpu line 1 is not 'index,name,memory.total,memory.used,driver_version,uuid'" in result["msg"]


def run_through_ansible(tmp_path, monkeypatch, scenario, cmdline=""):
    """The real path: Ansible, driven by ansible-runner, finding library/ through the repo's ansible.cfg."""
    monkeypatch.setenv("PATH", os.pathsep.join([str(fake_bin(tmp_path, scenario)), os.environ["PATH"]]))
    (tmp_path / "runner").mkdir()
    run = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"), host_pattern="localhost", module="gpu_facts",
        cmdline=cmdline, envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        project_dir=str(REPO), quiet=True,
    )
    assert run.rc == 0, run.stdout.read()
    [result] = [event["event_data"]["res"] for event in run.events if event["event"] == "runner_on_ok"]
    return result, run.stdout.read()


def test_through_ansible_in_check_mode(tmp_path, monkeypatch):
    result, _ = run_through_ansible(tmp_path, monkeypatch, "h100x8", cmdline="--check")
    assert result["gpu_count"] == 8 and result["changed"] is False


def test_no_devices_is_no_gpu_with_a_warning(tmp_path, monkeypatch):
    result, output = run_through_ansible(tmp_path, monkeypatch, "no-devices")
    assert result["gpu_present"] is False and result["gpu_count"] == 0
    assert "found no GPU (No devices were found)" in output
