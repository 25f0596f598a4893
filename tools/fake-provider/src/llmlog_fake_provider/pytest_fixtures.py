"""pytest fixtures shared by the test trees: a test tree's ``conftest.py`` imports the ones it
uses (``from llmlog_fake_provider.pytest_fixtures import receiver``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmlog_fake_provider.otlp import Receiver

__all__ = ["receiver"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real OTLP/HTTP receiver on 127.0.0.1 (:class:`~llmlog_fake_provider.otlp.Receiver`),
    stopped after the test."""
    found = Receiver()
    yield found
    found.close()
