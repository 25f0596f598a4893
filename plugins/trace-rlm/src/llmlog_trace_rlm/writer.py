"""Writing RLM files: the trace-format writer and dspy-go's ``RLMTraceSession`` API."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import attrs

from llmlog.config.converter import Bytes, FileMode
from llmlog.context import get_current
from llmlog.filesink import TraceOutput, file_in
from llmlog.records import TokenUsage, TraceEvent, TraceEventType
from llmlog.render import escape_json_bytes, rfc3339_nano
from llmlog.sanitize import Sanitizer
from llmlog.serialize import serializer
from llmlog.tracing import ModuleInfo, TraceSession, new_span_id, tracing_interceptor
from llmlog_trace_rlm.builder import IterationBuilder, answer_text, sub_call
from llmlog_trace_rlm.model import CodeBlock, Iteration, Metadata, messages_of

__all__ = [
    "RlmOptions",
    "RlmSessionConfig",
    "RlmTraceSession",
    "RlmTraceWriter",
    "new_rlm_trace_session",
    "tracing_interceptor_with_rlm",
]

_SESSION = TraceEventType.SESSION
_METADATA_KEYS = frozenset(
    {
        "root_model",
        "max_depth",
        "max_iterations",
        "backend",
        "backend_kwargs",
        "environment_type",
        "environment_kwargs",
        "other_backends",
        "context",
        "query",
    }
)


@attrs.frozen(kw_only=True)
class RlmOptions:
    """Options of the ``rlm`` trace format."""

    #: Bytes to buffer before writing; 0 writes every line at once (what the live viewers expect).
    buffer_size: Bytes = 0
    #: Permission bits of new trace files.
    mode: FileMode = 0o600
    #: ``never``, ``flush`` or ``always``.
    fsync: Literal["never", "flush", "always"] = "never"
    #: Longest line written, in bytes: the Go viewers fail on a line over 10 MiB, so longer
    #: iterations get their longest strings cut (with a truncation marker) until they fit.
    max_line_bytes: Bytes = attrs.field(default=8 << 20, validator=attrs.validators.ge(4096))
    #: Characters of the run's context kept in the metadata line (dspy-go kept 500 bytes).
    context_chars: int = attrs.field(default=500, validator=attrs.validators.ge(0))


def _identity(line: bytes) -> bytes:
    return line


class RlmTraceWriter:
    """Writes one run as an RLM file: the metadata line, then one line per iteration.

    Fed :class:`~llmlog.TraceEvent` s by a :class:`~llmlog.TraceSession` (see
    :mod:`llmlog_trace_rlm.builder` for how events become iterations), or iterations directly
    through :meth:`log_iteration`. The metadata line is written before the first iteration, so the
    root model and backend default to those of the first LLM call.

    :param path: the file, or an existing directory to create ``rlm_YYYY-MM-DD_HH-MM-SS_<8 hex>.jsonl`` in.
    """

    def __init__(self, path: str | os.PathLike[str], options: RlmOptions | None = None) -> None:
        opts = options or RlmOptions()
        target = file_in(path, "rlm")  # rlm_YYYY-MM-DD_HH-MM-SS_<8 hex>.jsonl, as rlm names them
        self._options = opts
        self.metadata = Metadata(timestamp=rfc3339_nano(time.time_ns()))
        self._metadata_written = False
        self.builder = IterationBuilder(self._write_iteration)
        self.output = TraceOutput(
            target, _identity, buffer_size=opts.buffer_size, mode=opts.mode, fsync=opts.fsync
        )

    @property
    def path(self) -> Path:
        """The RLM file."""
        return self.output.path

    # -- the TraceWriter protocol ---------------------------------------------------------------

    def write(self, event: TraceEvent) -> None:
        """Take one event of the session (the session event fills the metadata)."""
        if event.type is _SESSION:
            self._session(event)
        else:
            self.builder.add(event)

    def flush(self) -> None:
        """Write buffered lines out (an iteration still open stays open)."""
        self.output.flush()

    def close(self) -> None:
        """Complete the open iteration, write the metadata line if nothing else was, and close."""
        self.builder.complete()
        self._ensure_metadata()
        self.output.close()

    # -- direct writing ---------------------------------------------------------------------------

    def log_iteration(self, iteration: Iteration) -> None:
        """Write ``iteration`` now, after completing any iteration built from events; it gets the
        next number."""
        self.builder.complete()
        self.builder.number += 1
        iteration.iteration = self.builder.number
        if not iteration.timestamp:
            iteration.timestamp = rfc3339_nano(time.time_ns())
        self._write_iteration(iteration)

    # -- internals --------------------------------------------------------------------------------

    def _session(self, event: TraceEvent) -> None:
        data = event.data
        meta = self.metadata
        meta.timestamp = rfc3339_nano(event.time)
        for key, value in data.items():
            if key in _METADATA_KEYS:
                self._set_metadata(key, value)
            elif key != "start_time":  # other session metadata is kept with the environment
                meta.environment_kwargs[key] = value

    def _set_metadata(self, key: str, value: Any) -> None:
        meta = self.metadata
        if key in ("max_depth", "max_iterations"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(meta, key, int(value))
        elif key in ("backend_kwargs", "environment_kwargs"):
            if isinstance(value, Mapping):
                setattr(meta, key, dict(value))
        elif key == "other_backends":
            meta.other_backends = [str(v) for v in value] if isinstance(value, list) else None
        elif key == "context":
            text = str(value or "")
            limit = self._options.context_chars
            meta.context = text if len(text) <= limit else text[:limit] + "..."
        else:
            setattr(meta, key, str(value or ""))

    def _ensure_metadata(self) -> None:
        if self._metadata_written:
            return
        self._metadata_written = True
        meta = self.metadata
        if meta.root_model == "unknown" and self.builder.first_model:
            meta.root_model = self.builder.first_model
        if meta.backend == "unknown" and self.builder.first_provider:
            meta.backend = self.builder.first_provider
        self.output.write(self._line(meta.to_json()))

    def _write_iteration(self, iteration: Iteration) -> None:
        self._ensure_metadata()
        self.output.write(self._line(iteration.to_json()))

    def _line(self, record: dict[str, Any]) -> bytes:
        line = serializer.dumps(record)
        limit = self._options.max_line_bytes
        cap = 1 << 20
        while len(line) > limit and cap >= 64:
            # Cut every long string a little more each round until the line fits.
            line = serializer.dumps(Sanitizer(redact=False, max_string_length=cap).fields(record))
            cap //= 4
        return line if line.isascii() and b"\x7f" not in line else escape_json_bytes(line)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@attrs.frozen(kw_only=True)
class RlmSessionConfig:
    """dspy-go's ``RLMSessionConfig``: what the metadata line says about the run."""

    root_model: str = "unknown"
    max_iterations: int | None = None
    backend: str = "unknown"
    backend_kwargs: dict[str, Any] = attrs.Factory(dict)
    context: str = ""
    query: str = ""


