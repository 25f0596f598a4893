"""Reading flight-recorder snapshots (``.jsonl`` from ``memory``, ``.jsonl.zst`` from ``zstd``)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

__all__ = ["Snapshot", "SnapshotError", "read_header", "read_snapshot"]

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class SnapshotError(ValueError):
    """A snapshot that cannot be read; the message names ``file:line``."""


@attrs.frozen
class Snapshot:
    """A snapshot read back: its header and its events, oldest first."""

    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]]


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        if magic == _ZSTD_MAGIC:
            try:
                import zstandard
            except ImportError:
                raise SnapshotError(
                    f"{path}: a zstd snapshot; reading it needs the zstandard package "
                    "(pip install llmlog-recorder-zstd), or run: zstd -dc FILE"
                ) from None
            stream = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
            yield from io.BufferedReader(stream)
        else:
            yield from fh


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Only the header line of a snapshot (cheap: the rest is not read or decompressed).

    :raises SnapshotError: when the file is unreadable or its first line is not a header.
    """
    p = Path(path)
    try:
        for raw in _lines(p):
            if raw.strip():
                header = orjson.loads(raw)
                if isinstance(header, dict) and header.get("format") == "llmlog-flight":
                    return header
                break
    except SnapshotError:
        raise
    except OSError as exc:
        raise SnapshotError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:
        raise SnapshotError(f"{p}:1: not a snapshot header ({exc})") from None
    raise SnapshotError(f"{p}:1: not an llmlog flight-recorder snapshot (no header line)")


def read_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Read a snapshot; :class:`SnapshotError` names ``file:line`` of a line that is not JSON."""
    p = Path(path)
    header: dict[str, Any] | None = None
    events: list[dict[str, Any]] = []
    try:
        for number, raw in enumerate(_lines(p), start=1):
            if not raw.strip():
                continue
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise SnapshotError(f"{p}:{number}: not a JSON line ({exc})") from None
            if not isinstance(event, dict):
                raise SnapshotError(
                    f"{p}:{number}: expected a JSON object, got {type(event).__name__}"
                )
            if event.get("kind") == "header" and header is None:
                header = event
            else:
                events.append(event)
    except OSError as exc:
        raise SnapshotError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"{p}: cannot decode: {exc}") from None
    if header is None or header.get("format") != "llmlog-flight":
        raise SnapshotError(f"{p}:1: not an llmlog flight-recorder snapshot (no header line)")
    events.sort(key=lambda e: e.get("ts", 0))
    return Snapshot(p, header, events)
