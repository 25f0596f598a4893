"""From llmlog trace events to finished OpenTelemetry spans, with the GenAI conventions.

Runs on the export thread only. A span becomes an OpenTelemetry span when it ends, with llmlog's
trace id and span ids (so the backend shows the same ids as the local files) and its parent. What
happened inside it decides what kind of span it is:

- an ``llm_call`` in a span of its own (``LM:model``, as the DSPy integration writes them) makes
  that span the inference span ``chat {model}`` (kind CLIENT); an ``llm_call`` in any other span
  becomes a child inference span of its own, timed from its latency;
- a ``tool_call`` likewise makes ``execute_tool {name}``;
- a ``module`` event adds the module type and signature; ``code_exec`` the code execution;
- an ``error`` event or an ending error sets the status to ERROR, ``error.type`` and an
  ``exception`` event.

Token counts (``gen_ai.usage.*``, with the cache read and creation and reasoning counts when not
zero: :mod:`llmlog_exporter_otlp.usage`) go only on inference spans (wrapper spans repeating them make backends count tokens
several times). Prompts, responses, arguments, results, inputs and outputs are exported only with
``capture_content``. Names are hard-coded: the GenAI constants of
``opentelemetry-semantic-conventions`` are deprecated in favour of a package in development.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from llmlog.ext import Sanitizer, TraceEvent, serializer, usage_from
from llmlog_exporter_otlp.ids import otel_id
from llmlog_exporter_otlp.usage import cost_attributes, usage_attributes

__all__ = ["SpanAssembler"]

#: The ``operation`` an SDK integration writes, as the GenAI conventions name it (the Responses
#: and Messages APIs are chat).
_OPERATIONS = {
    "chat": "chat",
    "responses": "chat",
    "messages": "chat",
    "completion": "text_completion",
    "embeddings": "embeddings",
}

#: An ``llm_call``'s ``params`` that the GenAI conventions name (``gen_ai.request.*``), numbers.
_REQUEST_NUMBERS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
}


def _request_attributes(attributes: dict[str, Any], params: Mapping[str, Any]) -> None:
    """The request parameters as GenAI attributes (numbers only; ``stop`` as a list of strings)."""
    for key, name in _REQUEST_NUMBERS.items():
        value = params.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[name] = value
    stop = params.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(stop, list) and stop and all(isinstance(s, str) for s in stop):
        attributes["gen_ai.request.stop_sequences"] = list(stop)


_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_AGENTS = ("ReAct", "RLM", "CodeAct", "ProgramOfThought")


def _json(value: Any) -> str:
    return serializer.dumps(value).decode()


def _scalar(value: Any) -> Any:
    """An attribute value OpenTelemetry accepts: str, bool, int, float (else a JSON string)."""
    if isinstance(value, str | bool | int | float):
        return value
    return _json(value)


class _Open:
    __slots__ = ("attributes", "events", "kind", "name", "parent", "start", "status", "trace_id")

    def __init__(self, name: str, trace_id: str, parent: str | None, start: int) -> None:
        self.name = name
        self.trace_id = trace_id
        self.parent = parent
        self.start = start
        self.kind = SpanKind.INTERNAL
        self.attributes: dict[str, Any] = {"llmlog.operation": name}
        self.events: list[Event] = []
        self.status = Status(StatusCode.UNSET)


class SpanAssembler:
    """Feeds on trace events; :meth:`add` returns the spans each one finished.

    :param resource: the resource (service name and version...) of every span.
    :param capture_content: export prompts, responses and other content.
    :param openinference: also write OpenInference attributes (for Phoenix).
    :param max_open: open spans kept at most; the oldest are exported unfinished beyond it.
    """

    def __init__(
        self,
        resource: Resource,
        *,
        capture_content: bool = False,
        openinference: bool = False,
        max_open: int = 100_000,
        sanitizer: Sanitizer | None = None,
    ) -> None:
        from llmlog import __version__

        self._resource = resource
        self._scope = InstrumentationScope("llmlog", __version__)
        self._content = capture_content
        self._oi = openinference
        self._max_open = max_open
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._sanitizer = sanitizer or Sanitizer()

    # -- events ------------------------------------------------------------------------------------

    def add(self, event: TraceEvent) -> list[ReadableSpan]:
        """Take one event; return the spans it finished."""
        kind = event.type
        span_id = event.span_id or ""
        data = event.data
        if kind == "span":
            if data.get("event") == "start":
                return self._start(event)
            return self._end(event)
        if kind == "session" or not span_id:
            return []
        current = self._open.get(span_id)
        if kind == "llm_call":
            if (
                current is not None
                and current.name.startswith("LM:")
                and "gen_ai.operation.name" not in current.attributes
            ):
                self._inference(current, data)
                return []
            return [self._child(event, self._inference, data.get("latency_ms"))]
        if kind == "tool_call":
            if (
                current is not None
                and current.name.startswith("Tool:")
                and "gen_ai.tool.name" not in current.attributes
            ):
                self._tool(current, data)
                return []
            return [self._child(event, self._tool, data.get("duration_ms"))]
        if current is None:
            return []
        if kind == "module":
            self._module(current, data)
        elif kind == "code_exec":
            self._code(current, data)
        elif kind == "error":
            self._error(
                current,
                str(data.get("error_type") or "Error"),
                str(data.get("message") or ""),
                event.time,
            )
        return []

    def _start(self, event: TraceEvent) -> list[ReadableSpan]:
        data = event.data
        name = str(data.get("operation") or "span")
        span = _Open(name, event.trace_id, event.parent_id, event.time)
        base = name.partition(":")[0]
        if self._oi:
            span.attributes["openinference.span.kind"] = "AGENT" if base in _AGENTS else "CHAIN"
        if base in _AGENTS:
            span.attributes["gen_ai.operation.name"] = "invoke_agent"
            span.attributes["gen_ai.agent.name"] = base
            span.name = f"invoke_agent {base}"
        if self._content and data.get("inputs") is not None:
            self._set_content(span, "input.value", data["inputs"])
        self._open[event.span_id or ""] = span
        finished: list[ReadableSpan] = []
        while len(self._open) > self._max_open:  # bounded memory: export the oldest unfinished
            old_id, old = self._open.popitem(last=False)
            old.attributes["llmlog.unfinished"] = True
            finished.append(self._finish(old_id, old, event.time))
        return finished

    def _end(self, event: TraceEvent) -> list[ReadableSpan]:
        span_id = event.span_id or ""
        span = self._open.pop(span_id, None)
        if span is None:
            return []
        data = event.data
        if data.get("error"):
            message = str(data["error"])
            if span.status.status_code is not StatusCode.ERROR:
                self._error(span, span.attributes.get("error.type", "Error"), message, event.time)
        if self._content and data.get("outputs") is not None:
            self._set_content(span, "output.value", data["outputs"])
        return [self._finish(span_id, span, event.time)]

    def open_spans(self) -> int:
        """How many spans are open (started, not yet ended)."""
        return len(self._open)

    def close(self) -> list[ReadableSpan]:
        """Every span still open, ended now and marked ``llmlog.unfinished`` (at exit)."""
        now = time.time_ns()
        spans = []
        while self._open:
            span_id, span = self._open.popitem(last=False)
            span.attributes["llmlog.unfinished"] = True
            spans.append(self._finish(span_id, span, now))
        return spans

    # -- what a span is -------------------------------------------------------------------------

    def _inference(self, span: _Open, data: Mapping[str, Any]) -> None:
        model = str(data.get("model") or "")
        provider = str(data.get("provider") or "")
        operation = _OPERATIONS.get(str(data.get("operation") or ""))
        if operation is None:
            operation = "chat" if data.get("messages") is not None else "text_completion"
        span.name = f"{operation} {model}".strip()
        span.kind = SpanKind.CLIENT
        attributes = span.attributes
        attributes["gen_ai.operation.name"] = operation
        if provider:
            attributes["gen_ai.provider.name"] = provider
        if model:
            attributes["gen_ai.request.model"] = model
        # What the SDK integrations (llmlog-engine-genai) add to the event.
        if data.get("response_model"):
            attributes["gen_ai.response.model"] = str(data["response_model"])
        if data.get("finish_reason"):
            attributes["gen_ai.response.finish_reasons"] = [str(data["finish_reason"])]
        ttft = data.get("time_to_first_token_ms")
        if isinstance(ttft, int) and not isinstance(ttft, bool):
            attributes["gen_ai.response.time_to_first_chunk"] = ttft / 1000
        if data.get("stream") is True:
            attributes["gen_ai.request.stream"] = True
        if data.get("error_type"):
            attributes["error.type"] = str(data["error_type"])
        status = data.get("status_code")
        if isinstance(status, int) and not isinstance(status, bool):
            attributes["http.response.status_code"] = status
        params = data.get("params")
        if isinstance(params, Mapping):
            _request_attributes(attributes, params)
        if data.get("replayed") is True:  # answered from a recording (llmlog-testing-replay)
            attributes["llmlog.replayed"] = True
        usage = data.get("usage")
        if isinstance(usage, Mapping):
            counts = usage_from(usage)
            prompt, completion = counts.prompt_tokens, counts.completion_tokens
            attributes.update(usage_attributes(counts))
            cost = usage.get("cost")
            attributes.update(
                cost_attributes(cost, usage.get("cost_source"), usage.get("cost_unknown"))
            )
            if self._oi:
                attributes["llm.token_count.prompt"] = prompt
                attributes["llm.token_count.completion"] = completion
                attributes["llm.token_count.total"] = (
                    _count(usage.get("total_tokens")) or prompt + completion
                )
                if isinstance(cost, int | float):
                    attributes["llm.cost.total"] = float(cost)
        if self._oi:
            attributes["openinference.span.kind"] = "LLM"
            if model:
                attributes["llm.model_name"] = model
            if provider:
                attributes["llm.provider"] = provider
        if self._content:
            messages = data.get("messages")
            if messages is None:
                messages = [{"role": "user", "content": data.get("prompt", "")}]
            inputs = [
                {
                    "role": str(m.get("role", "user")),
                    "parts": [
                        {"type": "text", "content": self._sanitizer.text(str(m.get("content", "")))}
                    ],
                }
                for m in messages
                if isinstance(m, Mapping)
            ]
            response = self._sanitizer.text(str(data.get("response", "")))
            parts: list[dict[str, Any]] = [{"type": "text", "content": response}]
            for call in data.get("tool_calls") or []:
                if isinstance(call, Mapping):
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": call.get("id"),
                            "name": call.get("name"),
                            "arguments": self._sanitizer.text(str(call.get("arguments") or "")),
                        }
                    )
            outputs = [{"role": "assistant", "parts": parts}]
            if data.get("finish_reason"):
                outputs[0]["finish_reason"] = str(data["finish_reason"])
            attributes["gen_ai.input.messages"] = _json(inputs)
            attributes["gen_ai.output.messages"] = _json(outputs)
            if self._oi:
                attributes["input.value"] = _json(inputs)
                attributes["output.value"] = response

    def _tool(self, span: _Open, data: Mapping[str, Any]) -> None:
        name = str(data.get("tool_name") or "tool")
        span.name = f"execute_tool {name}"
        attributes = span.attributes
        attributes["gen_ai.operation.name"] = "execute_tool"
        attributes["gen_ai.tool.name"] = name
        attributes["gen_ai.tool.type"] = "function"
        if self._oi:
            attributes["openinference.span.kind"] = "TOOL"
            attributes["tool.name"] = name
        if self._content:
            self._set_content(span, "gen_ai.tool.call.arguments", data.get("input"))
            self._set_content(span, "gen_ai.tool.call.result", data.get("output"))
        if data.get("success") is False:
            error = str(data.get("error") or "tool failed")
            attributes.setdefault("error.type", "ToolError")
            span.status = Status(StatusCode.ERROR, error)

    def _module(self, span: _Open, data: Mapping[str, Any]) -> None:
        attributes = span.attributes
        attributes["llmlog.module.type"] = str(data.get("module_type") or "")
        if data.get("signature"):
            attributes["llmlog.module.signature"] = str(data["signature"])
        attributes["llmlog.module.llm_calls"] = _count(data.get("llm_calls"))

    def _code(self, span: _Open, data: Mapping[str, Any]) -> None:
        attributes = span.attributes
        attributes["llmlog.code.iteration"] = _count(data.get("iteration"))
        attributes["llmlog.code.stdout_chars"] = len(str(data.get("stdout") or ""))
        if data.get("stderr"):
            attributes["llmlog.code.stderr_chars"] = len(str(data["stderr"]))
        if self._content:
            self._set_content(span, "llmlog.code", data.get("code"))
            self._set_content(span, "llmlog.code.stdout", data.get("stdout"))

    def _error(self, span: _Open, error_type: str, message: str, at: int) -> None:
        span.attributes["error.type"] = error_type
        span.status = Status(
            StatusCode.ERROR, f"{error_type}: {message}" if message else error_type
        )
        span.events.append(
            Event("exception", {"exception.type": error_type, "exception.message": message}, at)
        )

    def _set_content(self, span: _Open, key: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            value = self._sanitizer.fields(value)
        elif isinstance(value, str):
            value = self._sanitizer.text(value)
        span.attributes[key] = _scalar(value)

    # -- building spans -------------------------------------------------------------------------

    def _child(self, event: TraceEvent, fill: Any, duration_ms: Any) -> ReadableSpan:
        """An LLM or tool call recorded inside a wider span: a child span of its own."""
        start = event.time - int(_count(duration_ms, float) * 1_000_000)
        child = _Open("call", event.trace_id, event.span_id, start)
        fill(child, event.data)
        child_id = f"{event.span_id}/{event.time}/{child.name}"
        return self._finish(child_id, child, event.time)

    def _finish(self, span_id: str, span: _Open, end: int) -> ReadableSpan:
        trace = otel_id(span.trace_id, 16)
        context = SpanContext(trace, otel_id(span_id, 8), is_remote=False, trace_flags=_SAMPLED)
        parent = (
            SpanContext(trace, otel_id(span.parent, 8), is_remote=False, trace_flags=_SAMPLED)
            if span.parent
            else None
        )
        return ReadableSpan(
            name=span.name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=span.attributes,
            events=span.events,
            kind=span.kind,
            status=span.status,
            start_time=span.start,
            end_time=max(end, span.start),
            instrumentation_scope=self._scope,
        )


def _count(value: Any, kind: type[int] | type[float] = int) -> Any:
    """A count or duration from an event's data, 0 when it is not a finite number of 0 or more:
    the exporter also reads files written by others (``llmlog export --to otlp-json``), where a
    ``duration_ms`` may be text or a list."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return kind(0)
    if isinstance(value, float) and not math.isfinite(value):
        return kind(0)
    return kind(min(max(value, 0), 2**63 - 1))