class RlmTraceSession(TraceSession):
    """dspy-go's ``RLMTraceSession``: a trace session writing the ``rlm`` format.

    It is a full :class:`~llmlog.TraceSession` (spans, ``emit_*``, context manager), so anything
    traced while it is current becomes iterations, plus the seed's direct methods
    :meth:`log_iteration`, :meth:`log_llm_call` and ``path`` (``Path()``). Secrets are redacted and long strings capped
    like in any session.
    """

    writer: RlmTraceWriter

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        config: RlmSessionConfig | Mapping[str, Any] | None = None,
        *,
        options: RlmOptions | None = None,
        content: bool = True,
        sanitizer: Sanitizer | None = None,
    ) -> None:
        directory = Path(log_dir)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        super().__init__(
            RlmTraceWriter(directory, options),
            get_current().trace_id,
            sanitizer=sanitizer,
            content=content,
        )
        metadata = attrs.asdict(config) if isinstance(config, RlmSessionConfig) else config
        self.emit_session(dict(metadata or {}))

    def log_iteration(
        self,
        prompt: Any,
        response: str,
        code_blocks: Sequence[CodeBlock | Mapping[str, Any]] = (),
        final_answer: Any = None,
        iteration_time: float | timedelta = 0.0,
    ) -> None:
        """dspy-go's ``LogIteration``: write one iteration as given (numbered by the session).

        :param code_blocks: :class:`CodeBlock` s, or mappings with ``code``, ``stdout``, ``stderr``,
            ``locals``, ``execution_time`` and ``rlm_calls`` (call mappings with ``prompt``,
            ``response``, ``prompt_tokens``, ``completion_tokens``, ``execution_time``).
        """
        blocks = [_block(b) for b in code_blocks]
        if not self._content:
            prompt, response = "", ""
            for block in blocks:
                block.code = block.stdout = block.stderr = ""
                block.locals = {}
        clean = self._clean({"prompt": prompt, "response": response})
        text = self._sanitizer.text
        cleaned_blocks = [
            attrs.evolve(
                b,
                code=text(b.code),
                stdout=text(b.stdout),
                stderr=text(b.stderr),
                locals=dict(self._clean(b.locals)),
            )
            for b in blocks
        ]
        iteration = Iteration(
            prompt=messages_of(clean.get("prompt", "")),
            response=str(clean.get("response", "")),
            code_blocks=cleaned_blocks,
            final_answer=answer_text(final_answer),
            iteration_time=_seconds(iteration_time),
        )
        self._locked(lambda: self.writer.log_iteration(iteration))

    def log_llm_call(
        self,
        prompt: str,
        response: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency: float | timedelta,
        *,
        model: str = "",
        provider: str = "",
        cost: float | None = None,
    ) -> None:
        """dspy-go's ``LogLLMCall``: one LLM call as an iteration of its own, written now, with
        its real tokens (dspy-go dropped them). ``latency`` in seconds or a ``timedelta``."""
        span_id = get_current().span_id or new_span_id()
        self.emit_llm_call(
            span_id,
            provider,
            model,
            prompt,
            response,
            TokenUsage(int(prompt_tokens), int(completion_tokens), cost=cost),
            int(_seconds(latency) * 1000),
        )
        self._locked(self.writer.builder.complete)

    def _locked(self, action: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                action()
            except Exception as exc:  # like every trace call: reported, never raised
                self.failures += 1
                if self.failures == 1:
                    from llmlog.dispatch import report_problem

                    report_problem(f"rlm trace {self.path}: writing failed: {exc}")


def _block(raw: CodeBlock | Mapping[str, Any]) -> CodeBlock:
    if isinstance(raw, CodeBlock):
        return raw
    result = raw.get("result") if isinstance(raw.get("result"), Mapping) else raw
    assert isinstance(result, Mapping)
    calls = result.get("rlm_calls") or []
    locals_ = result.get("locals")
    return CodeBlock(
        code=str(raw.get("code") or ""),
        stdout=str(result.get("stdout") or ""),
        stderr=str(result.get("stderr") or ""),
        locals=dict(locals_) if isinstance(locals_, Mapping) else {},
        execution_time=float(result.get("execution_time") or 0.0),
        calls=[sub_call(c) for c in calls if isinstance(c, Mapping)],
        final_answer=answer_text(result.get("final_answer")),
    )


def new_rlm_trace_session(
    log_dir: str | os.PathLike[str], config: RlmSessionConfig | Mapping[str, Any] | None = None
) -> RlmTraceSession:
    """dspy-go's ``NewRLMTraceSession``: a new ``rlm_*.jsonl`` file in ``log_dir``."""
    return RlmTraceSession(log_dir, config)


Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def tracing_interceptor_with_rlm(
    session: RlmTraceSession,
) -> Callable[[Mapping[str, Any], ModuleInfo, Handler], Mapping[str, Any]]:
    """dspy-go's ``TracingInterceptorWithRLM``, with real parents and real tokens.

    Each module call runs as a span of ``session`` (so nested modules keep their parents, and LLM
    calls traced inside become iterations with their tokens). A module that traced no LLM call is
    written as one iteration, as dspy-go did, with prompt from ``inputs["prompt"]`` or
    ``inputs["query"]``, response from ``outputs["response"]`` or ``outputs["answer"]``, and the
    tokens from ``outputs["usage"]`` (``prompt_tokens``/``completion_tokens``) when the module
    reports them.
    """
    inner = tracing_interceptor()

    def intercept(
        inputs: Mapping[str, Any], info: ModuleInfo, handler: Handler
    ) -> Mapping[str, Any]:
        from llmlog.context import with_trace_session

        started = time.perf_counter()
        outcome: dict[str, Any] = {}

        def run(values: Mapping[str, Any]) -> Mapping[str, Any]:
            outputs = handler(values)
            outcome["outputs"] = outputs
            span_id = get_current().span_id
            # Counted before the span ends (its tally is dropped then).
            outcome["calls"] = session.subtree_usage(span_id)[0] if span_id else 0
            return outputs

        with with_trace_session(session):
            result = inner(inputs, info, run)
        if outcome.get("calls") == 0:
            outputs = outcome.get("outputs") or {}
            usage = outputs.get("usage") if isinstance(outputs.get("usage"), Mapping) else {}
            assert isinstance(usage, Mapping)
            session.log_llm_call(
                str(inputs.get("prompt", inputs.get("query", ""))),
                str(outputs.get("response", outputs.get("answer", ""))),
                int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0),
                time.perf_counter() - started,
                model=info.module_name,
                provider=info.module_type,
            )
        return result

    return intercept
