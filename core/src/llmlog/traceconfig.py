"""The ``[trace]`` table of ``llmlog.toml``: where and how trace sessions write by default."""

from __future__ import annotations

from pathlib import Path

import attrs
import platformdirs

from llmlog.sampling import SamplingOptions

__all__ = ["TraceOptions", "default_trace_dir"]


def default_trace_dir() -> Path:
    """``traces`` in the platform's user log directory (``~/.local/state/llmlog/log/traces`` on
    Linux)."""
    return platformdirs.user_log_path("llmlog", appauthor=False) / "traces"


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
