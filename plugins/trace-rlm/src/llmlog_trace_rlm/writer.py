"""Writing RLM files: the trace-format writer and dspy-go's ``RLMTraceSession`` API."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import attrs

from llmlog.ext import (
    Bytes,
    FileMode,
    ModuleInfo,
    Sanitizer,
    TokenUsage,
    TraceEvent,
    TraceEventType,
    TraceSession,
    escape,
    escape_json_bytes,
    get_current,
    make_private_dirs,
    new_span_id,
    report_problem,
    rfc3339_nano,
    serializer,
    tracing_interceptor,
)
from llmlog_engine_files import TraceOutput, file_in
from llmlog_trace_rlm.builder import IterationBuilder, clamp_ns, sub_call
from llmlog_trace_rlm.model import (
    MAX_INT,
    CodeBlock,
    Iteration,
    Metadata,
    answer_of,
    count,
    messages_of,
    plain_text,
    seconds,
)

__all__ = [
    "RlmOptions",
    "RlmSessionConfig",
    "RlmTraceSession",
    "RlmTraceWriter",
    "encode_line",
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


def _cutter(cap: int) -> Sanitizer:
    """Cuts every string of a record to ``cap`` characters and nothing else: no redaction (the
    session redacted already) and no limit on how many values it looks at (a wide record keeps
    every key; only its strings get shorter)."""
    return Sanitizer(redact=False, max_string_length=cap, max_values=sys.maxsize)


class RlmTraceWriter:
    """Writes one run as an RLM file: the metadata line, then one line per iteration.

    Fed :class:`~llmlog.TraceEvent` s by a :class:`~llmlog.TraceSession` (see
    :mod:`llmlog_trace_rlm.builder` for how events become iterations), or iterations directly
    through :meth:`log_iteration`. The metadata line is written before the first iteration, so the
    root model and backend default to those of the first LLM call.

    Every line is one that each RLM reader decodes: a number out of their range is written in
    range (see :mod:`llmlog_trace_rlm.model`), the first time reported on stderr, and every time
    counted in :attr:`clamped`.

    :param path: the file, or an existing directory to create ``rlm_YYYY-MM-DD_HH-MM-SS_<8 hex>.jsonl`` in.
    """

    def __init__(self, path: str | os.PathLike[str], options: RlmOptions | None = None) -> None:
        opts = options or RlmOptions()
        target = file_in(path, "rlm")  # rlm_YYYY-MM-DD_HH-MM-SS_<8 hex>.jsonl, as rlm names them
        self._options = opts
        self.metadata = Metadata(timestamp=rfc3339_nano(time.time_ns()))
        self._metadata_written = False
        self._described: set[str] = set()  # metadata keys the run has set
        #: Numbers written in range because no RLM reader decodes what was given.
        self.clamped = 0
        #: Lines written without their contents, too long even with every string cut.
        self.oversized = 0
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
            # Tail sampling's summary lines ("sampling" key) have no place in an RLM file.
            if "sampling" not in event.data:
                self._session(event)
        else:
            self.builder.add(event)

    def flush(self) -> None:
        """Write buffered lines out (an iteration still open stays open)."""
        self.output.flush()

    def close(self) -> None:
        """Complete the open iteration (and write any root span still open that made no LLM call
        as one), write the metadata line if nothing else was, and close."""
        self.builder.finish(time.time_ns())
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

    def describe_run(self, metadata: Mapping[str, Any]) -> None:
        """Metadata learnt after the session opened (a DSPy ``RLM`` module's ``max_iters`` when
        the session was opened by an enclosing program): the keys of the session event
        (``max_iterations``, ``query``, ...), each taken unless the run already set it, and only
        while the metadata line is not yet written. Safe to call from any thread."""
        if self._metadata_written:
            return
        for key, value in metadata.items():
            if key in _METADATA_KEYS and key not in self._described and value is not None:
                self._set_metadata(key, value)

    def note_clamped(self, notes: list[str]) -> None:
        """Count numbers written in range; report the first time (``notes``: ``field=value``)."""
        if not notes:
            return
        self.clamped += len(notes)
        if self.clamped == len(notes):
            report_problem(
                f"rlm trace {escape(str(self.path))}: numbers no RLM reader decodes were written "
                f"in range ({escape(', '.join(notes[:3]))}); "
                "further ones are counted (RlmTraceWriter.clamped), not reported"
            )

    # -- internals --------------------------------------------------------------------------------

    def _session(self, event: TraceEvent) -> None:
        data = event.data
        meta = self.metadata
        meta.timestamp = rfc3339_nano(clamp_ns(event.time))
        if isinstance(event.trace_id, str):
            meta.trace_id = event.trace_id
        for key, value in data.items():
            if key in _METADATA_KEYS:
                self._set_metadata(key, value)
            elif key != "start_time":  # other session metadata is kept with the environment
                meta.environment_kwargs[key] = value

    def _set_metadata(self, key: str, value: Any) -> None:
        meta = self.metadata
        if key in ("max_depth", "max_iterations"):
            # Kept as given: the line's encoding brings it in range and reports it.
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(meta, key, value)
            else:
                return
        elif key in ("backend_kwargs", "environment_kwargs"):
            if not isinstance(value, Mapping):
                return
            setattr(meta, key, dict(value))
        elif key == "other_backends":
            meta.other_backends = (
                [plain_text(v) for v in value] if isinstance(value, list) else None
            )
        elif key == "context":
            text = plain_text(value)
            limit = self._options.context_chars
            meta.context = text if len(text) <= limit else text[:limit] + "..."
        else:
            setattr(meta, key, plain_text(value))
        self._described.add(key)

    def _ensure_metadata(self) -> None:
        if self._metadata_written:
            return
        self._metadata_written = True
        meta = self.metadata
        if meta.root_model == "unknown" and self.builder.first_model:
            meta.root_model = self.builder.first_model
        if meta.backend == "unknown" and self.builder.first_provider:
            meta.backend = self.builder.first_provider
        notes: list[str] = []
        line = self._line(meta.to_json(notes))
        self.note_clamped(notes)
        self.output.write(line)

    def _write_iteration(self, iteration: Iteration) -> None:
        self._ensure_metadata()
        notes: list[str] = []
        line = self._line(iteration.to_json(notes))
        self.note_clamped(notes)
        self.output.write(line)

    def _line(self, record: dict[str, Any]) -> bytes:
        line = encode_line(record)
        limit = self._options.max_line_bytes
        cap = 1 << 20
        while len(line) > limit and cap >= 64:
            # Cut every long string a little more each round until the line fits.
            line = encode_line(_cutter(cap).fields(record))
            cap //= 4
        if len(line) > limit:  # many small values: keep the line's shape, say what was left out
            size = len(line)
            cut = _cutter(64).fields(record)
            line = encode_line(_skeleton(cut, size))
            self.oversized += 1
            if self.oversized == 1:
                report_problem(
                    f"rlm trace {escape(str(self.path))}: a line of {size} bytes passed "
                    f"max_line_bytes ({limit}) even with its strings cut; written without its "
                    "contents (further ones are counted: RlmTraceWriter.oversized)"
                )
        return line


def encode_line(record: Mapping[str, Any]) -> bytes:
    """One RLM line as the writer encodes it (no newline): compact JSON, text outside ASCII as
    ``\\u`` escapes (so no reader meets a raw control or bidi character)."""
    line = serializer.dumps(record)
    return line if line.isascii() and 0x7F not in line else escape_json_bytes(line)


def _skeleton(record: Mapping[str, Any], size: int) -> dict[str, Any]:
    """``record`` (its strings cut) with its arrays and objects emptied but the final answer, so
    that the line keeps the shape every reader needs."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "root_call":
            continue
        if isinstance(value, dict):
            out[key] = {}
        elif isinstance(value, list):
            out[key] = value if key == "final_answer" else []
        else:
            out[key] = value
    if out.get("type") == "iteration":
        out["response"] = f"…[{size} bytes not written: the line passed max_line_bytes]"
    return out


