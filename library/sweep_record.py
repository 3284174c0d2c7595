#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sweep_record
short_description: Record how a sweep's variant went, and write the sweep's summary
description:
  - With O(variant), records its outcome in C(variants/<name>.json) of the sweep's directory, from the
    results of the plays that ran it (launch, wait, stop, collect), and keeps each play's output in
    C(variants/<name>/<play>.log). A variant whose launch failed, whose jobs crashed or were still
    running after the timeout (hung), or that has no analysis is recorded as failed with the reason,
    a result and not a failure of this module.
  - Then writes the sweep's summary (C(summary.md), C(summary.json)), one row per recorded variant with
    its variables, diagnosis, severity, the objective and the key metrics' p50/p95 (the N-way table
    of C(stallscope compare)), the best by the objective marked; and C(sweep.html) when Bokeh, the
    C(report) extra, is installed.
  - Rules and files in docs/sweeps.md.
version_added: "0.1.0"
author:
  - stallscope contributors
options:
  sweep_dir:
    description: The sweep's directory (the C(sweep_dir) M(sweep_plan) returns), with C(sweep.json).
    type: path
    required: true
  runs_dir:
    description: The controller's run records (C(runs/)).
    type: path
    required: true
  variant:
    description: A variant as M(sweep_plan) returns it (name, vars, run_id) whose outcome to record; omit to write the summary only.
    type: dict
  plays:
    description:
      - The registered results of the variant's plays (C(ansible-playbook) run with M(ansible.builtin.command)),
        by step (C(launch), C(wait), C(stop), C(collect)). A skipped step did not run.
    type: dict
    default: {}
  wait_timeout:
    description: The seconds the wait for the variant's jobs lasted at most (for the reason of a hung variant).
    type: int
    default: 900
  objective:
    description: The profile's objective (metric, better), which ranks the variants.
    type: dict
  thresholds:
    description: Threshold overrides, with C(success_criteria), as for M(log_diagnosis).
    type: dict
attributes:
  check_mode:
    support: full
    description: Computes the summary without writing anything.
"""

EXAMPLES = r"""
- name: Record the variant and write the summary
  sweep_record:
    sweep_dir: "{{ plan.sweep_dir }}"
    runs_dir: runs
    variant: "{{ item }}"
    plays: {launch: "{{ launched }}", wait: "{{ waited }}", stop: "{{ stopped }}", collect: "{{ collected }}"}
    objective: "{{ plan.objective }}"
"""

RETURN = r"""
record:
  description: The variant's record (name, vars, run_id, failed (the reason, or null), plays' exit codes).
  returned: when O(variant) is given
  type: dict
markdown:
  description: The summary as Markdown (what summary.md holds).
  returned: always
  type: str
best:
  description: The best variant by the objective, or null.
  returned: always
  type: str
summary_path:
  description: summary.md, when written.
  returned: when written
  type: str
html_path:
  description: sweep.html (objective and key figures per variant), when written.
  returned: when written
  type: str
html_missing:
  description: Why sweep.html was not written and how to get it (Bokeh, the C(report) extra, is not installed).
  returned: when Bokeh is missing
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.stallscope.engine.errors import InputError
from ansible.module_utils.stallscope.report_html import page_written, write_sweep_html
from ansible.module_utils.stallscope.sweep import PLAYS, play_failure, record_variant, summary


def ran(results):
    """{step: {rc, msg}} of the steps that ran, their outputs kept in `logs` {step: text}."""
    plays, logs = {}, {}
    for step in PLAYS:
        result = results.get(step)
        if not isinstance(result, dict) or result.get("skipped") or "rc" not in result:
            continue
        output = (result.get("stdout") or "") + "\n" + (result.get("stderr") or "")
        plays[step] = {"rc": result["rc"], "msg": play_failure(output) if result["rc"] else None}
        logs[step] = output
    return plays, logs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sweep_dir=dict(type="path", required=True),
            runs_dir=dict(type="path", required=True),
            variant=dict(type="dict"),
            plays=dict(type="dict", default={}),
            wait_timeout=dict(type="int", default=900),
            objective=dict(type="dict"),
            thresholds=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    sweep_dir, runs_dir, variant = params["sweep_dir"], params["runs_dir"], params["variant"]
    out = dict(changed=False)
    try:
        if variant is not None and not module.check_mode:
            plays, logs = ran(params["plays"])
            logs_dir = os.path.join(sweep_dir, "variants", variant["name"])
            os.makedirs(logs_dir, exist_ok=True)
            for step, text in logs.items():
                with open(os.path.join(logs_dir, step + ".log"), "w", encoding="utf-8") as handle:
                    handle.write(text)
            out["record"] = record_variant(sweep_dir, os.path.join(runs_dir, variant["run_id"]), variant, plays,
                                           params["wait_timeout"])
            out["changed"] = True
        if module.check_mode and not os.path.isfile(os.path.join(sweep_dir, "sweep.json")):
            module.exit_json(markdown="", best=None, **out)  # a sweep planned in check mode: nothing recorded
        result, markdown = summary(sweep_dir, runs_dir, params["objective"], params["thresholds"],
                                         write=not module.check_mode)
    except (InputError, OSError, ValueError, KeyError) as err:
        module.fail_json(msg="cannot record the sweep in %s: %s" % (sweep_dir, err), **out)
    out.update(markdown=markdown, best=result["best"])
    if not module.check_mode:
        out.update(changed=True, summary_path=os.path.join(sweep_dir, "summary.md"))
        try:
            out.update(page_written(write_sweep_html, result, os.path.join(sweep_dir, "sweep.html")))
        except OSError as err:
            module.fail_json(msg="could not write sweep.html in %s: %s" % (sweep_dir, err), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
