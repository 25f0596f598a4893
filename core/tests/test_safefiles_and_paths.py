"""``llmlog.safefiles`` (modes from the first byte, no reuse, no symlink, atomic replacement) and
``llmlog.config.paths.config_relative``, on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmlog.config.paths import config_relative
from llmlog.safefiles import DIRECTORY_MODE, create_new, make_private_dirs, written_atomically


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_private_dirs_get_their_mode_parents_included(tmp_path, umask_022):
    target = tmp_path / "a" / "b" / "c"
    make_private_dirs(target)
    for path in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert mode(path) == DIRECTORY_MODE == 0o700
    make_private_dirs(target)  # existing: left as is
    (tmp_path / "shared").mkdir(mode=0o755)
    make_private_dirs(tmp_path / "shared" / "x", 0o750)
    assert mode(tmp_path / "shared") == 0o755 and mode(tmp_path / "shared" / "x") == 0o750


def test_a_file_in_the_way_of_a_directory_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="a file is in the way"):
        make_private_dirs(tmp_path / "file" / "sub")


def test_an_uncreatable_directory_is_named():
    # Nobody, root included, creates a directory in /proc.
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    with pytest.raises(OSError, match="cannot create directory /proc/llmlog-test: "):
        make_private_dirs("/proc/llmlog-test/sub")


def test_create_new_sets_the_mode_and_refuses_what_exists(tmp_path, umask_022):
    path = tmp_path / "new.log"
    fd = create_new(path, 0o640)
    os.write(fd, b"data")
    os.close(fd)
    assert mode(path) == 0o640 and path.read_bytes() == b"data"
    with pytest.raises(FileExistsError):
        create_new(path, 0o600)
    link = tmp_path / "link.log"
    link.symlink_to(tmp_path / "target-that-does-not-exist")
    with pytest.raises(FileExistsError):
        create_new(link, 0o600)  # a planted symlink is never followed
    assert not (tmp_path / "target-that-does-not-exist").exists()


def test_written_atomically_replaces_the_file_whole(tmp_path, umask_022):
    target = tmp_path / "out" / "report.md"
    with written_atomically(target) as fh:
        fh.write(b"first")
    assert target.read_bytes() == b"first" and mode(target) == 0o600
    assert mode(tmp_path / "out") == 0o700
    with written_atomically(target, 0o644) as fh:
        fh.write(b"second")
    assert target.read_bytes() == b"second" and mode(target) == 0o644
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.md"]


def test_a_failed_atomic_write_leaves_the_old_file_and_nothing_else(tmp_path):
    target = tmp_path / "report.md"
    target.write_bytes(b"old")

    def write_half():
        with written_atomically(target) as fh:
            fh.write(b"partial")
            raise RuntimeError("half way")

    with pytest.raises(RuntimeError, match="half way"):
        write_half()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    fresh = tmp_path / "fresh.md"
    with pytest.raises(RuntimeError), written_atomically(fresh):
        raise RuntimeError("before any byte")
    assert not fresh.exists() and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_config_relative_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = tmp_path / "project" / "llmlog.toml"
    default = tmp_path / "default"
    assert config_relative("", config, default) == default
    assert config_relative("logs", config, default) == tmp_path / "project" / "logs"
    assert config_relative("logs", None, default) == Path("logs")
    assert config_relative("/abs/logs", config, default) == Path("/abs/logs")
    assert config_relative("~/logs", config, default) == tmp_path / "home" / "logs"
