#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fix_plan
short_description: Choose the fix to try for a run's diagnosis, from the run's profile
description:
  - Checks the C(fixes) and C(objective) sections of a workload profile (docs/profiles.md) and picks
    the fix for a baseline run's diagnosis, its first fix unless O(fix) names one, with the run id of
    the variant that applies it.
  - A healthy baseline, or a diagnosis the profile has no fix for, is not an error; RV(fix) is then
    null and RV(reason) says why, so that nothing is run.
  - Runs on the controller; reads and changes nothing on disk.
version_added: "0.1.0"
author:
  - stallscope contributors
options:
  profile:
    description: The profile as data (profiles/<name>.yml read with a file lookup and from_yaml).
    type: dict
    required: true
  diagnosis:
    description: The baseline's diagnosis (report.json C(diagnosis)), e.g. C(frontend_queue_saturation) or C(healthy).
    type: str
    required: true
  fix:
    description: The name of the fix to try whatever the diagnosis; empty for the diagnosis' first fix.
    type: str
    default: ""
  baseline_run_id:
    description: The baseline's run id; the variant's id is derived from it and the fix's name.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description: Reads its arguments only; it never changes anything.
"""

EXAMPLES = r"""
- name: Choose the fix for the baseline's diagnosis
  fix_plan:
    profile: "{{ lookup('ansible.builtin.file', 'profiles/simrl.yml') | from_yaml }}"
    diagnosis: frontend_queue_saturation
    baseline_run_id: 20261203-072722
  register: plan
"""

RETURN = r"""
fix:
  description: The fix to try (name, description, vars, and the finding it targets), or null when there is none.
  returned: always
  type: dict
  sample: {"name": "dedicated-admin-client", "finding": "frontend_queue_saturation", "vars": {"admin_client": "dedicated"},
           "description": "Send weight updates through their own HTTP client ..."}
variant_run_id:
  description: The run id of the variant (the baseline's id and the fix's name), or null when there is no fix.
  returned: always
  type: str
  sample: 20261203-072722-fix-dedicated-admin-client
reason:
  description: Why there is nothing to run, or null.
  returned: always
  type: str
  sample: "the baseline is healthy: there is nothing to fix"
objective:
  description: The profile's objective (metric and better), or null.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.stallscope.engine.errors import InputError
from ansible.module_utils.stallscope.fixes import choose_fix, profile_fixes, variant_run_id


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="dict", required=True),
            diagnosis=dict(type="str", required=True),
            fix=dict(type="str", default=""),
            baseline_run_id=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        objective = profile_fixes(params["profile"])["objective"]
        fix, reason = choose_fix(params["profile"], params["diagnosis"], params["fix"] or None)
    except InputError as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=False, fix=fix, reason=reason, objective=objective,
                     variant_run_id=variant_run_id(params["baseline_run_id"], fix["name"]) if fix else None)


if __name__ == "__main__":
    main()
