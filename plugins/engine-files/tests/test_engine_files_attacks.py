"""The file output's promises under attack: processes, threads, rotation by size and by time,
compression, retention and SIGKILL together, through ``attack_files.py`` (the same script gives
the figures in the documentation). Every acknowledged entry must be in exactly one file, every
compressed file whole, no line torn or glued to another, no temporary left, nothing in the lock
file, and no problem reported for what is only a normal race between processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ATTACK = Path(__file__).with_name("attack_files.py")


def attack(directory: Path, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(ATTACK), str(directory), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_kept(result: dict[str, object]) -> None:
    assert result["acknowledged"] > 0
    for key in (
        "missing",
        "duplicated",
        "torn_lines",
        "glued_lines",
        "corrupt_compressed",
        "entries_in_lock_file",
        "temporary_files_left",
    ):
        assert result[key] == 0, (key, result)
    assert result["reports"] == {}, result


@pytest.mark.parametrize(
    ("compress", "rotation"),
    [
        ("gzip", ["--max-bytes", "64KiB"]),
        pytest.param("zstd", ["--max-bytes", "64KiB"], marks=pytest.mark.slow),
        pytest.param("none", ["--max-bytes", "64KiB"], marks=pytest.mark.slow),
        pytest.param("gzip", ["--max-bytes", "0", "--when", "tick"], marks=pytest.mark.slow),
    ],
    ids=["size-gzip", "size-zstd", "size-plain", "time-gzip"],
)
@pytest.mark.slow
def test_processes_and_threads_through_rotation_lose_nothing(tmp_path, compress, rotation):
    result = attack(
        tmp_path / "run",
        "--seconds", "2", "--processes", "3", "--threads", "3",
        "--compress", compress, *rotation,
    )  # fmt: skip
    assert_kept(result)
    assert result["rotated_files_left"] > 3  # it did rotate, many times


@pytest.mark.slow
def test_sigkill_at_any_moment_loses_no_acknowledged_entry(tmp_path):
    # Writers are killed mid-write, mid-rotation and mid-compression, and replaced.
    result = attack(
        tmp_path / "run",
        "--seconds", "4", "--processes", "3", "--threads", "2",
        "--max-bytes", "64KiB", "--compress", "gzip", "--kill-every", "0.6",
    )  # fmt: skip
    assert result["killed"] >= 3
    assert_kept(result)


@pytest.mark.slow
def test_a_slow_writer_that_notices_rotations_late_loses_nothing(tmp_path):
    # One line a second: it appends to a file the others have rotated for up to a second, and
    # that file must not be compressed or deleted under it.
    result = attack(
        tmp_path / "run",
        "--seconds", "5", "--processes", "2", "--threads", "2",
        "--max-bytes", "64KiB", "--compress", "gzip", "--slow-writers", "1",
    )  # fmt: skip
    assert_kept(result)


@pytest.mark.slow
def test_retention_and_compression_agree_and_finish_at_exit(tmp_path):
    directory = tmp_path / "run"
    result = attack(
        directory,
        "--seconds", "2", "--processes", "3", "--threads", "2",
        "--max-bytes", "64KiB", "--compress", "gzip", "--max-files", "3",
    )  # fmt: skip
    assert result["reports"] == {} and result["temporary_files_left"] == 0
    rotated = sorted(p.name for p in directory.iterdir() if p.name.startswith("app.2"))
    assert len(rotated) == 3 and all(name.endswith(".log.gz") for name in rotated), rotated


@pytest.mark.slow
@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_the_full_attack(tmp_path, compress):
    # The outside attack's shape: 4 processes x 4 threads, 256 KiB files, 8 s (60 s in the
    # documented figures), then kills on top.
    result = attack(
        tmp_path / "run",
        "--seconds", "8", "--processes", "4", "--threads", "4",
        "--max-bytes", "256KiB", "--compress", compress,
    )  # fmt: skip
    assert_kept(result)
    result = attack(
        tmp_path / "killed",
        "--seconds", "8", "--processes", "3", "--threads", "3",
        "--max-bytes", "64KiB", "--compress", compress, "--kill-every", "0.4",
        "--slow-writers", "1",
    )  # fmt: skip
    assert result["killed"] >= 8
    assert_kept(result)
