"""A trace file reader and a real OTLP/HTTP traces receiver (the fake provider's, shared by every
test tree) for the tests (as fixtures: test modules cannot import each other).

LiteLLM reads its model cost map from the network at import unless told to use its bundled
copy: the tests use the bundled one (no network, no delay)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from llmlog.testing import TraceFile
from llmlog_fake_provider.pytest_fixtures import receiver

__all__ = ["read_trace", "receiver"]

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class Trace(TraceFile):
    """The events of one ``dspy``-format trace file: spans by id, the ``llm_call`` events."""

    def lm_spans(self) -> list[str]:
        return [s for s, r in self.starts.items() if r["data"]["operation"].startswith("LM:")]

    def call(self, span_id: str) -> dict[str, Any]:
        (found,) = [r["data"] for r in self.calls if r["span_id"] == span_id]
        return found

    def errors(self, span_id: str) -> list[dict[str, Any]]:
        return [r["data"] for r in self.records if r["type"] == "error" and r["span_id"] == span_id]


@pytest.fixture
def read_trace() -> type[Trace]:
    """:class:`Trace`, the reader of a dspy-format trace file."""
    return Trace
