"""Fixtures for the ``llmlog demo`` tests: isolation, and ``llmlog`` run as a separate process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment, run_command, run_llmlog


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
