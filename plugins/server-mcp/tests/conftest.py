"""Fixtures of the MCP server tests: isolation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path
