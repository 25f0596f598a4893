"""Fixtures of the exporter's tests: a real OTLP/HTTP receiver on 127.0.0.1 that decodes the
protobuf requests (traces and logs), the fake provider's, shared by every test tree; and a dead
collector, where every connection is refused."""

from collections.abc import Iterator

import pytest

from llmlog_exporter_otlp.testing import faulty_collector
from llmlog_fake_provider.pytest_fixtures import receiver

__all__ = ["dead", "receiver"]


@pytest.fixture
def dead() -> Iterator[str]:
    """A collector's base URL where every connection is refused, for the whole test (the port
    stays bound: no other server takes it meanwhile)."""
    with faulty_collector("dead") as base:
        yield base
