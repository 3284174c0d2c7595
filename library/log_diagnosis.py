#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: log_diagnosis
short_description: Diagnose where an ML pipeline stalls from its logs
description:
  - Runs the stallscope analysis engine over log files and directories on the host the module runs on
    and returns the diagnosis, its severity, the findings and the metrics.
  - On the controller after a collect it also writes the report files (SUMMARY.md, report.json, the
    statistics and timeline files, and report.html when Bokeh, the C(report) extra, is installed)
    with O(out_dir).
  - On a remote host (for a live status) it reads the logs where they are; nothing is transferred. The
    engine is shipped with the module as module_utils, so the host needs only Python.
  - Which file is the orchestrator's, the inference server's or the trainer's is recognised from the
    lines, not from file names.
version_added: "0.1.0"
author:
  - stallscope contributors
options:
  paths:
    description: Log files and directories (searched recursively) to analyse. One of O(paths) and O(merge_states) is required.
    type: list
    elements: path
  out_dir:
    description:
      - Directory to write the report files to. It must not exist or be empty, unless O(force=true).
      - Without it nothing is written.
    type: path
  force:
    description: Write into O(out_dir) even when it holds an earlier report.
    type: bool
    default: false
  thresholds:
    description:
      - Overrides of the threshold table, shaped like the engine's default table (metric name to
        warning/critical limits, and C(success_criteria) for the compare criteria and the warm-up
        steps of the run-level throughput). Expected ranges depend on model size.
    type: dict
  async_level:
    description:
      - The run's async_level, for the staleness finding. Without it, the value in a run manifest found
        beside the logs is used.
    type: int
  state_dir:
    description:
      - Directory keeping the analysis' partial state (C(state.sqlite)) between calls. The analysis resumes
        from it, reading only what the logs gained since, and saves it; a rotated, truncated or replaced log
        is recognised by its fingerprint and read again. States of several hosts can be merged with
        O(merge_states).
      - In check mode the state is read but not saved.
    type: path
  jobs:
    description:
      - Worker processes reading the log files. Default the host's cores (the module runs where the logs
        are, so a host analyses its own logs with its own cores).
    type: int
  merge_states:
    description:
      - Directories of saved partial states (each holding C(state.sqlite), e.g. fetched from each host) to
        analyse merged, as one run, instead of O(paths).
    type: list
    elements: path
  fail_on_no_lines:
    description:
      - Fail when the logs are readable but hold no recognised line. Set to false for a live status early
        in a run, when the components may not have logged anything yet.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The analysis runs; the report files are not written.
notes:
  - The C(stallscope analyze) command runs the same engine; its exit codes 2 (unreadable input) and 3 (no
    recognised line) are this module's failures, with the same messages. See docs/analysis.md.
"""

EXAMPLES = r"""
- name: Diagnose the collected logs of a run on the controller
  log_diagnosis:
    paths:
      - "{{ playbook_dir }}/../runs/{{ run_id }}"
    out_dir: "{{ playbook_dir }}/../runs/{{ run_id }}/analysis"
  delegate_to: localhost
  run_once: true
  register: diagnosis

- name: Diagnose a running experiment from its logs on the host so far
  log_diagnosis:
    paths: ["{{ run_dir }}/logs"]
    state_dir: "{{ run_dir }}/analysis_state"
    fail_on_no_lines: false
  register: live

- name: Diagnose the run across hosts from the states fetched from each host
  log_diagnosis:
    merge_states:
      - "{{ playbook_dir }}/../runs/{{ run_id }}/trainer-host/analysis_state"
      - "{{ playbook_dir }}/../runs/{{ run_id }}/infer-host/analysis_state"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
diagnosis:
  description: Id of the most severe finding, C(healthy) when nothing is warning or critical, null when no line was recognised.
  returned: always
  type: str
  sample: frontend_queue_saturation
severity:
  description: Severity of the diagnosis (critical, warning, info, or ok when healthy).
  returned: always
  type: str
  sample: critical
findings:
  description: Every finding, each with id, severity, summary, evidence and recommendation.
  returned: always
  type: list
  elements: dict
