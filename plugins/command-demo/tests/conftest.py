"""Fixtures for the ``llmlog demo`` tests: isolation, and ``llmlog`` run as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment

#: The installed ``llmlog`` command, beside this interpreter (``.venv/bin/llmlog``).
LLMLOG = Path(sys.executable).with_name("llmlog")


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


@pytest.fixture
def sh() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`run` as a fixture (test modules cannot import conftest in importlib mode)."""
    return run


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The installed ``llmlog`` command, run with :func:`run`."""

    def llmlog_cli(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run([str(LLMLOG), *args], env=env, cwd=cwd)

    return llmlog_cli
