"""The ``zstd`` backend."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import BinaryIO, cast

import attrs
import zstandard

__all__ = ["MAX_WINDOW", "ZstdBackend", "ZstdOptions"]

#: The largest window a snapshot frame may ask for when read (bytes): level 19, the highest this
#: backend writes, uses 8 MiB.
MAX_WINDOW = 8 << 20
#: Decoded bytes handed on at a time.
_PIECE = 1 << 16

_MAGIC = b"\x28\xb5\x2f\xfd"
_SKIPPABLE = range(0x184D2A50, 0x184D2A60)


def _level(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 19:
        raise ValueError(f"must be between 1 and 19, got {value}")


@attrs.frozen(kw_only=True)
class ZstdOptions:
    """Options of the ``zstd`` backend."""

    #: Compression level: 1 is fastest, 3 (default) a good balance, up to 19.
    level: int = attrs.field(default=3, validator=_level)


class _Damaged(ValueError):
    """A frame that cannot be decoded; the message says where and why."""


def _frame_size(stream: BinaryIO, offset: int, end: int) -> tuple[int, bool]:
    """``(size, skippable)`` of the frame at ``offset``, from its header and block headers
    (RFC 8878), without decoding it.

    :raises _Damaged: when the bytes there are no frame, or the frame runs past ``end``.
    """
    stream.seek(offset)
    head = stream.read(18)  # the longest frame header
    magic = int.from_bytes(head[:4], "little")
    if len(head) >= 8 and magic in _SKIPPABLE:
        size = 8 + int.from_bytes(head[4:8], "little")
        skippable = True
    elif head[:4] == _MAGIC:
        try:
            size = zstandard.frame_header_size(head)
            checksum = zstandard.get_frame_parameters(head).has_checksum
        except zstandard.ZstdError:
            raise _Damaged("a frame header cut short") from None
        while True:
            stream.seek(offset + size)
            block = stream.read(3)
            if len(block) < 3:
                raise _Damaged("a frame cut short (a truncated file)")
            bits = int.from_bytes(block, "little")
            kind = (bits >> 1) & 3
            if kind == 3:
                raise _Damaged("a block of the reserved type (damaged data)")
            size += 3 + (1 if kind == 1 else bits >> 3)  # an RLE block stores one byte
            if bits & 1:  # the frame's last block
                break
        size += 4 if checksum else 0
        skippable = False
    else:
        raise _Damaged("not a zstd frame (damaged data, or not a snapshot)")
    if offset + size > end:
        raise _Damaged("a frame cut short (a truncated file)")
    return size, skippable


class _Slice:
    """``length`` bytes of ``stream`` from its current position (one frame, for its reader)."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        wanted = self._left if size < 0 else min(size, self._left)
        data = self._stream.read(wanted)
        self._left -= len(data)
        return data


class ZstdBackend:
    """Compresses each chunk into one zstd frame (with a checksum: damage is found, not read)."""

    name = "zstd"
    suffix = ".jsonl.zst"
    background = True
    #: The zstd frame magic: a snapshot is concatenated zstd frames.
    magic = _MAGIC

    def __init__(self, options: ZstdOptions | None = None) -> None:
        self.level = (options or ZstdOptions()).level
        self._local = threading.local()

    def seal(self, raw: bytes | bytearray) -> bytes:
        # One compressor per thread: a ZstdCompressor must not be used by two threads at once
        # (sealing runs on the sealer thread, snapshots on theirs), and making a new one for
        # every chunk allocates a compression context while holding the GIL.
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = self._local.compressor = zstandard.ZstdCompressor(
                level=self.level, write_checksum=True
            )
        return compressor.compress(raw)

    def decode(self, stream: BinaryIO, skipped: list[str] | None = None) -> Iterator[bytes]:
        """The frames of ``stream`` decompressed, frame by frame, in pieces of at most 64 KiB:
        memory stays bounded however far a frame expands, and a frame asking for a window over
        :data:`MAX_WINDOW` (more than any level this backend writes) is refused, not allocated.

        Each frame's extent is found from its block headers before it is decoded, so a damaged
        frame is told apart from the ones around it: it raises ``ValueError``, or, given
        ``skipped``, its message is appended there and decoding goes on with the next frame.
        A file cut short inside a frame is reported the same way.
        """
        end = stream.seek(0, os.SEEK_END)
        decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
        offset = 0
        while offset < end:
            try:
                size, skippable = _frame_size(stream, offset, end)
            except _Damaged as exc:
                # Where the next frame starts is unknown: nothing after this can be read.
                message = f"byte {offset}: {exc}"
                if skipped is None:
                    raise ValueError(message) from None
                skipped.append(message)
                return
            if not skippable:
                stream.seek(offset)
                reader = decompressor.stream_reader(
                    cast(BinaryIO, _Slice(stream, size)), read_across_frames=False, closefd=False
                )
                try:
                    while piece := reader.read(_PIECE):
                        yield piece
                except zstandard.ZstdError as exc:
                    message = f"byte {offset}: a damaged frame ({exc})"
                    if skipped is None:
                        raise ValueError(message) from None
                    skipped.append(message)
            offset += size
