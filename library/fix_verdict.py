#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fix_verdict
short_description: Judge a fix by comparing the variant run that applied it with its baseline
description:
  - Reads the analyses of a baseline run and of its variant (the same profile with a fix's variables)
    from the controller's run records, and judges the fix with the comparison of C(stallscope compare)
    as C(fixed), C(improved), C(no change), C(worse) or C(variant failed) (rules in docs/analysis.md).
  - The variant failed when one of its jobs (a component that is not a service) has no exit code or
    a non-zero one in the collected logs, or when it has no analysis.
  - The variant failed too when its jobs were stopped before they ended (O(hung)).
  - Writes C(fix_verdict.md) and C(fix_verdict.json) in the variant's run record, and C(compare.html)
    (the comparison's page, as C(stallscope compare) draws it) when the variant has an analysis and
    Bokeh, the C(report) extra, is installed. A fix that did not
    help is a verdict, not a failure; unreadable records are.
version_added: "0.1.0"
author:
  - stallscope contributors
options:
  baseline_dir:
    description: The baseline's run record on the controller (C(runs/<run id>)), with C(analysis/report.json).
    type: path
    required: true
  variant_dir:
    description: The variant's run record (C(runs/<run id>)), with C(launch/*.json), the collected logs and C(analysis/).
    type: path
    required: true
  fix:
    description: The fix tried, as M(fix_plan) returns it (name, description, vars, finding).
    type: dict
    required: true
  hung:
    description: Why the variant's jobs were stopped before they ended (still running after the wait), or empty.
    type: str
    default: ""
  thresholds:
    description: Threshold overrides, with C(success_criteria), as for M(log_diagnosis).
    type: dict
attributes:
  check_mode:
    support: full
    description: Judges without writing the verdict files.
"""

EXAMPLES = r"""
- name: Judge the fix
  fix_verdict:
    baseline_dir: runs/20261203-072722
    variant_dir: runs/20261203-072722-fix-dedicated-admin-client
    fix: "{{ plan.fix }}"
  register: verdict
"""

RETURN = r"""
verdict:
  description: One of fixed, improved, no change, worse, variant failed.
  returned: always
  type: str
  sample: fixed
reason:
  description: What decided the verdict, and the criteria that could not be judged.
  returned: always
  type: str
decided_by:
  description: Before and after of the figures that decided (the finding's judged figure, the criteria).
  returned: always
  type: list
  elements: dict
markdown:
  description: The verdict as Markdown (what fix_verdict.md holds).
  returned: always
  type: str
path:
  description: The verdict's Markdown file, when written.
  returned: when written
  type: str
html_path:
  description: The comparison's page (compare.html in the variant's run record), when written.
  returned: when written
  type: str
html_missing:
  description: Why compare.html was not written and how to get it (Bokeh, the C(report) extra, is not installed).
  returned: when Bokeh is missing
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.stallscope.engine.compare import load_report
from ansible.module_utils.stallscope.engine.errors import InputError
from ansible.module_utils.stallscope.engine.fix_verdict import fix_verdict, fix_verdict_markdown
from ansible.module_utils.stallscope.report_html import page_written, write_compare_html
from ansible.module_utils.stallscope.sweep import job_failure


def main():
    module = AnsibleModule(
        argument_spec=dict(
            baseline_dir=dict(type="path", required=True),
            variant_dir=dict(type="path", required=True),
            fix=dict(type="dict", required=True),
            hung=dict(type="str", default=""),
            thresholds=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    baseline_dir, variant_dir, fix = params["baseline_dir"], params["variant_dir"], params["fix"]
    try:
        before = load_report(os.path.join(baseline_dir, "analysis", "report.json"))
        failure = "; ".join(reason for reason in (params["hung"], job_failure(variant_dir)) if reason) or None
        variant_report = os.path.join(variant_dir, "analysis", "report.json")
        after = load_report(variant_report) if os.path.isfile(variant_report) else None
        result = fix_verdict(before, after, fix["finding"], params["thresholds"], failure)
    except (InputError, OSError, ValueError, KeyError) as err:
        module.fail_json(msg="cannot judge the fix from %s and %s: %s" % (baseline_dir, variant_dir, err))
    markdown = fix_verdict_markdown(result, fix, os.path.basename(baseline_dir), os.path.basename(variant_dir))
    out = dict(changed=False, verdict=result["verdict"], reason=result["reason"], decided_by=result["decided_by"],
               markdown=markdown)
    if not module.check_mode:
        path = os.path.join(variant_dir, "fix_verdict.md")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(markdown)
        with open(os.path.join(variant_dir, "fix_verdict.json"), "w", encoding="utf-8") as handle:
            json.dump(dict(result, fix=fix), handle, indent=2, allow_nan=False)
        out.update(changed=True, path=path)
        if result["comparison"] is not None:
            try:
                out.update(page_written(write_compare_html, result["comparison"], before, after,
                                        (os.path.basename(baseline_dir), os.path.basename(variant_dir)),
                                        os.path.join(variant_dir, "compare.html")))
            except OSError as err:
                module.fail_json(msg="could not write compare.html in %s: %s" % (variant_dir, err), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
