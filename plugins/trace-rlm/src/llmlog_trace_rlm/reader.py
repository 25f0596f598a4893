"""Reading RLM files written by Python rlm, rlm-go, dspy-go or llmlog, and turning them into events.

The variants in the wild differ (``rlm-format.md`` §6): Python rlm keeps tokens in
``usage_summary`` and may write a string or dict ``prompt``, naive timestamps and bare ``NaN``;
rlm-go repeats one ``rlm_calls`` list in every block of an iteration; dspy-go writes module calls as
code-less iterations. All read into the same :class:`~llmlog_trace_rlm.model.Iteration` s, each sub-call
once. A line that is not an RLM line raises :class:`RlmReadError` naming ``file:line``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import orjson

from llmlog.records import TraceEvent, TraceEventType
from llmlog.tracing import new_span_id, new_trace_id
from llmlog_trace_rlm.builder import answer_text
from llmlog_trace_rlm.model import (
    LLM_CALL_BLOCK,
    CodeBlock,
    Iteration,
    Metadata,
    SubCall,
    messages_of,
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


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Python rlm's json.dump writes bare NaN/Infinity, which orjson refuses: read them as null.
        return json.loads(raw, parse_constant=lambda _: None)


def _expect(value: Any, kinds: type | tuple[type, ...], field: str, where: str) -> Any:
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise RlmReadError(f"{where}: {field} must be {_names(kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise RlmReadError(f"{where}: {field} must be {_names(kinds)}, got {_json_type(value)}")
    return value


def _names(kinds: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    seq = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in seq))


def _json_type(value: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "an object",
        bool: "a boolean",
    }.get(type(value), "null" if value is None else type(value).__name__)


def _given(value: Any, default: Any) -> Any:
    """``value``, or ``default`` for null/absent (``{}`` or ``0`` are values, checked by type)."""
    return default if value is None else value


def _number(value: Any, field: str, where: str) -> float:
    if value is None:
        return 0.0
    return float(_expect(value, (int, float), field, where))


def _integer(value: Any, field: str, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # Python writers can produce 3.0; Go would drop it, we read it
    return int(_expect(value, int, field, where))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n\n".join(m["content"] for m in messages_of(value))


def _call(raw: Any, where: str) -> SubCall:
    raw = _expect(raw, dict, "an rlm_calls entry", where)
    model = raw.get("root_model")
    prompt_tokens = raw.get("prompt_tokens")
    completion_tokens = raw.get("completion_tokens")
    cost = None
    usage = raw.get("usage_summary")
    if isinstance(usage, dict) and isinstance(usage.get("model_usage_summaries"), dict):
        summaries = usage["model_usage_summaries"]
        if prompt_tokens is None:
            prompt_tokens = sum(
                int(s.get("total_input_tokens") or 0)
                for s in summaries.values()
                if isinstance(s, dict)
            )
        if completion_tokens is None:
            completion_tokens = sum(
                int(s.get("total_output_tokens") or 0)
                for s in summaries.values()
                if isinstance(s, dict)
            )
        if isinstance(usage.get("total_cost"), int | float):
            cost = float(usage["total_cost"])
        if model is None and len(summaries) == 1:
            model = next(iter(summaries))
    error = raw.get("error")
    return SubCall(
        prompt=_text(raw.get("prompt")),
        response=_text(raw.get("response")),
        prompt_tokens=_integer(prompt_tokens or 0, "prompt_tokens", where),
        completion_tokens=_integer(completion_tokens or 0, "completion_tokens", where),
        execution_time=_number(raw.get("execution_time"), "execution_time", where),
        model=str(model) if model and model != "unknown" else None,
        cost=cost,
        error=str(error) if error else None,
    )


def _block(raw: Any, where: str) -> CodeBlock:
    raw = _expect(raw, dict, "a code block", where)
    result = _expect(_given(raw.get("result"), {}), dict, "a code block's result", where)
    calls = _expect(_given(result.get("rlm_calls"), []), list, "rlm_calls", where)
    locals_ = _expect(_given(result.get("locals"), {}), dict, "locals", where)
    return CodeBlock(
        code=_expect(_given(raw.get("code"), ""), str, "code", where),
        stdout=_text(result.get("stdout")),
        stderr=_text(result.get("stderr")),
        locals=locals_,
        execution_time=_number(result.get("execution_time"), "execution_time", where),
        calls=[_call(c, where) for c in calls],
        final_answer=answer_text(result.get("final_answer")),
    )


def _iteration(record: dict[str, Any], number: int, where: str) -> Iteration:
    blocks_raw = record.get("code_blocks")
    if blocks_raw is None and "code_blocks" not in record:
        raise RlmReadError(f"{where}: not an RLM iteration (no code_blocks)")
    blocks = [_block(b, where) for b in _expect(_given(blocks_raw, []), list, "code_blocks", where)]
    # rlm-go attaches one iteration's whole call list to every block: keep each list once.
    seen: list[list[tuple[Any, ...]]] = []
    for block in blocks:
        keys = [c.key() for c in block.calls]
        if keys and keys in seen:
            block.calls = []
        elif keys:
            seen.append(keys)
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
        iteration=_integer(record.get("iteration", 0), "iteration", where),
        timestamp=_expect(_given(record.get("timestamp"), ""), str, "timestamp", where),
        prompt=messages_of(record.get("prompt")),
        response=_text(record.get("response")),
        code_blocks=blocks,
        final_answer=answer_text(record.get("final_answer")),
        iteration_time=None if time_value is None else _number(time_value, "iteration_time", where),
        root_call=root_call,
        line=number,
    )


def _metadata(record: dict[str, Any], number: int, where: str) -> Metadata:
    def table(key: str) -> dict[str, Any]:
        return dict(_expect(_given(record.get(key), {}), dict, key, where))

    max_iterations = record.get("max_iterations")
    others = record.get("other_backends")
    return Metadata(
        root_model=str(record.get("root_model") or "unknown"),
        max_depth=_integer(record.get("max_depth") or 1, "max_depth", where),
        max_iterations=None
        if max_iterations is None
        else _integer(max_iterations, "max_iterations", where),
        backend=str(record.get("backend") or "unknown"),
        backend_kwargs=table("backend_kwargs"),
        environment_type=str(record.get("environment_type") or ""),
        environment_kwargs=table("environment_kwargs"),
        other_backends=[str(o) for o in others] if isinstance(others, list) else None,
        context=_text(record.get("context")),
        query=_text(record.get("query")),
        timestamp=str(record.get("timestamp") or ""),
        line=number,
    )


def iter_rlm(
    path: str | os.PathLike[str], *, skipped: list[str] | None = None
) -> Iterator[Metadata | Iteration]:
    """The metadata and iteration lines of an RLM file, in order, one at a time.

    :param skipped: if given, unreadable lines are skipped and their messages appended here.
    :raises RlmReadError: naming ``file:line``.
    """
    p = Path(path)
    with p.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{p}:{number}"
            try:
                try:
                    record = _loads(raw)
                except ValueError as exc:
                    raise RlmReadError(f"{where}: not a JSON line ({exc})") from None
                if not isinstance(record, dict):
                    raise RlmReadError(f"{where}: expected a JSON object, got {_json_type(record)}")
                kind = record.get("type", "iteration")
                if kind == "metadata":
                    yield _metadata(record, number, where)
                elif kind == "iteration":
                    yield _iteration(record, number, where)
                else:
                    raise RlmReadError(f"{where}: not an RLM line (type {kind!r})")
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
    except ValueError:
        return default
    if "." in text:  # fromisoformat keeps microseconds; keep the nanoseconds Go wrote
        fraction = text.split(".", 1)[1]
        digits = "".join(ch for ch in fraction if ch.isdigit())[:9].ljust(9, "0")
        whole = moment.replace(microsecond=0)
        return int(whole.timestamp()) * 1_000_000_000 + int(digits)
    return int(moment.timestamp()) * 1_000_000_000


def to_events(
    path: str | os.PathLike[str], *, skipped: list[str] | None = None
) -> Iterator[TraceEvent]:
    """An RLM file as trace events, for writing it in another format: a session event from the
    metadata, one root span for the run, a span per iteration with its LLM call, a ``code_exec``
    event per block (sub-calls in ``sub_llm_calls``), and the final answer on the spans' ends."""
    trace_id = new_trace_id()
    root = new_span_id()
    now = time.time_ns()
    root_open = False
    root_begin = last_ns = now
    final: str | None = None
    for item in iter_rlm(path, skipped=skipped):
        if isinstance(item, Metadata):
            data = {k: v for k, v in item.to_json().items() if k not in ("type", "timestamp")}
            start = parse_time(item.timestamp, now)
            data["start_time"] = item.timestamp
            yield TraceEvent(TraceEventType.SESSION, start, trace_id, None, None, data)
            continue
        begin = parse_time(item.timestamp, last_ns)
        if not root_open:
            root_open = True
            root_begin = begin
            yield _span_start(begin, trace_id, root, None, "RLM", None)
        span = new_span_id()
        yield _span_start(begin, trace_id, span, root, f"iteration {item.iteration}", None)
        seconds = item.iteration_time or 0.0
        # Events are spaced by the durations recorded, within the iteration's own time when known.
        limit = begin + int(seconds * 1e9) if item.iteration_time is not None else None
        clock = begin
        call = item.root_call
        call_data: dict[str, Any] = {
            "provider": "",
            "model": (call.model if call else None) or "",
            "prompt": item.prompt,
            "response": item.response,
            "latency_ms": int((call.execution_time if call else 0.0) * 1000),
        }
        if call is not None:
            clock += int(call.execution_time * 1e9)
            call_data["usage"] = _usage(call)
        clock = clock if limit is None else min(clock, limit)
        yield TraceEvent(TraceEventType.LLM_CALL, clock, trace_id, span, None, call_data)
        for index, block in enumerate(item.code_blocks):
            clock += int(block.execution_time * 1e9)
            clock = clock if limit is None else min(clock, limit)
            exec_data: dict[str, Any] = {
                "iteration": item.iteration,
                "code": block.code,
                "stdout": block.stdout,
                "stderr": block.stderr,
                "duration_ms": int(block.execution_time * 1000),
                "locals": block.locals,
                "sub_llm_calls": [_flat(c) for c in block.calls],
            }
            if block.final_answer is not None:
                exec_data["final_answer"] = block.final_answer
            elif index == len(item.code_blocks) - 1 and item.final_answer is not None:
                exec_data["final_answer"] = item.final_answer
            yield TraceEvent(TraceEventType.CODE_EXEC, clock, trace_id, span, None, exec_data)
        end = max(clock, begin + int(seconds * 1e9))
        end_data: dict[str, Any] = {"event": "end", "duration_ms": int(seconds * 1000)}
        if item.final_answer is not None:
            final = item.final_answer if final is None else final
            end_data["outputs"] = {"final_answer": item.final_answer}
        yield TraceEvent(TraceEventType.SPAN, end, trace_id, span, None, end_data)
        last_ns = end
    if root_open:
        end_data = {"event": "end", "duration_ms": (last_ns - root_begin) // 1_000_000}
        if final is not None:
            end_data["outputs"] = {"final_answer": final}
        yield TraceEvent(TraceEventType.SPAN, last_ns, trace_id, root, None, end_data)


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


def _flat(call: SubCall) -> dict[str, Any]:
    """A sub-call as a dspy-go ``sub_llm_calls`` item."""
    item: dict[str, Any] = {
        "model": call.model or "",
        "prompt": call.prompt,
        "response": call.response,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "execution_time": call.execution_time,
    }
    if call.cost is not None:
        item["cost"] = call.cost
    if call.error is not None:
        item["error"] = call.error
    return item


def _usage(call: SubCall) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "total_tokens": call.total_tokens,
    }
    if call.cost is not None:
        usage["cost"] = call.cost
    return usage
