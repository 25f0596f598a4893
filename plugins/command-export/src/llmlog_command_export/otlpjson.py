"""A run as the OTLP JSON file format: ``llmlog export --to otlp-json``.

Each line is one ``ExportTraceServiceRequest`` in OTLP's JSON encoding (protobuf JSON with
lowerCamelCase names, integer enums and hex trace and span ids), as the OpenTelemetry
Collector's file exporter writes and its ``otlpjsonfile`` receiver, otel-tui and ``otel-cli``
read. The spans are the OTLP exporter's (:class:`llmlog_exporter_otlp.assemble.SpanAssembler`:
the GenAI conventions, the same names, kinds, attributes and ids as a live export), encoded by
OpenTelemetry's own protobuf encoder: there is no second mapping here.

The trace events come from the file's trace format (its ``read``) or, for a flight snapshot, from
its trace events; a rotated part compressed by the file output (``.gz``, ``.zst``) is read
through a private decompressed copy, as the report reads it; llmlog JSON log lines hold no spans
and are skipped with a note.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from llmlog.ext import (
    ComponentKind,
    PluginHost,
    Sanitizer,
    TraceEvent,
    TraceEventType,
    TraceInputError,
    recognising_format,
    shown_as,
    trace_first_line,
)
from llmlog_report_html.load import (
    ReportInputError,
    compressed_kind,
    decompressed_copy,
    input_files,
    is_log_line,
    spooled,
)

__all__ = ["BATCH", "OtlpUnavailable", "trace_events", "write_otlp_json"]

#: Spans per line (per ExportTraceServiceRequest): what a collector takes in one request.
BATCH = 512

_TRACE_KINDS = frozenset(
    {"session", "span", "llm_call", "module", "code_exec", "tool_call", "error"}
)


class OtlpUnavailable(ImportError):
    """The OTLP exporter (``llmlog-command-export[otlp]``) is not installed."""


def trace_events(
    paths: Sequence[str | os.PathLike[str]],
    host: PluginHost,
    *,
    lenient: bool = False,
    notes: list[str] | None = None,
) -> Iterator[TraceEvent]:
    """The trace events of ``paths`` (files or directories), file by file.

    :raises ReportInputError: naming ``file:line`` and what was expected.
    """
    from llmlog_engine_flight.snapshot import starts_like_snapshot

    formats = host.components(ComponentKind.TRACE_FORMAT)
    notes = notes if notes is not None else []
    for path, directory in input_files(paths):
        with spooled(path) as copy:
            if copy != path:  # a pipe: read through its private copy
                yield from _copy_events(copy, path, host, lenient, notes)
                continue
        kind = compressed_kind(path)
        if kind is not None:
            with decompressed_copy(path, kind, notes if lenient else None) as plain:
                yield from _copy_events(plain, path, host, lenient, notes)
            continue
        first = _first_line(path)
        if first is None:
            if directory is not None:
                notes.append(f"{path}: empty, skipped")
                continue
            raise ReportInputError(f"{path}:1: empty file")
        found = recognising_format(first, formats)
        reader = found[1].support.read if found is not None else None
        if reader is not None:
            skipped: list[str] = []
            try:
                yield from reader(path, skipped=skipped if lenient else None)
            except ReportInputError:
                raise
            except ValueError as exc:  # the readers' errors name file:line
                raise ReportInputError(str(exc)) from None
            except RecursionError:
                raise ReportInputError(f"{path}: values nested too deeply") from None
            notes.extend(skipped)
            continue
        if starts_like_snapshot(first):
            yield from _snapshot_events(path, lenient, notes)
            continue
        if is_log_line(first):
            notes.append(f"{path}: llmlog JSON log lines hold no spans, skipped")
            continue
        message = (
            f"{path}:1: not a trace in any installed format ({', '.join(sorted(formats))}) "
            "or a flight-recorder snapshot"
        )
        if directory is None:
            raise ReportInputError(message)
        notes.append(f"{message}, skipped")


def _copy_events(
    copy: Path, path: Path, host: PluginHost, lenient: bool, notes: list[str]
) -> Iterator[TraceEvent]:
    """The events of ``copy`` (a pipe's private copy, a compressed part's decompressed one);
    every message names ``path``, the file given."""
    inner: list[str] = []
    try:
        yield from trace_events([copy], host, lenient=lenient, notes=inner)
    except ReportInputError as exc:
        raise ReportInputError(shown_as(str(exc), path, copy)) from None
    finally:
        notes.extend(shown_as(note, path, copy) for note in inner)


def _first_line(path: Path) -> bytes | None:
    try:
        first = trace_first_line(path)
    except TraceInputError as exc:
        raise ReportInputError(str(exc)) from None
    return first if first.strip() else None


def _snapshot_events(path: Path, lenient: bool, notes: list[str]) -> Iterator[TraceEvent]:
    from llmlog_engine_flight.snapshot import SnapshotError, read_snapshot

    try:
        snapshot = read_snapshot(path, lenient=lenient)
    except SnapshotError as exc:
        raise ReportInputError(str(exc)) from None
    notes.extend(snapshot.problems)
    for event in snapshot.events:
        kind = event.get("kind")
        data = event.get("data")
        if kind not in _TRACE_KINDS or not isinstance(data, dict):
            continue
        ts = event.get("ts")
        yield TraceEvent(
            type=TraceEventType(kind),
            time=ts if type(ts) is int else 0,
            trace_id=_str(event.get("trace_id")),
            span_id=_str(event.get("span_id")),
            parent_id=_str(event.get("parent_id")),
            data=data,
        )


def _str(value: Any) -> str:
    return value if type(value) is str else ""


def _hex(value: Any) -> Any:
    if type(value) is str and value:
        return base64.b64decode(value).hex()
    return value


def _redacted(value: Any, clean: Any) -> Any:
    """Every text of an encoded request redacted (``clean``: a cached ``Sanitizer.text``): the
    exporter redacts the content it captures, and this also covers what it copies as it is (an
    error's message in a status or an ``exception`` event, a span's name, an attribute). The
    attribute names (``key``) and the ids are names, not data: left as they are."""
    if type(value) is dict:
        return {
            k: v if k == "key" or k.endswith("Id") else _redacted(v, clean)
            for k, v in value.items()
        }
    if type(value) is list:
        return [_redacted(v, clean) for v in value]
    if type(value) is str:
        return clean(value)
    return value


def _hex_ids(request: dict[str, Any]) -> dict[str, Any]:
    """protobuf JSON writes bytes as base64; OTLP JSON writes trace and span ids as hex."""
    for resource_spans in request.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _hex(span[key])
                for link in span.get("links", ()):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = _hex(link[key])
    return request


def write_otlp_json(
    events: Iterator[TraceEvent],
    out: BinaryIO,
    *,
    sanitizer: Sanitizer,
    capture_content: bool = True,
    service_name: str = "llmlog",
) -> int:
    """Write ``events`` as OTLP JSON lines to ``out``; returns the spans written.

    :raises OtlpUnavailable: when ``llmlog-exporter-otlp`` is not installed.
    """
    try:
        from google.protobuf import json_format
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.resources import Resource

        from llmlog_exporter_otlp.assemble import SpanAssembler
    except ImportError as exc:
        raise OtlpUnavailable(str(exc)) from None

    import orjson

    resource = Resource.create({"service.name": service_name})
    assembler = SpanAssembler(resource, capture_content=capture_content, sanitizer=sanitizer)
    batch: list[Any] = []
    written = 0
    # The same texts recur in every span (model names, operations, scope): redacted once each.
    clean = functools.lru_cache(maxsize=65_536)(sanitizer.text)

    def flush() -> None:
        nonlocal written
        if not batch:
            return
        request = json_format.MessageToDict(encode_spans(batch), use_integers_for_enums=True)
        out.write(orjson.dumps(_hex_ids(_redacted(request, clean))) + b"\n")
        written += len(batch)
        batch.clear()

    for event in events:
        batch.extend(assembler.add(event))
        if len(batch) >= BATCH:
            flush()
    # Spans the run never ended (a crash, a snapshot cut mid-run): exported marked unfinished.
    batch.extend(assembler.close())
    flush()
    return written
