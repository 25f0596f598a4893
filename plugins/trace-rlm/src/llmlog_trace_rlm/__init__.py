"""llmlog's ``rlm`` trace format: RLM trajectory files, written, read and shown.

An RLM file is a ``metadata`` line followed by one ``iteration`` line per model turn: the prompt
and response, the code blocks the model ran with their output and sub-LLM calls, and the final
answer. llmlog writes the subset that the rlm web visualizer, the rlm-go viewer and ``dspy-cli
view`` all read without dropping a line, and reads the variants that Python rlm, rlm-go and
dspy-go write. Any traced program writes it by setting ``[trace] format = "rlm"``: iterations are
built from the session's events (:mod:`llmlog_trace_rlm.builder`), one per LLM call outside code,
and one per root span that made no LLM call (its inputs as the prompt, its outputs as the response
and final answer), so a run that traces no LLM call still writes a file every reader shows.
Numbers are written in the range every reader decodes (:mod:`llmlog_trace_rlm.model`).
"""

from llmlog_trace_rlm.builder import IterationBuilder
from llmlog_trace_rlm.model import CodeBlock, Iteration, Metadata, SubCall
from llmlog_trace_rlm.reader import RlmReadError, RlmRun, iter_rlm, read_rlm, to_events
from llmlog_trace_rlm.writer import (
    RlmOptions,
    RlmSessionConfig,
    RlmTraceSession,
    RlmTraceWriter,
    new_rlm_trace_session,
    tracing_interceptor_with_rlm,
)

__all__ = [
    "CodeBlock",
    "Iteration",
    "IterationBuilder",
    "Metadata",
    "RlmOptions",
    "RlmReadError",
    "RlmRun",
    "RlmSessionConfig",
    "RlmTraceSession",
    "RlmTraceWriter",
    "SubCall",
    "iter_rlm",
    "new_rlm_trace_session",
    "read_rlm",
    "to_events",
    "tracing_interceptor_with_rlm",
]
