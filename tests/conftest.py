"""Cross-package tests: the distributions together, installed as a user installs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment, run_command, run_llmlog

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


@pytest.fixture
def sh():
    """:func:`llmlog.testing.run_command` as a fixture (test modules cannot import conftest in
    importlib mode)."""
    return run_command


@pytest.fixture
def cli():
    """:func:`llmlog.testing.run_llmlog`: the installed ``llmlog`` command in its own process."""
    return run_llmlog


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


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
