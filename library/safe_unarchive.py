#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: safe_unarchive
short_description: Unpack a collected log archive with member-path checks, never losing an earlier collection
description:
  - Unpacks a C(.tar.zst), C(.tar.gz) or plain C(.tar) archive into O(dest) on the host the module runs on
    (the controller, after a collect).
  - Every member is checked before anything is written. Absolute names, C(..) components, links, devices
    and FIFOs are refused, so nothing can land outside O(dest).
  - The archive is unpacked into a sibling temporary directory first and renamed into place, so a failed
    or interrupted unpack never leaves a half-written O(dest).
  - An existing O(dest) is never overwritten silently. With O(on_existing=snapshot) it is moved to
    O(snapshot_dir)/<UTC timestamp>/ first; with O(on_existing=replace) it is removed; with
    O(on_existing=fail) the module fails.
  - The compression is recognised from the archive's first bytes, not its name. Zstandard needs the
    C(zstd) command or the C(zstandard) Python package.
version_added: "0.1.0"
author:
  - stallscope contributors
options:
  src:
    description: Path of the archive to unpack.
    type: path
    required: true
  dest:
    description: Directory to create with the archive's contents. Its parent must exist.
    type: path
    required: true
  on_existing:
    description: What to do when O(dest) already exists.
    type: str
    choices: [snapshot, replace, fail]
    default: snapshot
  snapshot_dir:
    description:
      - Where an existing O(dest) is moved to when O(on_existing=snapshot).
      - Defaults to a C(snapshots) directory beside O(dest).
    type: path
  sha256:
    description: Expected SHA-256 of O(src). The module fails before unpacking when it differs.
    type: str
attributes:
  check_mode:
    support: full
    description: Checks the archive's members and reports what would be done, writing nothing.
notes:
  - Only regular files and directories are unpacked; file modes are kept without set-uid, set-gid or
    sticky bits and ownership is not restored.
"""

EXAMPLES = r"""
- name: Unpack the logs collected from a host
  safe_unarchive:
    src: "{{ playbook_dir }}/../runs/{{ run_id }}/.incoming/{{ inventory_hostname }}.tar.zst"
    dest: "{{ playbook_dir }}/../runs/{{ run_id }}/{{ inventory_hostname }}"
    sha256: "{{ archive_stat.stat.checksum }}"
  delegate_to: localhost

- name: Replace an earlier collection explicitly
  safe_unarchive:
    src: /tmp/host1.tar.gz
    dest: /srv/runs/exp1/host1
    on_existing: replace
"""

RETURN = r"""
dest:
  description: The directory that now holds the archive's contents.
  returned: always
  type: str
  sample: /home/me/stallscope/runs/20261123T101500Z/gpu1
members:
  description: Number of files and directories in the archive.
  returned: always
  type: int
  sample: 7
bytes:
  description: Total size of the regular files in the archive.
  returned: always
  type: int
  sample: 10485760
compression:
  description: The compression recognised from the archive's first bytes.
  returned: always
  type: str
  sample: zstd
snapshot:
  description: Where the previous contents of O(dest) were moved, or null when nothing was moved.
  returned: always
  type: str
  sample: /home/me/stallscope/runs/20261123T101500Z/snapshots/20261123T103000Z/gpu1
