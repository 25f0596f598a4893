"""Reading RLM files written by Python rlm, rlm-go, dspy-go or llmlog, and turning them into events.

The variants in the wild differ (``rlm-format.md`` §6): Python rlm keeps tokens in
``usage_summary`` and may write a string or dict ``prompt``, naive timestamps and bare ``NaN``;
rlm-go repeats one ``rlm_calls`` list in every block of an iteration; dspy-go writes module calls as
code-less iterations. All read into the same :class:`~llmlog_trace_rlm.model.Iteration` s, each sub-call
once. A line that is not an RLM line raises :class:`RlmReadError` naming ``file:line``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import orjson

from llmlog.ext import TraceEvent, TraceEventType, escape, new_span_id, new_trace_id
from llmlog_trace_rlm.builder import clamp_ns, span_seconds
from llmlog_trace_rlm.model import (
    LLM_CALL_BLOCK,
    WRITER,
    CodeBlock,
    Iteration,
    Metadata,
    SubCall,
    answer_of,
    detail_counts,
    messages_of,
    plain_text,
    prompt_text,
)

__all__ = ["RlmReadError", "RlmRun", "iter_rlm", "parse_time", "read_rlm", "to_events"]


class RlmReadError(ValueError):
    """A line of an RLM file that cannot be read; the message names ``file:line``."""


@attrs.define
class RlmRun:
    """A whole RLM file: its metadata (the last metadata line, as the web visualizer takes it)
    and its iterations in file order."""

    metadata: Metadata | None
    iterations: list[Iteration]


_INT64 = 2**63


def _loads(raw: bytes, where: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        refused = exc
    # Python rlm's json.dump writes bare NaN/Infinity (read as null here) and lone surrogates as
    # escapes (kept; viewers escape them), which orjson refuses; Python's parser takes both.
    try:
        return json.loads(raw, parse_constant=lambda _: None)
    except RecursionError:
        raise RlmReadError(f"{where}: nested too deeply to read") from None
    except ValueError:  # also: not UTF-8, an integer of too many digits
        raise RlmReadError(f"{where}: not a JSON line ({refused})") from None


_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return _NAMES.get(type(value), type(value).__name__)


def _expect(value: Any, kinds: type | tuple[type, ...], field: str, where: str) -> Any:
    seq = kinds if isinstance(kinds, tuple) else (kinds,)
    if (isinstance(value, bool) and bool not in seq) or not isinstance(value, seq):
        wanted = " or ".join(dict.fromkeys(_NAMES.get(k, k.__name__) for k in seq))
        raise RlmReadError(f"{where}: {field} must be {wanted}, got {_json_type(value)}")
    return value


def _given(value: Any, default: Any) -> Any:
    """``value``, or ``default`` for null/absent (``{}`` or ``0`` are values, checked by type)."""
    return default if value is None else value


def _number(value: Any, field: str, where: str) -> float:
    """A finite number (null as 0, as Go reads it)."""
    if value is None:
        return 0.0
    _expect(value, (int, float), field, where)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise RlmReadError(f"{where}: {field} must be a finite number")
    return number


def _integer(value: Any, field: str, where: str) -> int:
    """A 64-bit integer, as Go decodes it (null as 0); an integral float is taken (Python
    writers can produce ``3.0``)."""
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer() and abs(value) < _INT64:
        return int(value)
    _expect(value, int, field, where)
    if not -_INT64 <= value < _INT64:
        raise RlmReadError(f"{where}: {field} must be an integer of at most 64 bits")
    return int(value)


def _string(value: Any, field: str, where: str) -> str:
    """A string field the Go readers type as a string (null as ``""``)."""
    return str(_expect(_given(value, ""), str, field, where))


def _text(value: Any) -> str:
    """A text field read leniently: a string, or messages or any value as text."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list | dict):
        return prompt_text(value)
    return plain_text(value)


