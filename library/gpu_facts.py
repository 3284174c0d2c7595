#!/usr/bin/python
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Gather NVIDIA GPU facts (count, model, memory, driver, processes) with nvidia-smi
description:
  - Runs C(nvidia-smi) twice, a C(--query-gpu) and a C(--query-compute-apps) query in CSV form, and
    returns what the GPUs are and which processes still hold GPU memory.
  - A host without C(nvidia-smi) is not an error, it has no GPU; the result says C(gpu_present=false).
  - A host where C(nvidia-smi) exists but fails (for example the driver is not loaded) is an error,
    reported with the tool's own message.
  - The facts are also set as C(ansible_facts.stallscope_gpu), so later plays (the run manifest) can
    use them without asking again.
version_added: "0.1.0"
author:
  - stallscope contributors
options:
  nvidia_smi_path:
    description:
      - Path of the C(nvidia-smi) executable.
      - When not given, it is looked up on E(PATH) and in the usual sbin directories.
    type: path
  timeout:
    description:
      - Seconds each C(nvidia-smi) call may take before it counts as failed (a hung driver).
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same way in check mode.
  diff_mode:
    support: none
notes:
  - Memory figures are in MiB, as C(nvidia-smi) reports them; C([N/A]) values become V(null).
requirements:
  - C(nvidia-smi) from the NVIDIA driver, on hosts that have GPUs.
"""

EXAMPLES = r"""
- name: Gather the GPU facts of the host.
  gpu_facts:
  register: __gpus

- name: Fail when fewer than two GPUs are present.
  ansible.builtin.assert:
    that: __gpus.gpu_count >= 2
    fail_msg: "{{ inventory_hostname }} has {{ __gpus.gpu_count }} GPU(s), the run needs 2."

- name: Use an nvidia-smi outside PATH.
  gpu_facts:
    nvidia_smi_path: /usr/local/nvidia/bin/nvidia-smi
"""

RETURN = r"""
gpu_present:
  description: Whether nvidia-smi is present and reports at least one GPU.
  returned: always
  type: bool
  sample: true
gpu_count:
  description: Number of GPUs.
  returned: always
  type: int
  sample: 2
gpu_models:
  description: The distinct GPU model names, in index order.
  returned: always
  type: list
  elements: str
  sample: ["NVIDIA A100-SXM4-80GB"]
gpu_memory_total_mib:
  description: The smallest total memory of any GPU, in MiB (what a per-GPU requirement is checked against); V(null) without GPUs.
  returned: always
  type: int
  sample: 81920
driver_version:
  description: The NVIDIA driver version; V(null) without GPUs.
  returned: always
  type: str
  sample: "535.104.05"
gpus:
  description: One entry per GPU.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: The GPU index, as C(CUDA_VISIBLE_DEVICES) counts by default.
      type: int
    name:
      description: The model name.
      type: str
    memory_total_mib:
      description: Total memory in MiB.
      type: int
    memory_used_mib:
      description: Memory in use in MiB.
      type: int
    uuid:
      description: The GPU UUID.
      type: str
  sample:
    - {index: 0, name: NVIDIA A100-SXM4-80GB, memory_total_mib: 81920, memory_used_mib: 70143,
       uuid: GPU-3f2c8a1e-94b7-5d60-1c2e-8a7f0b6d4e91}
gpu_processes:
  description: The compute processes holding GPU memory (a leftover server from an earlier run shows here).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Process id.
      type: int
    process_name:
      description: Process name or path.
      type: str
    used_memory_mib:
      description: GPU memory it holds, in MiB; V(null) when the driver does not say.
      type: int
    gpu_uuid:
      description: UUID of the GPU.
      type: str
    gpu_index:
      description: Index of the GPU; V(null) when the UUID matches no listed GPU.
      type: int
  sample:
    - {pid: 48211, process_name: /home/ubuntu/prime-rl/.venv/bin/python, used_memory_mib: 70128,
       gpu_uuid: GPU-3f2c8a1e-94b7-5d60-1c2e-8a7f0b6d4e91, gpu_index: 0}
nvidia_smi_path:
  description: The nvidia-smi that was run; V(null) when none was found.
  returned: always
  type: str
  sample: /usr/bin/nvidia-smi
ansible_facts:
  description: The same facts under one key.
  returned: always
  type: dict
  contains:
    stallscope_gpu:
      description: Every key above except C(ansible_facts).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

GPU_FIELDS = "index,name,memory.total,memory.used,driver_version,uuid"
PROCESS_FIELDS = "pid,process_name,used_memory,gpu_uuid"
CSV_FORMAT = "--format=csv,noheader,nounits"
# nvidia-smi exits 6 with this message when the driver is loaded but sees no GPU.
NO_DEVICES = "No devices were found"


