"""Writes the flight-snapshot corpus next to this file: ``python plugins/engine-flight/tests/flight_corpus/make_corpus.py``.

``valid.jsonl`` and ``valid.jsonl.zst`` are small snapshots shaped as the recorder writes them;
the others are the bad inputs an outside fuzzing run found crashing the readers, each named for
what is wrong. The files are committed; this script says how they were made. The zstd bomb is
not here: the tests make it (``zstd_bomb``).
"""

from __future__ import annotations

import json
from pathlib import Path

import zstandard

HERE = Path(__file__).resolve().parent
T0 = 1_796_500_000_000_000_000
TID = 140_351_409_576_832

HEADER = {
    "kind": "header",
    "format": "llmlog-flight",
    "version": 1,
    "reason": "error",
    "pid": 4242,
    "host": "build-host",
    "created_ns": T0 + 9_000_000,
    "clock": {"wall_ns": T0 + 9_000_000, "monotonic_ns": 1_774_021_545_758},
    "config": {
        "backend": "memory",
        "min_age": 10.0,
        "max_bytes": 10485760,
        "level": "DEBUG",
        "chunk_events": 8,
        "chunk_bytes": 1048576,
        "chunk_period": 1.0,
    },
    "window": {
        "chunks": 1,
        "events": 8,
        "raw_bytes": 2000,
        "stored_bytes": 2000,
        "oldest_ns": T0,
        "newest_ns": T0 + 8_000_000,
        "open_spans_before_window": 0,
        "open_regions": 0,
    },
    "drops": {"events": 0, "chunks": 0, "evicted_events": 0, "open_spans": 0, "record_errors": 0},
    "threads": {str(TID): "MainThread"},
    "skipped_snapshots": {},
}
TRACE = "ab" * 16
EVENTS = [
    {
        "ts": T0,
        "kind": "recorder_start",
        "tid": TID,
        "min_age": 10.0,
        "max_bytes": 10485760,
        "backend": "memory",
    },
    {"ts": T0 + 1_000_000, "kind": "task_begin", "tid": TID, "name": "evaluate", "task_id": 1},
    {
        "ts": T0 + 2_000_000,
        "kind": "region",
        "tid": TID,
        "name": "retrieve",
        "region": 2,
        "dur": 36667,
        "task": 1,
    },
    {
        "ts": T0 + 3_000_000,
        "kind": "span",
        "tid": TID,
        "trace_id": TRACE,
        "span_id": "s1",
        "data": {"event": "start", "operation": "Predict:qa"},
        "task": 1,
    },
    {
        "ts": T0 + 4_000_000,
        "kind": "llm_call",
        "tid": TID,
        "trace_id": TRACE,
        "span_id": "s1",
        "data": {
            "provider": "openai",
            "model": "gpt-4o",
            "latency_ms": 12,
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": 10,
                "total_tokens": 30,
                "cost": 0.0001,
            },
        },
        "task": 1,
    },
    {
        "ts": T0 + 5_000_000,
        "kind": "log",
        "tid": TID,
        "level": "ERROR",
        "msg": "step failed",
        "model": "gpt-4o",
        "tokens": {"prompt": 7, "completion": 3, "total": 10, "cost": None},
        "latency_ms": 8.5,
        "fields": {"key": "k1"},
        "exception": "Traceback (most recent call last):\nKeyError: 'missing'",
        "task": 1,
    },
    {
        "ts": T0 + 6_000_000,
        "kind": "span",
        "tid": TID,
        "trace_id": TRACE,
        "span_id": "s1",
        "data": {"event": "end", "duration_ms": 15, "error": "KeyError: 'missing'"},
        "task": 1,
    },
    {
        "ts": T0 + 8_000_000,
        "kind": "task_end",
        "tid": TID,
        "name": "evaluate",
        "task_id": 1,
        "error": "KeyError: 'missing'",
    },
]


def line(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def snapshot(header: dict = HEADER, events: list = EVENTS) -> bytes:
    return line(header) + b"".join(line(e) for e in events)


def zstd(header: dict, events: list, checksum: bool = True) -> bytes:
    """As the zstd backend writes: the header frame, then one frame per chunk of 4 events."""
    compressor = zstandard.ZstdCompressor(level=3, write_checksum=checksum)
    header = {**header, "config": {**header["config"], "backend": "zstd"}}
    frames = [compressor.compress(line(header))]
    for i in range(0, len(events), 4):
        frames.append(compressor.compress(b"".join(line(e) for e in events[i : i + 4])))
    return b"".join(frames)


def with_event(index: int, **changes: object) -> list:
    events = [dict(e) for e in EVENTS]
    events[index].update(changes)
    return events


def main() -> None:
    valid = snapshot()
    valid_zstd = zstd(HEADER, EVENTS)
    no_ts = with_event(3)
    del no_ts[3]["ts"]
    files = {
        "valid.jsonl": valid,
        "valid.jsonl.zst": valid_zstd,
        "no-ts.jsonl": snapshot(events=no_ts),
        "mixed-ts.jsonl": snapshot(events=with_event(4, ts="1796500000004000000")),
        "huge-ts.jsonl": snapshot(events=with_event(2, ts=10**30)),
        "float-ts.jsonl": snapshot(events=with_event(2, ts=1.7965e18)),
        "kind-list.jsonl": snapshot(events=with_event(3, kind=["span"])),
        "window-list.jsonl": snapshot(header={**HEADER, "window": [1, 2]}),
        "region-dur-x.jsonl": snapshot(events=with_event(2, dur="x")),
        "data-string.jsonl": snapshot(events=with_event(4, data="gpt-4o")),
        "usage-list.jsonl": snapshot(events=with_event(4, data={"model": "m", "usage": [1, 2]})),
        "threads-list.jsonl": snapshot(header={**HEADER, "threads": ["MainThread"]}),
        "not-utf8.jsonl": valid.replace(b"step failed", b"step \xff\xfe failed"),
        "truncated.jsonl": valid[: len(valid) - 40],
        "truncated.jsonl.zst": valid_zstd[: len(valid_zstd) - 30],
        # A byte of the last frame's data flipped: its checksum no longer matches.
        "corrupt-frame.jsonl.zst": valid_zstd[:-60]
        + bytes([valid_zstd[-60] ^ 0xFF])
        + valid_zstd[-59:],
        "old-no-checksum.jsonl.zst": zstd(HEADER, EVENTS, checksum=False),
        "garbage-after.jsonl.zst": valid_zstd + b"\x00garbage",
        "lone-surrogate.jsonl": valid.replace(b'"step failed"', b'"step \\ud800 failed"'),
        "deep-fields.jsonl": valid.replace(b'{"key":"k1"}', b"[" * 5000 + b"]" * 5000),
        "not-a-snapshot.jsonl": line({"type": "span", "trace_id": TRACE}),
        "empty.jsonl": b"",
    }
    for name, data in files.items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main()
