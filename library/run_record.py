#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)
"""Ansible module: write a run's manifests as JSON files in one directory, and point a link at the run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_record
short_description: Write a run's manifests as JSON files, and point a link at the run
description:
  - Writes each document of O(manifests) to C(<directory>/<name>.json) as indented JSON with a final
    newline, atomically (a temporary file in the same directory, then a rename), so that a reader never
    sees half a manifest. Missing directories are created with O(directory_mode). A file that already
    holds the same text is left alone.
  - With O(link), points the symbolic link O(link) at O(link_target), replacing an existing link (never
    a file or a directory).
  - One task for what would otherwise take a directory task, a copy per manifest and a link task, each
    a round trip to the host (docs/performance.md, launch overhead).
version_added: "0.2.0"
author:
  - stallscope contributors
options:
  directory:
    description: The directory the manifests are written in (created when missing, with its parents).
    type: path
    required: true
  manifests:
    description:
      - Name to document (any JSON-serialisable data), written as C(<name>.json).
      - A name is letters, digits, V(.), V(_) and V(-), not starting with V(.) (inventory host names are).
    type: dict
    required: true
  mode:
    description: Permissions of the manifest files.
    type: raw
    default: "0640"
  directory_mode:
    description: Permissions of the directories this module creates (existing ones are left as they are).
    type: raw
    default: "0750"
  link:
    description: A symbolic link to point at O(link_target) (e.g. C(runs/latest)).
    type: path
  link_target:
    description: What O(link) points at, as written in the link (relative to the link's directory, or absolute).
    type: str
attributes:
  check_mode:
    support: full
    description: Reports which files and link it would write; writes nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Write this host's run manifest next to the logs.
  run_record:
    directory: /home/ubuntu/stallscope-runs/run42
    manifests:
      run_manifest: "{{ manifest }}"

- name: Keep each host's manifest in the controller's record, and point runs/latest at the run.
  run_record:
    directory: runs/run42/launch
    manifests: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'manifest'))) }}"
    link: runs/latest
    link_target: run42
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
written:
  description: The files written (or, in check mode, that would be), in O(manifests)'s order.
  returned: always
  type: list
  elements: str
  sample: [/home/ubuntu/stallscope-runs/run42/run_manifest.json]
link_changed:
  description: Whether O(link) was created or pointed elsewhere.
  returned: when O(link) is given
  type: bool
"""

import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


def octal(module, key):
    value = module.params[key]
    try:
        return int(value, 8) if isinstance(value, str) else int(value)
    except ValueError:
        module.fail_json(msg="%s: %r is not an octal mode (e.g. '0640')" % (key, value))


def make_directories(path, mode):
    """Creates `path` and its missing parents with `mode` (makedirs would apply the umask)."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        os.mkdir(directory)
        os.chmod(directory, mode)


def write_atomically(path, text, mode):
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix="." + os.path.basename(path))
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def current_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directory=dict(type="path", required=True),
            manifests=dict(type="dict", required=True),
            mode=dict(type="raw", default="0640"),
            directory_mode=dict(type="raw", default="0750"),
            link=dict(type="path"),
            link_target=dict(type="str"),
        ),
        required_together=[("link", "link_target")],
        supports_check_mode=True,
    )
    params = module.params
    mode, directory_mode = octal(module, "mode"), octal(module, "directory_mode")
    for name in params["manifests"]:
        if not NAME_PATTERN.match(name):
            module.fail_json(msg="manifests: %r cannot be a file name: use letters, digits, '.', '_' or '-', "
                                 "not starting with '.'" % name)
    directory = params["directory"]
    if os.path.exists(directory) and not os.path.isdir(directory):
        module.fail_json(msg="directory %s exists and is not a directory" % directory)
    result = {"changed": False, "written": []}
    try:
        for name, document in params["manifests"].items():
            path = os.path.join(directory, name + ".json")
            text = json.dumps(document, indent=4, sort_keys=True) + "\n"
            if current_text(path) == text:
                continue
            result["written"].append(path)
            if not module.check_mode:
                make_directories(directory, directory_mode)
                write_atomically(path, text, mode)
        if params["link"]:
            link = params["link"]
            if os.path.lexists(link) and not os.path.islink(link):
                module.fail_json(msg="link %s exists and is not a symbolic link; move it away" % link)
            result["link_changed"] = not os.path.islink(link) or os.readlink(link) != params["link_target"]
            if result["link_changed"] and not module.check_mode:
                # A new link renamed over the old one: the link is never missing.
                temporary = os.path.join(os.path.dirname(link) or ".", ".%s.%d" % (os.path.basename(link), os.getpid()))
                os.symlink(params["link_target"], temporary)
                os.replace(temporary, link)
    except OSError as error:
        module.fail_json(msg="cannot write %s: %s" % (error.filename or directory, error.strerror or error), **result)
    result["changed"] = bool(result["written"]) or result.get("link_changed", False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
