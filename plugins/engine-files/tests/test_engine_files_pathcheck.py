"""``llmlog_engine_files.check_appendable`` refuses exactly the paths ``FileSink`` cannot open, and
creates nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmlog.testing import threads_started
from llmlog_engine_files import FileSink, check_appendable


def tree(root: Path) -> set[tuple[str, int]]:
    """Every entry under ``root`` with its mode, and the root's own mtime (a file made and removed
    again changes it)."""
    found = {(str(p.relative_to(root)), p.lstat().st_mode) for p in root.rglob("*")}
    return found | {("<mtime>", root.stat().st_mtime_ns)}


def sandbox(root: Path) -> None:
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "file").write_text("x")
    (root / "dir" / "log").write_text("")
    (root / "dangling").symlink_to(root / "dir" / "made-by-link")
    (root / "to-dir").symlink_to(root / "dir")
    (root / "loop").symlink_to(root / "loop")
    (root / "into-missing").symlink_to(root / "nodir" / "x")  # the kernel makes no "nodir"
    (root / "to-new").symlink_to("new")  # relative: a directory once FileSink made "new"


def contained(path: Path, inside: tuple[str, ...]) -> bool:
    """Whether ``path``, written and resolved, stays in one of ``inside`` (a test creates files
    for real: never outside its sandbox)."""
    text = str(path).replace("\0", "-")  # FileSink makes the directories before the name fails
    resolved = (os.path.normpath(text), os.path.realpath(text))
    return all((p + os.sep).startswith(inside) for p in resolved)


PARTS = st.sampled_from(
    [
        *("dir", "sub", "file", "log", "new", "dangling", "to-dir", "loop", "..", "."),
        *("into-missing", "to-new", "a" * 300, "x\0y"),
    ]
)
PLACES = st.sampled_from(["sandbox", "sandbox", "sandbox", "/proc", "/sys"])


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(place=PLACES, parts=st.lists(PARTS, min_size=0, max_size=4))
# A directory made, left by "..", then a file of the same name in another directory: a file.
@example(place="sandbox", parts=["log", "..", "dir", "log"])
@example(place="sandbox", parts=["new", "..", "dir", "new"])
# The same names in the same place: the directory just made.
@example(place="sandbox", parts=["new", "..", "new"])
@example(place="sandbox", parts=["new", "sub", "..", "sub"])
# A link to nothing: opening it makes its target's last name only; a link to a directory that
# FileSink makes earlier in the same path leads to that directory by then.
@example(place="sandbox", parts=["into-missing"])
@example(place="sandbox", parts=["new", "..", "to-new"])
@example(place="sandbox", parts=["new", "..", "to-new", "log"])
def test_check_refuses_what_filesink_cannot_open_and_creates_nothing(tmp_path, place, parts):
    root = tmp_path / "t"
    if not root.exists():
        sandbox(root)
    base = root if place == "sandbox" else Path(place)
    path = base.joinpath(*parts) if parts else base
    if not contained(path, (str(root) + os.sep, "/proc/", "/sys/")):
        return  # only in the sandbox, and where nothing can be created anyway
    top = set(os.listdir("/"))
    before = tree(root)
    with threads_started() as started:
        try:
            check_appendable(path)
            refused = None
        except OSError as exc:
            refused = exc
    assert tree(root) == before and not started
    try:
        try:
            FileSink(path).close()
            opened = True
        except (OSError, ValueError):
            opened = False
        assert opened == (refused is None), (path, refused)
        if refused is not None:  # the message names the path (or the directory it would need)
            message = str(refused.strerror)
            assert any(str(p) in message or repr(str(p)) in message for p in (path, *path.parents))
        assert set(os.listdir("/")) == top, (path, set(os.listdir("/")) - top)
    finally:  # leave the sandbox as it was for the next example
        made = {name for name, _ in tree(root)} - {name for name, _ in before}
        for name in sorted(made, reverse=True):
            target = root / name
            if target.is_dir() and not target.is_symlink():
                target.rmdir()
            else:
                target.unlink()


def test_kernel_filesystems_and_shapes_are_refused_with_the_reason(tmp_path):
    (tmp_path / "file").write_text("")
    cases = {
        "/proc/nope/app.log": "cannot create directory /proc/nope: /proc is on a proc filesystem",
        "/sys/app.log": "cannot open /sys/app.log for appending: /sys is on a sysfs filesystem",
        str(tmp_path / "file" / "x" / "app.log"): f"cannot create directory {tmp_path}/file/x:",
        str(tmp_path): f"{tmp_path} is a directory, not a file",
        str(tmp_path / "nul\0.log"): "is not a usable file name: embedded null byte",
        str(tmp_path / ("a" * 300) / "app.log"): "too long",
    }
    for path, reason in cases.items():
        with pytest.raises(OSError) as info:
            check_appendable(path)
        assert reason in str(info.value.strerror), (path, info.value)
    assert not Path("/proc/nope").exists()
    check_appendable("/dev/null")
    check_appendable(tmp_path / "new" / "deeper" / "app.log")
    assert os.listdir(tmp_path) == ["file"]


def test_an_unwritable_directory_is_refused_for_an_unprivileged_user(tmp_path, unprivileged):
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)  # readable, not writable, by others
        code = (
            "import sys\nfrom llmlog_engine_files import check_appendable\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        check_appendable(p); print('ok')\n"
            "    except OSError as e:\n        print(e.strerror)\n"
        )
        (Path(directory) / "app.log").write_text("")
        done = subprocess.run(
            [
                *unprivileged,
                sys.executable,
                "-c",
                code,
                f"{directory}/new/app.log",
                f"{directory}/app.log",
                "/tmp/app-llmlog-pathcheck/x.log",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert os.listdir(directory) == ["app.log"]
    assert done.stdout.splitlines() == [
        f"cannot create directory {directory}/new: {directory} is not writable",
        f"cannot open {directory}/app.log for appending: Permission denied",
        "ok",  # /tmp is writable by everyone
    ], done.stderr


def test_a_file_rotated_away_while_it_is_checked_is_still_appendable(tmp_path):
    """Another process rotates the file (renames it, then makes a new one) while ``configure()``
    checks it: whether the check finds the old file, no file or the new one, FileSink could open
    the path, and the check says so (it raced: four processes configuring one file failed)."""
    import subprocess
    import sys
    import time

    path, stop = tmp_path / "shared.log", tmp_path / "stop"
    path.write_text("")
    rotator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys\n"
            "path, stop = sys.argv[1], sys.argv[2]\n"
            "while not os.path.exists(stop):\n"
            "    os.replace(path, path + '.1')\n"
            "    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))\n",
            str(path),
            str(stop),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "shared.log.1").exists():  # rotating
            assert time.monotonic() < deadline and rotator.poll() is None
            time.sleep(0.01)
        for _ in range(20_000):
            check_appendable(path)
    finally:
        stop.touch()
        rotator.wait(timeout=30)
