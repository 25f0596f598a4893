"""A trace file reader and a real OTLP/HTTP traces receiver (the fake provider's, shared by every
test tree) for the tests (as fixtures: test modules cannot import each other).

LiteLLM reads its model cost map from the network at import unless told to use its bundled
copy: the tests use the bundled one (no network, no delay)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from llmlog_fake_provider.pytest_fixtures import receiver

__all__ = ["read_trace", "receiver"]

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class Trace:
    """The events of one ``dspy``-format trace file: spans by id, the ``llm_call`` events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = [json.loads(x) for x in path.read_text().splitlines()]
        self.starts = {
            r["span_id"]: r
            for r in self.records
            if r["type"] == "span" and r["data"]["event"] == "start"
        }
        self.ends = {
            r["span_id"]: r
            for r in self.records
            if r["type"] == "span" and r["data"]["event"] == "end"
        }
        self.calls = [r for r in self.records if r["type"] == "llm_call"]

    def name(self, span_id: str | None) -> str | None:
        return self.starts[span_id]["data"]["operation"] if span_id in self.starts else None

    def parent(self, span_id: str) -> str | None:
        return self.starts[span_id].get("parent_id")

    def spans(self, operation: str) -> list[str]:
        return [s for s, r in self.starts.items() if r["data"]["operation"] == operation]

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