def _seconds(value: Any) -> Any:
    """Seconds from a number or a ``timedelta``; anything else as given (the line's encoding
    writes what is not a number of seconds as 0, and reports it)."""
    return value.total_seconds() if isinstance(value, timedelta) else value


@attrs.frozen(kw_only=True)
class RlmSessionConfig:
    """dspy-go's ``RLMSessionConfig``: what the metadata line says about the run."""

    root_model: str = "unknown"
    #: 0 when unknown (the Go readers need an integer).
    max_iterations: int = 0
    backend: str = "unknown"
    backend_kwargs: dict[str, Any] = attrs.Factory(dict)
    context: str = ""
    query: str = ""


class RlmTraceSession(TraceSession):
    """dspy-go's ``RLMTraceSession``: a trace session writing the ``rlm`` format.

    It is a full :class:`~llmlog.TraceSession` (spans, ``emit_*``, context manager), so anything
    traced while it is current becomes iterations, plus the seed's direct methods
    :meth:`log_iteration`, :meth:`log_llm_call` and ``path`` (``Path()``). Secrets are redacted and long strings capped
    like in any session. Like every trace call, these never raise: a value that cannot be written
    as given (a ``NaN`` latency, a token count past 2^53) is written in range and reported once.
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
        make_private_dirs(directory)
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
        :param final_answer: a string, a ``[variable, value]`` pair (kept as a pair), or what the
            program returned (its answer is taken, see :func:`~llmlog_trace_rlm.model.answer_of`).
        """

        def build() -> Iteration:
            blocks = [_block(b) for b in code_blocks]
            content = self._content
            clean = self._clean({"prompt": prompt if content else "", "response": response})
            text = self._sanitizer.text
            cleaned_blocks = [
                attrs.evolve(
                    b,
                    code=text(plain_text(b.code)) if content else "",
                    stdout=text(plain_text(b.stdout)) if content else "",
                    stderr=text(plain_text(b.stderr)) if content else "",
                    locals=dict(self._clean(b.locals)) if content else {},
                )
                for b in blocks
            ]
            return Iteration(
                prompt=messages_of(clean.get("prompt", "")),
                response=plain_text(clean.get("response", "")) if content else "",
                code_blocks=cleaned_blocks,
                final_answer=answer_of(final_answer),
                iteration_time=_seconds(iteration_time),
            )

        self._locked(lambda: self.writer.log_iteration(build()))

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
        its real tokens (dspy-go dropped them). ``latency`` in seconds or a ``timedelta``.

        Token counts are written from 0 to 2^53 - 1 and a latency that is not a finite number
        of seconds as 0, the first such change reported."""
        notes: list[str] = []
        try:
            known = isinstance(cost, int | float) and not isinstance(cost, bool)
            if cost is not None and not (known and math.isfinite(cost)):
                notes.append(f"cost={cost!r:.40}")
                cost = None
            usage = TokenUsage(
                count(prompt_tokens, "prompt_tokens", notes),
                count(completion_tokens, "completion_tokens", notes),
                cost=cost,
            )
            elapsed = seconds(_seconds(latency), "latency", notes)
            span_id = get_current().span_id or new_span_id()
            self.emit_llm_call(
                span_id,
                plain_text(provider),
                plain_text(model),
                plain_text(prompt),
                plain_text(response),
                usage,
                min(round(elapsed * 1000), MAX_INT),
            )
        except Exception as exc:  # like every trace call: reported, never raised
            with self._lock:
                self._report(exc)
            return

        def done() -> None:
            self.writer.note_clamped(notes)
            self.writer.builder.complete()

        self._locked(done)

    def _locked(self, action: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                action()
            except Exception as exc:  # like every trace call: reported, never raised
                self._report(exc)

    def _report(self, exc: Exception) -> None:
        self.failures += 1
        if self.failures == 1:
            report_problem(
                f"rlm trace {escape(str(self.path))}: writing failed: "
                f"{type(exc).__name__}: {escape(str(exc))}"
            )


def _block(raw: Any) -> CodeBlock:
    if isinstance(raw, CodeBlock):
        return raw
    if not isinstance(raw, Mapping):
        return CodeBlock(code=plain_text(raw))
    result = raw.get("result")
    if not isinstance(result, Mapping):
        result = raw
    calls = result.get("rlm_calls")
    locals_ = result.get("locals")
    return CodeBlock(
        code=plain_text(raw.get("code")),
        stdout=plain_text(result.get("stdout")),
        stderr=plain_text(result.get("stderr")),
        locals=dict(locals_) if isinstance(locals_, Mapping) else {},
        execution_time=_seconds(result.get("execution_time") or 0.0),
        calls=[sub_call(c) for c in calls if isinstance(c, Mapping)]
        if isinstance(calls, list | tuple)
        else [],
        final_answer=answer_of(result.get("final_answer")),
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
        from llmlog import with_trace_session

        started = time.perf_counter()

        def run(values: Mapping[str, Any]) -> Mapping[str, Any]:
            outputs = handler(values)
            span_id = get_current().span_id
            # Inside the module's span (so it is the module's iteration), if nothing in it
            # traced an LLM call.
            if span_id and session.subtree_usage(span_id)[0] == 0:
                _log_module(session, inputs, outputs, info, time.perf_counter() - started)
            return outputs

        with with_trace_session(session):
            return inner(inputs, info, run)

    return intercept


def _log_module(
    session: RlmTraceSession,
    inputs: Mapping[str, Any],
    outputs: Any,
    info: ModuleInfo,
    elapsed: float,
) -> None:
    """A module that traced no LLM call, as one call (dspy-go's ``LogLLMCall``); never raises."""
    try:
        found = outputs if isinstance(outputs, Mapping) else {}
        usage = found.get("usage")
        if not isinstance(usage, Mapping):
            usage = {}
        session.log_llm_call(
            plain_text(inputs.get("prompt", inputs.get("query", ""))),
            plain_text(found.get("response", found.get("answer", ""))),
            usage.get("prompt_tokens") or 0,
            usage.get("completion_tokens") or 0,
            elapsed,
            model=info.module_name,
            provider=info.module_type,
        )
    except Exception as exc:  # a trace call never raises into the program
        session.failures += 1
        if session.failures == 1:
            report_problem(f"rlm trace: logging a module call failed: {type(exc).__name__}")
