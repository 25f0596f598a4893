"""llmlog's ``zstd`` flight-recorder backend.

Each sealed chunk becomes one zstd frame of JSON Lines, compressed on the recorder's sealer thread
(python-zstandard releases the GIL while compressing), so the writer only pays for serialising.
A snapshot is the frames concatenated: one valid zstd stream that ``zstd -dc`` turns into JSON Lines.
The same memory holds about 3 to 4 times more history than the ``memory`` backend.
"""

from llmlog_recorder_zstd.backend import ZstdBackend, ZstdOptions

__all__ = ["ZstdBackend", "ZstdOptions"]
