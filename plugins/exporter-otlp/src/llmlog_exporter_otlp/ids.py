"""llmlog's trace and span ids as OpenTelemetry's: one mapping for spans and log records, so a
log record names the trace and span that the span exporter sent."""

from __future__ import annotations

import hashlib

__all__ = ["otel_id", "otel_id_bytes"]


def otel_id(text: str, size: int) -> int:
    """An llmlog id as OpenTelemetry's int of ``size`` bytes: the hex itself when it is ``2 * size``
    hex digits (llmlog's and DSPy's ids), else a hash of the string (``emit_*`` take any string)."""
    if len(text) == 2 * size:
        try:
            value = int(text, 16)
        except ValueError:
            pass
        else:
            if value:
                return value
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big") or 1


def otel_id_bytes(text: str | None, size: int) -> bytes:
    """:func:`otel_id` as the ``size`` bytes OTLP carries; empty for no id."""
    return otel_id(text, size).to_bytes(size, "big") if text else b""