def _call(raw: Any, where: str) -> SubCall:
    raw = _expect(raw, dict, "an rlm_calls entry", where)
    model = raw.get("root_model")
    prompt_tokens = raw.get("prompt_tokens")
    completion_tokens = raw.get("completion_tokens")
    cost = None
    usage = raw.get("usage_summary")
    summaries = usage.get("model_usage_summaries") if isinstance(usage, dict) else None
    if isinstance(summaries, dict):
        assert isinstance(usage, dict)
        per_model = [s for s in summaries.values() if isinstance(s, dict)]
        if prompt_tokens is None:
            prompt_tokens = sum(
                _integer(s.get("total_input_tokens"), "total_input_tokens", where)
                for s in per_model
            )
        if completion_tokens is None:
            completion_tokens = sum(
                _integer(s.get("total_output_tokens"), "total_output_tokens", where)
                for s in per_model
            )
        if usage.get("total_cost") is not None:
            cost = _number(usage["total_cost"], "total_cost", where)
        if model is None and len(summaries) == 1:
            model = next(iter(summaries))
    error = raw.get("error")
    model_name = _text(model)
    messages = raw.get("messages")
    params = raw.get("params")
    return SubCall(
        prompt=_text(raw.get("prompt")),
        response=_text(raw.get("response")),
        prompt_tokens=_integer(prompt_tokens, "prompt_tokens", where),
        completion_tokens=_integer(completion_tokens, "completion_tokens", where),
        execution_time=_number(raw.get("execution_time"), "execution_time", where),
        model=model_name if model_name and model_name != "unknown" else None,
        cost=cost,
        error=_text(error) if error else None,
        details=detail_counts(raw),
        cost_source=_label(raw.get("cost_source")) if cost is not None else None,
        cost_unknown=_label(raw.get("cost_unknown")) if cost is None else None,
        messages=[m for m in messages if isinstance(m, dict)]
        if isinstance(messages, list)
        else None,
        params=params if isinstance(params, dict) and params else None,
    )


def _label(value: Any) -> str | None:
    """An optional text of llmlog's extension (``cost_source``): a value of another kind is
    ignored, as a reader ignores an unknown key."""
    return value if isinstance(value, str) and value else None


def _block(raw: Any, where: str) -> CodeBlock:
    raw = _expect(raw, dict, "a code block", where)
    result = _expect(_given(raw.get("result"), {}), dict, "a code block's result", where)
    calls = _expect(_given(result.get("rlm_calls"), []), list, "rlm_calls", where)
    locals_ = _expect(_given(result.get("locals"), {}), dict, "locals", where)
    return CodeBlock(
        code=_string(raw.get("code"), "code", where),
        stdout=_text(result.get("stdout")),
        stderr=_text(result.get("stderr")),
        locals=locals_,
        execution_time=_number(result.get("execution_time"), "execution_time", where),
        calls=[_call(c, where) for c in calls],
        final_answer=answer_of(result.get("final_answer")),
    )


def _repeated(block: CodeBlock, earlier: CodeBlock) -> bool:
    try:
        return block.calls == earlier.calls and block.locals == earlier.locals
    except RecursionError:  # locals nested as deep as the parser allows
        return False


def _iteration(
    record: dict[str, Any], number: int, where: str, repeated_lists: bool = True
) -> Iteration:
    blocks_raw = record.get("code_blocks")
    if blocks_raw is None and "code_blocks" not in record:
        raise RlmReadError(f"{where}: not an RLM iteration (no code_blocks)")
    blocks = [_block(b, where) for b in _expect(_given(blocks_raw, []), list, "code_blocks", where)]
    if repeated_lists:
        # rlm-go attaches one iteration's whole call list and locals to every block: a block
        # whose calls and locals are those of an earlier block has its calls read once.
        for index, block in enumerate(blocks):
            if block.calls and any(_repeated(block, b) for b in blocks[:index]):
                block.calls = []
    root = record.get("root_call")
    root_call = _call(root, where) if root is not None else None
    if (
        root_call is None
        and len(blocks) == 1
        and blocks[0].code == LLM_CALL_BLOCK
        and len(blocks[0].calls) == 1
    ):
        root_call, blocks = blocks[0].calls[0], []
    time_value = record.get("iteration_time")
    return Iteration(
        iteration=_integer(record.get("iteration"), "iteration", where),
        timestamp=_string(record.get("timestamp"), "timestamp", where),
        prompt=messages_of(record.get("prompt")),
        response=_text(record.get("response")),
        code_blocks=blocks,
        final_answer=answer_of(record.get("final_answer")),
        iteration_time=None if time_value is None else _number(time_value, "iteration_time", where),
        root_call=root_call,
        line=number,
    )


