"""The ``[trace]`` table of ``llmlog.toml``: where and how trace sessions write by default."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import platformdirs

from llmlog.config.converter import Bytes

__all__ = ["SamplingOptions", "TraceOptions", "default_trace_dir"]


def default_trace_dir() -> Path:
    """``traces`` in the platform's user log directory (``~/.local/state/llmlog/log/traces`` on
    Linux)."""
    return platformdirs.user_log_path("llmlog", appauthor=False) / "traces"


def _fraction(instance: object, attribute: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be from 0 to 1, got {value}")


def _non_negative(instance: object, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def _positive(instance: object, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be more than 0, got {value}")


def _thresholds(instance: object, attribute: Any, value: Mapping[str, float]) -> None:
    for pattern, limit in value.items():
        if limit < 0:
            raise ValueError(f"{pattern!r}: must be 0 or more, got {limit}")


@attrs.frozen(kw_only=True)
class SamplingOptions:
    """A tail-sampling policy (``[trace.sampling]``, ``[integrations.otlp.sampling]``).

    A trace is kept in full when any rule matches; a rule left at its default is off. Otherwise
    it is kept when its id falls in ``ratio``; else dropped or summed up (``not_kept``).
    """

    #: Sample: hold each trace until its root span ends and keep only what the rules select.
    enabled: bool = False
    #: Keep every trace with an error anywhere in it (an ``error`` event, a span ended with an
    #: error, a failed tool call or module).
    errors: bool = True
    #: Keep a trace whose root span took at least this many milliseconds (0: off).
    min_duration_ms: int = attrs.field(default=0, validator=_non_negative)
    #: Keep a trace with a span slower than a threshold, by span name pattern (``fnmatch``):
    #: ``{"retrieve*" = 2000}`` (milliseconds).
    slow_spans: dict[str, int] = attrs.field(factory=dict, validator=_thresholds)
    #: Keep a trace whose LLM calls cost at least this many USD in total (0: off).
    min_cost: float = attrs.field(default=0.0, validator=_non_negative)
    #: Keep a trace whose LLM calls used at least this many tokens in total (0: off).
    min_tokens: int = attrs.field(default=0, validator=_non_negative)
    #: Keep a trace with a span whose name matches one of these patterns (``fnmatch``).
    span_names: list[str] = attrs.Factory(list)
    #: Keep a trace in which an event has one of these keys (in its data, or its inputs or
    #: outputs) with a value matching the pattern (``fnmatch`` on the value as text):
    #: ``{"model" = "gpt-4o*", "tenant" = "acme"}``.
    attributes: dict[str, str] = attrs.Factory(dict)
    #: Of the traces no rule keeps, the share kept all the same (0 to 1), by trace id.
    ratio: float = attrs.field(default=0.0, validator=_fraction)
    #: What becomes of a trace not kept: ``summary`` writes one line (root name, duration,
    #: tokens, cost, status) where the sink has lines to write (trace files); ``drop`` nothing.
    not_kept: Literal["summary", "drop"] = "summary"
    #: Traces held at most; past it the oldest is decided early.
    max_open_traces: int = attrs.field(default=10_000, validator=_positive)
    #: Bytes held at most (an estimate: text by length plus a fixed cost per event); past it the
    #: oldest traces are decided early.
    max_bytes: Bytes = attrs.field(default=64 << 20, validator=_positive)


@attrs.frozen(kw_only=True)
class TraceOptions:
    """Options of the ``[trace]`` table (``format`` is read separately: a name or a table with
    ``type`` and the format's options)."""

    #: Directory of the trace files that sessions opened without a path create (each a new,
    #: timestamped file); relative to the configuration file's directory. Default: ``traces`` in
    #: the platformdirs user log directory.
    dir: str = ""
    #: Keep prompts, responses, inputs, outputs and code; ``false`` keeps only structure, tokens,
    #: cost and latency.
    content: bool = True
    #: Tail sampling of the traces written to trace files (``[trace.sampling]``): keep the
    #: traces that failed, were slow or costly in full, a head-sampled share of the rest, and a
    #: summary line of the others. See ``docs/sampling.md``.
    sampling: SamplingOptions = attrs.Factory(SamplingOptions)
