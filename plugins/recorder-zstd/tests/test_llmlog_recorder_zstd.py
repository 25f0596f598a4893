"""The zstd backend's own contract: frames that zstd reads, and a decoder that finds damage frame
by frame, in bounded pieces."""

import io
import shutil
import subprocess

import pytest
import zstandard

from llmlog_recorder_zstd import ZstdBackend
from llmlog_recorder_zstd.backend import MAX_WINDOW

CHUNKS = [b'{"a":1}\n{"a":2}\n', b'{"b":3}\n', b"x" * 300_000 + b"\n"]


def snapshot(backend):
    return b"".join(backend.seal(chunk) for chunk in CHUNKS)


def decoded(data, skipped=None):
    return b"".join(ZstdBackend().decode(io.BytesIO(data), skipped))


def test_sealed_chunks_are_zstd_frames_with_checksums_that_decode_back():
    data = snapshot(ZstdBackend())
    assert zstandard.get_frame_parameters(data).has_checksum
    assert decoded(data) == b"".join(CHUNKS)
    if shutil.which("zstd"):
        done = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True)
        assert done.stdout == b"".join(CHUNKS)


def test_pieces_are_bounded_whatever_a_frame_expands_to():
    bomb = zstandard.ZstdCompressor(level=19).compress(b"a" * (64 << 20))
    assert len(bomb) < 8 << 10
    sizes = [len(piece) for piece in ZstdBackend().decode(io.BytesIO(bomb))]
    assert sum(sizes) == 64 << 20 and max(sizes) <= 1 << 16


def test_a_damaged_frame_is_told_apart_from_the_frames_around_it():
    backend = ZstdBackend()
    frames = [backend.seal(chunk) for chunk in CHUNKS]
    broken = bytearray(frames[1])
    broken[-6] ^= 0xFF  # its content: the checksum no longer matches
    data = frames[0] + bytes(broken) + frames[2]
    with pytest.raises(ValueError, match=rf"byte {len(frames[0])}: a damaged frame"):
        decoded(data)
    skipped = []
    assert decoded(data, skipped) == CHUNKS[0] + CHUNKS[2]
    (message,) = skipped
    assert message.startswith(f"byte {len(frames[0])}: a damaged frame (zstd decompress error:")


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (-3, "a frame cut short (a truncated file)"),
        (b"\x00junk", "not a zstd frame (damaged data, or not a snapshot)"),
        (b"\x28\xb5\x2f", "not a zstd frame (damaged data, or not a snapshot)"),
    ],
)
def test_a_file_cut_short_or_followed_by_junk_keeps_what_came_before(tail, message):
    data = snapshot(ZstdBackend())
    end = len(data) + tail if isinstance(tail, int) else len(data)
    damaged = data[:end] if isinstance(tail, int) else data + tail
    skipped = []
    out = decoded(damaged, skipped)
    assert out.startswith(CHUNKS[0] + CHUNKS[1]) and len(skipped) == 1
    assert skipped[0].endswith(message)
    with pytest.raises(ValueError, match="byte "):
        decoded(damaged)


def test_skippable_frames_are_passed_over_and_big_windows_refused():
    skippable = (0x184D2A50).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"hello"
    data = snapshot(ZstdBackend())
    assert decoded(skippable + data) == b"".join(CHUNKS)
    params = zstandard.ZstdCompressionParameters(window_log=26, enable_ldm=True)
    wide = zstandard.ZstdCompressor(compression_params=params).compress(b"y" * (80 << 20))
    assert zstandard.get_frame_parameters(wide).window_size > MAX_WINDOW
    with pytest.raises(ValueError, match="a damaged frame .*too much memory"):
        decoded(wide)