def _metadata(record: dict[str, Any], number: int, where: str) -> Metadata:
    def table(key: str) -> dict[str, Any]:
        return dict(_expect(_given(record.get(key), {}), dict, key, where))

    others = record.get("other_backends")
    trace_id = record.get("trace_id")
    writer = record.get("writer")
    max_depth = record.get("max_depth")
    return Metadata(
        root_model=_text(record.get("root_model")) or "unknown",
        max_depth=1 if max_depth is None else _integer(max_depth, "max_depth", where),
        max_iterations=_integer(record.get("max_iterations"), "max_iterations", where),
        backend=_text(record.get("backend")) or "unknown",
        backend_kwargs=table("backend_kwargs"),
        environment_type=_text(record.get("environment_type")),
        environment_kwargs=table("environment_kwargs"),
        other_backends=[_text(o) for o in others] if isinstance(others, list) else None,
        context=_text(record.get("context")),
        query=_text(record.get("query")),
        timestamp=_string(record.get("timestamp"), "timestamp", where),
        trace_id=trace_id if isinstance(trace_id, str) else "",
        writer=writer if isinstance(writer, str) else "",
        line=number,
    )


def iter_rlm(
    path: str | os.PathLike[str], *, skipped: list[str] | None = None
) -> Iterator[Metadata | Iteration]:
    """The metadata and iteration lines of an RLM file, in order, one at a time.

    Fields the Go readers type strictly (``iteration``, token counts, times, ``code``,
    ``timestamp``, the ``code_blocks``/``rlm_calls`` arrays, ``locals`` and the kwargs objects) must
    have their type; ``null`` reads as the zero value, as in Go. Text fields (prompt, response,
    output, answers, model names) are read leniently, whatever their JSON type.

    :param skipped: if given, unreadable lines are skipped and their messages appended here.
    :raises RlmReadError: naming ``file:line`` and what was expected.
    """
    p = Path(path)
    repeated_lists = True  # until a metadata line says llmlog wrote the file
    with p.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{escape(str(p))}:{number}"  # a file name can hold escape sequences
            try:
                record = _loads(raw, where)
                if not isinstance(record, dict):
                    raise RlmReadError(f"{where}: expected a JSON object, got {_json_type(record)}")
                kind = record.get("type", "iteration")
                if kind == "metadata":
                    meta = _metadata(record, number, where)
                    repeated_lists = meta.writer != WRITER
                    yield meta
                elif kind == "iteration":
                    yield _iteration(record, number, where, repeated_lists)
                elif isinstance(kind, str):
                    shown = kind if len(kind) <= 40 else kind[:40] + "…"
                    raise RlmReadError(f"{where}: not an RLM line (type {shown!r})")
                else:
                    raise RlmReadError(
                        f'{where}: type must be "metadata" or "iteration", got {_json_type(kind)}'
                    )
            except RlmReadError as exc:
                if skipped is None:
                    raise
                skipped.append(str(exc))


def read_rlm(path: str | os.PathLike[str], *, skipped: list[str] | None = None) -> RlmRun:
    """A whole RLM file (see :func:`iter_rlm`)."""
    run = RlmRun(None, [])
    for item in iter_rlm(path, skipped=skipped):
        if isinstance(item, Metadata):
            run.metadata = item
        else:
            run.iterations.append(item)
    return run


