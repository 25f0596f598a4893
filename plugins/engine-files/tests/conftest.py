"""Fixtures for the file machinery's tests: isolation, a tiny real filesystem for fault tests, and
an unprivileged user for permission tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted for the test (root only); skips where mounting is not allowed."""
    target = tmp_path / "tiny"
    if os.geteuid() != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the injected-fault test covers this")
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(target)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the injected-fault test covers this")
    yield target
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def unprivileged() -> list[str]:
    """The command prefix that runs a command as an unprivileged user, for tests of permissions
    (root reads and writes any file); empty when not root. Skips where privileges cannot be
    dropped."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop privileges")
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # The unprivileged user must be able to read this checkout and its environment: a clone in a
    # private directory (`mktemp -d` makes it 0700) is out of its reach.
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import llmlog"], capture_output=True, timeout=60
    )
    if probe.returncode != 0:
        pytest.skip("the unprivileged user cannot read this checkout (a private directory)")
    return prefix