class NvidiaSmiOutputError(Exception):
    """Output that does not have the shape of the query asked."""


def number_or_none(text):
    """nvidia-smi prints [N/A] (or similar) where the driver cannot tell."""
    return int(text) if text.isdigit() else None


def parse_gpus(text):
    gpus = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 6 or not fields[0].isdigit():
            raise NvidiaSmiOutputError(f"--query-gpu line {number} is not '{GPU_FIELDS}': {line!r}")
        index, name, total, used, driver, uuid = fields
        gpus.append({"index": int(index), "name": name, "memory_total_mib": number_or_none(total),
                     "memory_used_mib": number_or_none(used), "driver_version": driver, "uuid": uuid})
    return gpus


def parse_processes(text, index_by_uuid):
    processes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        # A process name may contain commas: read pid from the left, memory and uuid from the right.
        if len(fields) < 4 or not fields[0].isdigit():
            raise NvidiaSmiOutputError(f"--query-compute-apps line {number} is not '{PROCESS_FIELDS}': {line!r}")
        processes.append({"pid": int(fields[0]), "process_name": ", ".join(fields[1:-2]),
                          "used_memory_mib": number_or_none(fields[-2]), "gpu_uuid": fields[-1],
                          "gpu_index": index_by_uuid.get(fields[-1])})
    return processes


def summarise(gpus, processes, nvidia_smi_path):
    totals = [gpu["memory_total_mib"] for gpu in gpus if gpu["memory_total_mib"] is not None]
    models = []
    for gpu in gpus:
        if gpu["name"] not in models:
            models.append(gpu["name"])
    return {
        "gpu_present": bool(gpus),
        "gpu_count": len(gpus),
        "gpu_models": models,
        "gpu_memory_total_mib": min(totals) if totals else None,
        "driver_version": gpus[0]["driver_version"] if gpus else None,
        "gpus": [{key: value for key, value in gpu.items() if key != "driver_version"} for gpu in gpus],
        "gpu_processes": processes,
        "nvidia_smi_path": nvidia_smi_path,
    }


def main():
    module = AnsibleModule(
        argument_spec={"nvidia_smi_path": {"type": "path"}, "timeout": {"type": "int", "default": 30}},
        supports_check_mode=True,
    )
    nvidia_smi = module.params["nvidia_smi_path"] or module.get_bin_path("nvidia-smi")
    if nvidia_smi is None:
        facts = summarise([], [], None)
        module.exit_json(changed=False, ansible_facts={"stallscope_gpu": facts}, **facts)

    def run(fields_option):
        try:
            rc, out, err = module.run_command(
                ["timeout", str(module.params["timeout"]), nvidia_smi, fields_option, CSV_FORMAT],
                environ_update={"LC_ALL": "C"},
            )
        except OSError as error:
            module.fail_json(msg=f"cannot run {nvidia_smi}: {error}")
        message = " ".join((out.strip() or err.strip()).split())
        if rc == 6 and NO_DEVICES in message:
            return None
        if rc == 124:
            module.fail_json(msg=f"{nvidia_smi} {fields_option} did not answer within "
                                 f"{module.params['timeout']} s: the driver may be hung; check `nvidia-smi` "
                                 "and dmesg on the host", rc=rc)
        if rc != 0:
            module.fail_json(msg=f"{nvidia_smi} failed (exit {rc}): {message or 'no output'} "
                                 "Fix the NVIDIA driver on the host (run nvidia-smi there; see dmesg), "
                                 "or remove nvidia-smi from PATH if the host has no GPU.",
                             rc=rc, stdout=out, stderr=err)
        return out

    try:
        gpu_output = run(f"--query-gpu={GPU_FIELDS}")
        if gpu_output is None:
            module.warn(f"{nvidia_smi} found no GPU ({NO_DEVICES}): the driver is loaded but sees no device")
            gpus, processes = [], []
        else:
            gpus = parse_gpus(gpu_output)
            processes = parse_processes(run(f"--query-compute-apps={PROCESS_FIELDS}") or "",
                                        {gpu["uuid"]: gpu["index"] for gpu in gpus})
    except NvidiaSmiOutputError as error:
        module.fail_json(msg=f"unexpected output from {nvidia_smi}: {error}")

    facts = summarise(gpus, processes, nvidia_smi)
    module.exit_json(changed=False, ansible_facts={"stallscope_gpu": facts}, **facts)


if __name__ == "__main__":
    main()
