"""System tools some tests run (swaks, Dovecot, Chromium, PHP, Postfix's smtp-sink): a test
that needs one skips, with the apt-get line that installs it, when it is missing."""

from __future__ import annotations

import os
import shutil

import pytest


def needs_tool(name: str, install: str) -> str:
    """The path of ``name`` (a command on PATH, or an absolute path); when it is missing,
    skip the calling test naming ``install`` (e.g. ``"apt-get install swaks"``), or fail it
    when ``WPBRIDGE_NO_SKIPS`` is set (as CI does: there every tool must be installed)."""
    if os.path.isabs(name):
        found = name if os.access(name, os.X_OK) else None
    else:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found:
        return found
    reason = f"{os.path.basename(name)} is not installed ({install})"
    if os.environ.get("WPBRIDGE_NO_SKIPS"):
        pytest.fail(f"{reason}; WPBRIDGE_NO_SKIPS is set, so a missing tool fails the run")
    pytest.skip(reason)