"""

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class ArchiveError(Exception):
    """A problem with the archive that a person can act on."""


def sniff_compression(path):
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return "none"


def open_tar_stream(path, compression):
    """Returns (tarfile in stream mode, cleanup callable)."""
    if compression != "zstd":
        mode = "r|gz" if compression == "gzip" else "r|"
        return tarfile.open(path, mode), (lambda: None)
    try:
        import zstandard  # optional: faster than a subprocess, not required
    except ImportError:
        zstd_bin = shutil.which("zstd")
        if zstd_bin is None:
            raise ArchiveError(
                "%s is zstd-compressed but neither the zstd command nor the zstandard Python package "
                "is installed here; install zstd (apt-get install zstd) or collect with gzip" % path
            )
        proc = subprocess.Popen([zstd_bin, "-dcq", "--", path], stdout=subprocess.PIPE)

        def finish():
            # tarfile stops at the end-of-archive blocks; read the padding zstd still writes after
            # them, or SIGPIPE kills it and a sound archive looks corrupt (exit -13).
            while proc.stdout.read(1 << 16):
                pass
            proc.stdout.close()
            if proc.wait() != 0:
                raise ArchiveError("zstd could not decompress %s (exit %d)" % (path, proc.returncode))

        return tarfile.open(fileobj=proc.stdout, mode="r|"), finish
    raw = open(path, "rb")
    reader = zstandard.ZstdDecompressor().stream_reader(raw)
    return tarfile.open(fileobj=reader, mode="r|"), raw.close


def check_member(member):
    """Raises ArchiveError for a member that could write outside the target or is not plain data."""
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or os.path.isabs(name):
        raise ArchiveError("member %r has an absolute path" % name)
    if ".." in parts:
        raise ArchiveError("member %r climbs out of the target with '..'" % name)
    if not (member.isfile() or member.isdir()):
        raise ArchiveError("member %r is not a regular file or directory (links and devices are refused)" % name)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(path, compression):
    """Checks every member without writing; returns (members, bytes)."""
    archive, finish = open_tar_stream(path, compression)
    members = size = 0
    try:
        for member in archive:
            check_member(member)
            members += 1
            size += member.size if member.isfile() else 0
    finally:
        archive.close()
        finish()
    return members, size


def extract(path, compression, target):
    archive, finish = open_tar_stream(path, compression)
    try:
        for member in archive:
            check_member(member)
            # The 'data' filter repeats the path checks and strips special mode bits.
            archive.extract(member, target, filter="data")
    finally:
        archive.close()
        finish()


def utc_stamp():
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            on_existing=dict(type="str", default="snapshot", choices=["snapshot", "replace", "fail"]),
            snapshot_dir=dict(type="path"),
            sha256=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    src = module.params["src"]
    dest = os.path.normpath(module.params["dest"])
    parent = os.path.dirname(dest)
    result = dict(changed=False, dest=dest, snapshot=None)

    if not os.path.isfile(src):
        module.fail_json(msg="archive %s does not exist or is not a file" % src, **result)
    if not os.path.isdir(parent):
        module.fail_json(msg="the parent of dest, %s, does not exist; create it first" % parent, **result)
    expected = module.params["sha256"]
    if expected:
        actual = sha256_of(src)
        if actual != expected.lower():
            module.fail_json(
                msg="checksum mismatch for %s: expected sha256 %s, got %s; collect again" % (src, expected, actual),
                **result
            )

    try:
        compression = sniff_compression(src)
        result["compression"] = compression
        result["members"], result["bytes"] = scan(src, compression)
    except (ArchiveError, tarfile.TarError, EOFError, OSError) as err:
        module.fail_json(msg="refusing to unpack %s: %s" % (src, err), **result)

    exists = os.path.lexists(dest)
    if exists and module.params["on_existing"] == "fail":
        module.fail_json(msg="%s already exists; pass on_existing=snapshot or replace" % dest, **result)

    snapshot_root = module.params["snapshot_dir"] or os.path.join(parent, "snapshots")
    snapshot = os.path.join(snapshot_root, utc_stamp(), os.path.basename(dest)) if exists else None
    result["changed"] = True
    if module.params["on_existing"] == "snapshot":
        result["snapshot"] = snapshot
    if module.check_mode:
        module.exit_json(**result)

    staging = tempfile.mkdtemp(prefix=".%s.partial-" % os.path.basename(dest), dir=parent)
    try:
        extract(src, compression, staging)
    except (ArchiveError, tarfile.TarError, EOFError, OSError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        module.fail_json(msg="could not unpack %s: %s; nothing was changed" % (src, err), **result)
    os.chmod(staging, 0o755)

    if exists:
        if module.params["on_existing"] == "snapshot":
            os.makedirs(os.path.dirname(snapshot), exist_ok=True)
            os.rename(dest, snapshot)
        else:
            shutil.rmtree(dest)
    os.rename(staging, dest)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
