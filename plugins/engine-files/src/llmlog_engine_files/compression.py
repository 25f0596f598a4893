"""Compressing a rotated file: one small class per method, its module imported only when a
policy asks for it."""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["Compression", "Compressor", "compressor"]

Compression = Literal["none", "gzip", "zstd"]


class Compressor(Protocol):
    """Writes a compressed copy of one file into another."""

    #: Appended to the compressed file's name.
    suffix: str

    def __call__(self, source: int, target: int) -> None:
        """Compress what can be read from descriptor ``source`` into descriptor ``target``
        (neither is closed)."""


class Gzip:
    """gzip, level 9 (the module's default), with no timestamp in the header."""

    suffix = ".gz"

    def __init__(self) -> None:
        import gzip
        import shutil

        self._gzip, self._shutil = gzip, shutil

    def __call__(self, source: int, target: int) -> None:
        with (
            open(source, "rb", closefd=False) as fin,
            open(target, "wb", closefd=False) as raw,
            self._gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fout,
        ):
            self._shutil.copyfileobj(fin, fout, 1 << 20)


class Zstd:
    """Zstandard, level 3, with the frame's content checksum (as ``zstd`` writes by default), so
    a damaged part is an error when read, never other bytes taken for the log.

    :raises ValueError: when the ``zstandard`` package is not installed.
    """

    suffix = ".zst"

    def __init__(self) -> None:
        try:
            import zstandard
        except ImportError:
            raise ValueError(
                'compress = "zstd" needs the zstandard package (pip install zstandard, or the '
                "llmlog zstd recorder plugin)"
            ) from None
        self._zstandard = zstandard

    def __call__(self, source: int, target: int) -> None:
        with (
            open(source, "rb", closefd=False) as fin,
            open(target, "wb", closefd=False) as fout,
        ):
            self._zstandard.ZstdCompressor(level=3, write_checksum=True).copy_stream(fin, fout)


def compressor(kind: Compression) -> Compressor | None:
    """The compressor for ``kind``; ``None`` for ``"none"``.

    :raises ValueError: when ``kind`` needs a package that is not installed.
    """
    if kind == "gzip":
        return Gzip()
    if kind == "zstd":
        return Zstd()
    return None
