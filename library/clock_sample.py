#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: clock_sample
short_description: Read a host's wall clock and monotonic clock at the same instant
description:
  - Returns the host's wall-clock time and its C(time.monotonic()) value read back to back.
  - Instrumented logs stamp events with C(t=) values from the monotonic clock, which are comparable only
    within one host. Sampling both clocks on every host, bracketed by the controller's own clock, gives
    each host's monotonic-to-wall mapping and its offset from the controller, so that events from
    several hosts can be put on one timeline.
version_added: "0.1.0"
author:
  - stallscope contributors
options: {}
attributes:
  check_mode:
    support: full
    description: Reads clocks only; it never changes anything.
"""

EXAMPLES = r"""
- name: Sample the host's clocks
  clock_sample:
  register: host_clock
"""

RETURN = r"""
wall_time:
  description: Seconds since the epoch on the host (C(time.time())).
  returned: always
  type: float
  sample: 1795432096.123456
monotonic_time:
  description: The host's C(time.monotonic()) read right after O(wall_time).
  returned: always
  type: float
  sample: 81234.567891
wall_minus_monotonic:
  description: wall_time - monotonic_time, the value to add to a C(t=) from this host to get wall-clock time.
  returned: always
  type: float
  sample: 1795350861.555565
"""

import time

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    wall = time.time()
    mono = time.monotonic()
    module.exit_json(changed=False, wall_time=wall, monotonic_time=mono, wall_minus_monotonic=wall - mono)


if __name__ == "__main__":
    main()
