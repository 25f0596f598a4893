"""The ``zstd`` backend."""

from __future__ import annotations

import io
import threading

import attrs
import zstandard

__all__ = ["ZstdBackend", "ZstdOptions"]


def _level(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 19:
        raise ValueError(f"must be between 1 and 19, got {value}")


@attrs.frozen(kw_only=True)
class ZstdOptions:
    """Options of the ``zstd`` backend."""

    #: Compression level: 1 is fastest, 3 (default) a good balance, up to 19.
    level: int = attrs.field(default=3, validator=_level)


class ZstdBackend:
    """Compresses each chunk into one zstd frame."""

    name = "zstd"
    suffix = ".jsonl.zst"
    background = True

    def __init__(self, options: ZstdOptions | None = None) -> None:
        self.level = (options or ZstdOptions()).level
        self._local = threading.local()

    def seal(self, raw: bytes | bytearray) -> bytes:
        # One compressor per thread: a ZstdCompressor must not be used by two threads at once
        # (sealing runs on the sealer thread, snapshots on theirs), and making a new one for
        # every chunk allocates a compression context while holding the GIL.
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = self._local.compressor = zstandard.ZstdCompressor(level=self.level)
        return compressor.compress(raw)

    def decode(self, data: bytes) -> bytes:
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(data), read_across_frames=True
        )
        return reader.read()
