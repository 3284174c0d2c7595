#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sweep_plan
short_description: Expand a sweep of a profile's variables into variants, and find those still to run
description:
  - Checks a sweep spec (profile variable -> list of values, docs/sweeps.md) against a workload
    profile and expands it into variants, every combination, named C(v01), C(v02), ...
  - Keeps the sweep in C(<runs_dir>/sweeps/<sweep_id>/), writing C(sweep.json) (the spec and its variants)
    on the first plan. A variant with a record in C(variants/) is done (or failed) and is not run
    again, so re-running a sweep resumes it. A variant whose earlier attempt was interrupted runs
    again under a new run id (C(<sweep_id>-v01-a2)); the earlier run is kept.
  - Writes, for each variant to run, the variables its plays get (C(variants/<name>.vars.json)),
    its run id, the profile, and its values over the inventory's C(stallscope_profile_vars).
  - A malformed spec is one line naming the variable and what to do.
version_added: "0.1.0"
author:
  - stallscope contributors
options:
  profile:
    description: The profile as data (profiles/<name>.yml read with a file lookup and from_yaml).
    type: dict
    required: true
  spec:
    description:
      - The sweep as a mapping of profile variables to lists of values, or its JSON text, for example
        C(batch_size) to C([64, 128]). One of O(spec) and O(spec_file) is required.
    type: raw
  spec_file:
    description: A YAML or JSON file holding the sweep spec.
    type: path
  sweep_id:
    description: The sweep's id; by default derived from the profile and the spec, so that the same spec resumes.
    type: str
    default: ""
  runs_dir:
    description: The controller's run records (C(runs/)); the sweep lives in its C(sweeps/) directory.
    type: path
    required: true
  retry_failed:
    description: Run again the variants recorded as failed (under a new run id).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Plans without writing C(sweep.json) or the variants' variables.
"""

EXAMPLES = r"""
- name: Plan the sweep
  sweep_plan:
    profile: "{{ lookup('ansible.builtin.file', 'profiles/simrl.yml') | from_yaml }}"
    spec: {"max_steps": [4, 6], "admin_client": ["shared", "dedicated"]}
    runs_dir: runs
  register: plan
"""

RETURN = r"""
sweep_id:
  description: The sweep's id.
  returned: always
  type: str
  sample: simrl-sweep-1f2e3d4c
sweep_dir:
  description: The sweep's directory on the controller.
  returned: always
  type: str
variants:
  description: Every variant in order, with C(name), C(vars), C(run_id), C(state) (done, failed or pending) and,
    when pending, C(vars_file) (the variables file its plays get with -e @).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "v01", "vars": {"admin_client": "shared"}, "run_id": "simrl-sweep-1f2e3d4c-v01", "state": "pending"}]
objective:
  description: The profile's objective (metric and better), or null.
  returned: always
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.stallscope.engine.errors import InputError
from ansible.module_utils.stallscope.fixes import profile_fixes
from ansible.module_utils.stallscope.sweep import expand, plan, sweep_id, variant_play_vars


def read_spec(params):
    if (params["spec"] is None) == (params["spec_file"] is None):
        raise InputError("sweep: give the variants with -e '{\"sweep\": {\"variable\": [values]}}' or -e sweep_file=PATH")
    if params["spec_file"] is not None:
        import yaml  # Ansible's own dependency, on the controller

        try:
            with open(params["spec_file"], encoding="utf-8") as handle:
                return yaml.safe_load(handle)
        except (OSError, UnicodeError) as err:
            raise InputError("sweep_file %s: cannot read: %s" % (params["spec_file"], getattr(err, "strerror", None) or err))
        except yaml.YAMLError as err:
            raise InputError("sweep_file %s: not valid YAML: %s" % (params["spec_file"], getattr(err, "problem", None) or err))
    spec = params["spec"]
    if isinstance(spec, str):
        try:
            return json.loads(spec)
        except ValueError as err:
            raise InputError("sweep: not a JSON mapping (%s): %s; pass it whole as -e '{\"sweep\": {...}}'" % (err, spec[:80]))
    return spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="dict", required=True),
            spec=dict(type="raw"),
            spec_file=dict(type="path"),
            sweep_id=dict(type="str", default=""),
            runs_dir=dict(type="path", required=True),
            retry_failed=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    profile = params["profile"]
    name = profile.get("name", "?")
    try:
        objective = profile_fixes(profile)["objective"]
        spec = read_spec(params)
        variants = expand(spec, profile)
        sweep = sweep_id(name, spec, params["sweep_id"])
        sweep_dir = os.path.join(params["runs_dir"], "sweeps", sweep)
        planned = plan(sweep_dir, params["runs_dir"], sweep, name, spec, variants, params["retry_failed"],
                       write=not module.check_mode)
    except (InputError, OSError, ValueError) as err:
        module.fail_json(msg=str(err))
    for variant in planned:
        if variant["state"] == "pending":
            variant["vars_file"] = os.path.join(sweep_dir, "variants", variant["name"] + ".vars.json")
            if not module.check_mode:
                with open(variant["vars_file"], "w", encoding="utf-8") as handle:
                    json.dump(variant_play_vars(variant, name, params["runs_dir"]), handle, indent=2)
    module.exit_json(changed=not module.check_mode and any(v["state"] == "pending" for v in planned),
                     sweep_id=sweep, sweep_dir=sweep_dir, variants=planned, objective=objective)


if __name__ == "__main__":
    main()