def parse_time(text: str, default: int) -> int:
    """Nanoseconds since the epoch from an RLM timestamp: RFC 3339 (Go, llmlog) or a naive local
    ISO string (Python rlm); ``default`` when it is neither."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        seconds = int(moment.replace(microsecond=0).timestamp())
    except (ValueError, OverflowError, OSError):
        return default
    fraction = f"{moment.microsecond:06d}"
    if "." in text:  # fromisoformat keeps microseconds; keep the nanoseconds Go wrote
        digits = text.split(".", 1)[1]
        kept = ""
        for ch in digits:
            if not ("0" <= ch <= "9") or len(kept) == 9:
                break
            kept += ch
        fraction = kept
    return clamp_ns(seconds * 1_000_000_000 + int(fraction.ljust(9, "0")[:9]))


def _ns(seconds: float) -> int:
    return round(span_seconds(seconds) * 1e9)


def _ms(seconds: float) -> int:
    return round(span_seconds(seconds) * 1000)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else text
    return last if len(last) <= 500 else last[:500] + "…"


def to_events(
    path: str | os.PathLike[str], *, skipped: list[str] | None = None
) -> Iterator[TraceEvent]:
    """An RLM file as trace events, for writing it in another format (``llmlog convert``).

    A ``session`` event from the metadata (its fields as session metadata, its ``trace_id`` as the
    trace id), one root span ``RLM`` for the run, and per iteration a span ``iteration N`` holding:

    - its LLM call (``llm_call``): the prompt as text in ``prompt`` (the call's own text prompt
      when the file has one) and, when that text does not say it all, the messages in
      ``messages``; response; model, tokens, cost and latency of its own call; the call's error as
      the span's error;
    - per code block a span ``code`` (inputs ``{"code": …}``) holding a span ``llm_query`` with an
      ``llm_call`` for each sub-call (so dspy readers count their tokens; a failed call's error is
      the span's error), then the ``code_exec`` event (code, stdout, stderr, locals, duration, the
      block's own final answer); a block that wrote to stderr ends its span with the last line of
      it as the error;
    - the final answer as the span's outputs (``{"final_answer": …}``, a ``[variable, value]``
      pair kept as a pair) and, the first one, as the root's.

    Events are placed at the iteration's timestamp and spaced by the durations recorded, within
    the iteration's time; durations in milliseconds are rounded, not cut.
    """
    trace_id: str | None = None
    root = new_span_id()
    now = time.time_ns()
    root_open = False
    root_begin = last_ns = now
    final: Any = None
    for item in iter_rlm(path, skipped=skipped):
        if isinstance(item, Metadata):
            notes: list[str] = []  # numbers out of range are brought in range when written
            data = {
                k: v
                for k, v in item.to_json(notes).items()
                if k not in ("type", "timestamp", "trace_id", "writer")
            }
            data["start_time"] = item.timestamp
            trace_id = trace_id or item.trace_id or new_trace_id()
            start = parse_time(item.timestamp, now)
            yield TraceEvent(TraceEventType.SESSION, start, trace_id, None, None, data)
            continue
        if trace_id is None:
            trace_id = new_trace_id()
        begin = parse_time(item.timestamp, last_ns)
        if not root_open:
            root_open = True
            root_begin = begin
            yield _span_start(begin, trace_id, root, None, "RLM", None)
        yield from _iteration_events(item, trace_id, root, begin)
        known = item.iteration_time
        last_ns = clamp_ns(max(last_ns, begin + _ns(known or 0.0)))
        if item.final_answer is not None and final is None:
            final = item.final_answer
    if root_open:
        assert trace_id is not None
        end_data: dict[str, Any] = {
            "event": "end",
            "duration_ms": (last_ns - root_begin) // 1_000_000,
        }
        if final is not None:
            end_data["outputs"] = {"final_answer": final}
        yield TraceEvent(TraceEventType.SPAN, last_ns, trace_id, root, None, end_data)


def _iteration_events(
    item: Iteration, trace_id: str, root: str, begin: int
) -> Iterator[TraceEvent]:
    span = new_span_id()
    yield _span_start(begin, trace_id, span, root, f"iteration {item.iteration}", None)
    known = item.iteration_time
    limit = clamp_ns(begin + _ns(known)) if known is not None else None

    def at(ns: int) -> int:
        return clamp_ns(ns if limit is None else min(ns, limit))

    call = item.root_call
    text = call.prompt if call is not None else prompt_text(item.prompt)
    call_data: dict[str, Any] = {
        "provider": "",
        "model": (call.model if call else None) or "",
        "prompt": text,
        "response": item.response,
        "latency_ms": _ms(call.execution_time) if call else 0,
    }
    if item.prompt != messages_of(text):
        call_data["messages"] = item.prompt
    if call is not None:
        call_data["usage"] = _usage(call)
        if call.params:
            call_data["params"] = call.params
    clock = at(begin + (_ns(call.execution_time) if call else 0))
    yield TraceEvent(TraceEventType.LLM_CALL, clock, trace_id, span, None, call_data)
    for block in item.code_blocks:
        code_span = new_span_id()
        block_begin = clock
        yield _span_start(clock, trace_id, code_span, span, "code", {"code": block.code})
        for sub in block.calls:
            query = new_span_id()
            yield _span_start(clock, trace_id, query, code_span, "llm_query", None)
            clock = at(clock + _ns(sub.execution_time))
            yield TraceEvent(TraceEventType.LLM_CALL, clock, trace_id, query, None, _call_data(sub))
            yield _span_end(clock, trace_id, query, sub.execution_time, sub.error, None)
        clock = at(max(clock, block_begin + _ns(block.execution_time)))
        exec_data: dict[str, Any] = {
            "iteration": item.iteration,
            "code": block.code,
            "stdout": block.stdout,
            "stderr": block.stderr,
            "duration_ms": _ms(block.execution_time),
            "locals": block.locals,
        }
        if block.final_answer is not None:
            exec_data["final_answer"] = block.final_answer
        yield TraceEvent(TraceEventType.CODE_EXEC, clock, trace_id, code_span, None, exec_data)
        error = _last_line(block.stderr) if block.stderr else None
        yield _span_end(clock, trace_id, code_span, block.execution_time, error, None)
    end = clock if known is None else max(clock, at(begin + _ns(known)))
    outputs = {"final_answer": item.final_answer} if item.final_answer is not None else None
    error = call.error if call is not None else None
    yield _span_end(end, trace_id, span, (end - begin) / 1e9, error, outputs)


def _span_start(
    ns: int,
    trace_id: str,
    span: str,
    parent: str | None,
    name: str,
    inputs: Mapping[str, Any] | None,
) -> TraceEvent:
    data: dict[str, Any] = {"event": "start", "operation": name}
    if inputs is not None:
        data["inputs"] = dict(inputs)
    return TraceEvent(TraceEventType.SPAN, ns, trace_id, span, parent, data)


def _span_end(
    ns: int,
    trace_id: str,
    span: str,
    seconds: float,
    error: str | None,
    outputs: Mapping[str, Any] | None,
) -> TraceEvent:
    data: dict[str, Any] = {"event": "end", "duration_ms": _ms(seconds)}
    if outputs is not None:
        data["outputs"] = dict(outputs)
    if error:
        data["error"] = error
    return TraceEvent(TraceEventType.SPAN, ns, trace_id, span, None, data)


def _call_data(call: SubCall) -> dict[str, Any]:
    """A sub-call as ``llm_call`` event data (its messages and parameters when it has them)."""
    data: dict[str, Any] = {
        "provider": "",
        "model": call.model or "",
        "prompt": call.prompt,
        "response": call.response,
        "latency_ms": _ms(call.execution_time),
        "usage": _usage(call),
    }
    if call.messages is not None:
        data["messages"] = call.messages
    if call.params:
        data["params"] = call.params
    return data


def _usage(call: SubCall) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "total_tokens": call.total_tokens,
    }
    usage.update(call.details)
    if call.cost is not None:
        usage["cost"] = call.cost
        if call.cost_source:
            usage["cost_source"] = call.cost_source
    elif call.cost_unknown:
        usage["cost_unknown"] = call.cost_unknown
    return usage
