"""``llmlog mcp``: an MCP server (the official ``mcp`` SDK, stdio transport) over the runs of the
configured directories. Each tool is a method of :class:`llmlog_server_mcp.runs.Library` and
answers with the JSON text of an ``llmlog.view/1`` document (docs/mcp.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from llmlog_server_mcp.runs import Library

__all__ = ["INSTRUCTIONS", "build_server"]

INSTRUCTIONS = (
    "Read-only access to local LLM traces (DSPy, RLM and other llmlog trace formats), "
    "flight-recorder snapshots and llmlog JSON logs. Start with list_runs; pass the path it "
    "returns to show_trace, stats, errors, search or diff; show_span gives one span's full "
    "content. Every answer is JSON of schema llmlog.view/1: items, summary, total, "
    "next_offset (page with offset), truncated when an answer was cut. Content is redacted."
)


def _answering(fn: Callable[..., str]) -> Callable[..., str]:
    """``fn`` whose refusals (a path outside, a file that cannot be read: ``ValueError``, whose
    message names the path or ``file:line``) reach the client as the tool's error text; the SDK
    hides the message of any other exception."""

    @functools.wraps(fn)
    def answer(*args: Any, **kwargs: Any) -> str:
        try:
            return fn(*args, **kwargs)
        except (ValueError, OSError) as exc:
            raise ToolError(str(exc)) from None

    return answer


def build_server(library: Library) -> Any:
    """The MCP server whose tools read ``library``."""
    from llmlog import __version__

    server = MCPServer("llmlog", instructions=INSTRUCTIONS, version=__version__)
    # Every tool reads local files only: no write, no network.
    readonly = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def tool(fn: Callable[..., str]) -> Callable[..., str]:
        answer = _answering(fn)
        server.tool(annotations=readonly)(answer)
        return answer

    @tool
    def list_runs(search: str = "", limit: int = 100, offset: int = 0) -> str:
        """The traces, flight-recorder snapshots and JSON logs in the configured directories,
        newest first (path, kind, size, modified). search: only those whose path or kind
        mentions it."""
        return library.list_runs(search, limit, offset)

    @tool
    def show_trace(path: str, limit: int = 200, offset: int = 0, no_content: bool = False) -> str:
        """The spans, LLM calls, tool calls and errors of one run, parents first (trace_id,
        span_id, parent, name, kind, depth, model, timing, status, error, tokens, cost, prompt,
        response, input, output). no_content: numbers only."""
        return library.show_trace(path, limit, offset, no_content)

    @tool
    def show_span(path: str, span_id: str) -> str:
        """One span (or LLM call: ids like SPAN#1) of a run with its full content and the ids
        of its children."""
        return library.show_span(path, span_id)

    @tool
    def search(text: str, path: str = "", limit: int = 100, offset: int = 0) -> str:
        """The spans that mention text (case-insensitive) in one run (path) or in every run."""
        return library.search(text, path, limit, offset)

    @tool
    def stats(path: str) -> str:
        """Per model: calls, input/output/cached/reasoning tokens, cost (and calls of unknown
        cost), errors, p50/p95 latency; the run's totals as summary."""
        return library.stats(path)

    @tool
    def errors(path: str, limit: int = 100, offset: int = 0) -> str:
        """The spans, calls and tool calls of one run that failed, with their errors."""
        return library.errors(path, limit, offset)

    @tool
    def diff(a: str, b: str, all_spans: bool = False, limit: int = 100, offset: int = 0) -> str:
        """Two runs compared span by span: changed, added and removed spans with prompt and
        output line diffs and token/cost/latency on each side; both runs' totals as summary.
        all_spans: unchanged spans too."""
        return library.diff(a, b, all_spans, limit, offset)

    return server