metrics:
  description: Statistics per metric (count, mean, stddev, min, p50, p90, p95, p99, max).
  returned: always
  type: dict
  sample: {"queue_ms": {"count": 12, "p50": 2310.4, "p95": 8123.0}}
updates:
  description: Weight update counts (complete, incomplete).
  returned: always
  type: dict
inputs:
  description: Per file read, its path, bytes, lines, recognised and malformed line counts.
  returned: always
  type: list
  elements: dict
summary_path:
  description: Path of SUMMARY.md, when O(out_dir) was given and not in check mode.
  returned: when written
  type: str
report_path:
  description: Path of report.json, when O(out_dir) was given and not in check mode.
  returned: when written
  type: str
html_path:
  description: Path of report.html (timeline, distributions, diagnosis), when O(out_dir) was given, not in check mode.
  returned: when written
  type: str
html_missing:
  description: Why report.html was not written and how to get it (Bokeh, the C(report) extra, is not installed).
  returned: when O(out_dir) was given and Bokeh is missing
  type: str
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.stallscope.engine import analyze, analyze_states, write_outputs
from ansible.module_utils.stallscope.engine.errors import EngineError, NoRecognisedLines
from ansible.module_utils.stallscope.report_html import page_written, write_report_html


def _scratch_copy(state_dir):
    """A temporary copy of a state directory's state (check mode resumes from it, saves nothing)."""
    scratch = tempfile.mkdtemp(prefix="stallscope-state-")
    state = os.path.join(state_dir, "state.sqlite")
    if os.path.isfile(state):
        shutil.copy(state, scratch)
    return scratch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path"),
            state_dir=dict(type="path"),
            merge_states=dict(type="list", elements="path"),
            jobs=dict(type="int"),
            out_dir=dict(type="path"),
            force=dict(type="bool", default=False),
            thresholds=dict(type="dict"),
            async_level=dict(type="int"),
            fail_on_no_lines=dict(type="bool", default=True),
        ),
        required_one_of=[("paths", "merge_states")],
        mutually_exclusive=[("paths", "merge_states"), ("state_dir", "merge_states")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["merge_states"]:
            report = analyze_states(params["merge_states"], thresholds=params["thresholds"], async_level=params["async_level"],
                                    timeline=bool(params["out_dir"]))
        else:
            state_dir = params["state_dir"]
            scratch = _scratch_copy(state_dir) if state_dir and module.check_mode else None
            try:
                report = analyze(params["paths"], thresholds=params["thresholds"], async_level=params["async_level"],
                                 state_dir=scratch or state_dir, jobs=params["jobs"], timeline=bool(params["out_dir"]))
            finally:
                if scratch:
                    shutil.rmtree(scratch, ignore_errors=True)
    except NoRecognisedLines as err:
        if params["fail_on_no_lines"]:
            module.fail_json(msg=str(err))
        module.exit_json(changed=False, diagnosis=None, severity=None, findings=[], metrics={}, updates={},
                         inputs=[], msg=str(err))
    except (EngineError, ValueError) as err:
        module.fail_json(msg=str(err))
    except OSError as err:  # a file that vanished or could not be read mid-run
        module.fail_json(msg="%s: %s" % (err.filename or "reading the logs", err.strerror or err))

    result = dict(
        changed=False,
        diagnosis=report["diagnosis"],
        severity=report["severity"],
        findings=report["findings"],
        metrics=report["metrics"],
        updates=report["updates"],
        inputs=report["inputs"],
    )
    out_dir = params["out_dir"]
    if out_dir:
        if os.path.isdir(out_dir) and os.listdir(out_dir) and not params["force"]:
            module.fail_json(msg="%s already holds a report; pass force=true to replace it" % out_dir, **result)
        result["changed"] = True
        if not module.check_mode:
            try:
                write_outputs(report, out_dir)
            except OSError as err:
                module.fail_json(msg="could not write the report to %s: %s" % (out_dir, err), **result)
            result["summary_path"] = os.path.join(out_dir, "SUMMARY.md")
            result["report_path"] = os.path.join(out_dir, "report.json")
            try:
                result.update(page_written(write_report_html, report, out_dir))
            except OSError as err:
                module.fail_json(msg="could not write report.html to %s: %s" % (out_dir, err), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
