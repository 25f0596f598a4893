"""Cross-package tests: the distributions together, installed as a user installs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


def run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a command with this interpreter's environment plus ``env``; capture text output."""
    full_env = {**os.environ, "PYTHONUTF8": "1", **(env or {})}
    done = subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{args} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done


def llmlog_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``llmlog`` command."""
    return run([str(Path(sys.executable).with_name("llmlog")), *args], env=env, cwd=cwd)


@pytest.fixture
def sh():
    """:func:`run` as a fixture (test modules cannot import conftest in importlib mode)."""
    return run


@pytest.fixture
def cli():
    """:func:`llmlog_cli` as a fixture."""
    return llmlog_cli


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
