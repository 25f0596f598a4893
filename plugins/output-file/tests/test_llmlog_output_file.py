"""The ``file`` output: the output contract, its TOML options, its errors at configure time and
its default path. The file machinery under it is tested in ``plugins/engine-files/tests``."""

import gzip
import textwrap

import pytest
import zstandard

import llmlog
from llmlog import ConfigError
from llmlog.testing import check_output
from llmlog_engine_files import rotated_files
from llmlog_formatter_json import JsonFormatter
from llmlog_output_file import FileOptions, FileOutput, RotationOptions


def all_lines(path):
    """Every line of the live file and its rotated (possibly compressed) files, oldest first."""
    lines = []
    for f in [*rotated_files(path), path]:
        if not f.exists():
            continue
        if f.suffix == ".gz":
            data = gzip.decompress(f.read_bytes())
        elif f.suffix == ".zst":
            data = zstandard.ZstdDecompressor().decompressobj().decompress(f.read_bytes())
        else:
            data = f.read_bytes()
        lines += data.decode().splitlines()
    return lines


@pytest.mark.parametrize(
    "options",
    [
        FileOptions(),
        FileOptions(buffer_size=4096),
        FileOptions(rotation=RotationOptions(max_bytes=20_000)),
        FileOptions(buffer_size=8192, rotation=RotationOptions(max_bytes=30_000, compress="gzip")),
    ],
    ids=["unbuffered", "buffered", "rotating", "buffered-rotating-gzip"],
)
def test_conformance(tmp_path, options):
    counter = iter(range(1000))
    current = {}

    def make():
        current["path"] = tmp_path / f"run{next(counter)}" / "app.log"
        return FileOutput(current["path"], JsonFormatter(), options)

    check_output(make, lambda: all_lines(current["path"]))


