"""Fixtures for the file output tests: isolation, and a directory no one can create files in."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


def _mount(target: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can create files in: a read-only tmpfs as root, else chmod 0o500."""
    target = tmp_path / "ro"
    if _mount(target, "size=64k,ro"):
        yield target
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
    else:
        target.mkdir()
        target.chmod(0o500)
        yield target
        target.chmod(0o700)