def test_configure_time_faults_name_the_path(tmp_path, read_only_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = {
        "under_a_file": str(blocker / "sub" / "app.log"),
        "is_a_directory": str(tmp_path),
        "read_only": str(read_only_dir / "app.log"),
    }
    with pytest.raises(ConfigError) as info:
        llmlog.configure(
            {"outputs": {name: {"type": "file", "path": p} for name, p in cases.items()}}
        )
    errors = info.value.errors
    assert len(errors) == 3
    assert errors[0].startswith(
        f"cannot create output 'under_a_file': cannot create directory {blocker / 'sub'}"
    )
    assert (
        errors[1]
        == f"cannot create output 'is_a_directory': {tmp_path} is a directory, not a file @ $.outputs.is_a_directory.path"
    )
    assert errors[2].startswith(
        f"cannot create output 'read_only': cannot open {read_only_dir / 'app.log'} for appending: "
    )
    assert errors[2].endswith("@ $.outputs.read_only.path")
    assert all(e.endswith(".path") for e in errors)  # the option at fault


def test_toml_options_and_error_paths(tmp_path):
    (tmp_path / "llmlog.toml").write_text(
        textwrap.dedent(
            """
            [outputs.file]
            path = "logs/app.jsonl"
            buffer_size = 65536
            flush_interval = 0.5
            fsync = "flush"
            mode = 0o640
            formatter = "logfmt"
            [outputs.file.rotation]
            max_bytes = 10485760
            max_files = 7
            when = "daily"
            compress = "gzip"
            """
        )
    )
    config = llmlog.configure()
    options = config.outputs["file"].options
    assert options == FileOptions(
        path="logs/app.jsonl",
        buffer_size=65536,
        flush_interval=0.5,
        fsync="flush",
        mode=0o640,
        rotation=RotationOptions(max_bytes=10485760, max_files=7, when="daily", compress="gzip"),
    )
    llmlog.get_logger().error("relative to the config file")
    llmlog.shutdown()
    assert 'msg="relative to the config file"' in (tmp_path / "logs" / "app.jsonl").read_text()

    with pytest.raises(ConfigError) as info:
        llmlog.configure(
            {
                "outputs": {
                    "file": {
                        "mode": 0o1777,
                        "rotation": {"max_bytes": -1, "when": "weekly", "maxfiles": 3},
                    }
                }
            }
        )
    assert info.value.errors == [
        "must be permission bits between 0o000 and 0o777 (write 0o600 in TOML, not 600), got 0o1777 (1023) @ $.outputs.file.mode",
        "expected one of 'never', 'hourly', 'daily', got 'weekly' @ $.outputs.file.rotation.when",
        "unknown key 'maxfiles'; valid keys: max_bytes, max_files, when, compress @ $.outputs.file.rotation",
        "must be 0 or more, got -1 @ $.outputs.file.rotation.max_bytes",
    ]


def test_default_path_is_in_the_user_log_dir(tmp_path, monkeypatch):
    from llmlog_output_file import default_log_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_log_path() == tmp_path / "state" / "llmlog" / "log" / "llmlog.log"
    llmlog.configure({"outputs": {"file": {}}})
    llmlog.get_logger().warn("default place")
    llmlog.shutdown()
    assert "default place" in default_log_path().read_text()


@pytest.mark.parametrize("buffer_size", [0, 1024])
def test_entries_written_as_parts_rotate_at_the_configured_size(tmp_path, buffer_size):
    # The logger hands entries to the output's per-entry function (no LogEntry); the sink's
    # byte budget must still rotate before a file grows past max_bytes, losing no line.
    path = tmp_path / "app.log"
    out = FileOutput(
        path,
        JsonFormatter(),
        FileOptions(buffer_size=buffer_size, rotation=RotationOptions(max_bytes=4000)),
    )
    log = llmlog.Logger(llmlog.Severity.INFO, [out])
    assert log.dispatcher.makers[llmlog.Severity.INFO] == out.write_parts
    for i in range(500):
        log.info("entry", i=i, pad="x" * (i % 50))
    out.close()
    files = [*rotated_files(path), path]
    assert len(files) > 5
    assert all(f.stat().st_size <= 4000 for f in files)
    assert [int(line.split('"i":')[1].split(",")[0]) for line in all_lines(path)] == list(
        range(500)
    )


def test_entries_written_as_parts_rotate_when_the_hour_changes(tmp_path, monkeypatch):
    from llmlog_engine_files import locks, rotation

    period = {"value": "2026112517"}
    monkeypatch.setattr(rotation, "_period", lambda when, seconds: period["value"])
    path = tmp_path / "app.log"
    out = FileOutput(path, JsonFormatter(), FileOptions(rotation=RotationOptions(when="hourly")))
    log = llmlog.Logger(llmlog.Severity.INFO, [out])
    log.info("hour 17")
    period["value"] = "2026112518"
    monkeypatch.setattr(locks, "CHECK_SECONDS", 0.0)
    out.sink._checked()  # a check window of no length: the next entry looks at the clock period
    log.info("hour 18")
    out.close()
    (old,) = rotated_files(path)
    assert b"hour 17" in old.read_bytes() and b"hour 18" not in old.read_bytes()
    assert b"hour 18" in path.read_bytes()


def test_an_entry_with_an_old_time_is_written_by_the_fast_path(tmp_path):
    # log_record entries keep their own time; one from long ago must not send every line to the
    # locked path (the fast path asks the clock instead) and is written like any other.
    path = tmp_path / "app.log"
    out = FileOutput(path, JsonFormatter(), FileOptions())
    log = llmlog.Logger(llmlog.Severity.INFO, [out])
    log.info("now")
    locked = []
    original = out.sink._locked
    out.sink._locked = lambda *args: locked.append(args) or original(*args)
    for i in range(10):
        log.log_record(llmlog.Severity.INFO, "replayed", time_ns=10**18 + i, file="f.py", line=i)
    out.close()
    assert locked == []
    assert len(path.read_bytes().splitlines()) == 11
