"""``FileSink`` and ``TraceOutput``: rotation, retention, compression, buffering, kills, processes,
threads, signals, forks, disk faults and file modes, driven directly and through the ``file``
output."""

import errno
import gzip
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import zstandard

import llmlog_engine_files.locks as locks
import llmlog_engine_files.rotation as rotation
import llmlog_engine_files.sink as sink_module
from llmlog import Severity
from llmlog.testing import make_entry
from llmlog_engine_files import FileSink, RotationPolicy, TraceOutput, rotated_files
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


def test_creates_private_directory_and_file_and_appends(tmp_path):
    path = tmp_path / "new" / "deeper" / "app.log"
    out = FileOutput(path, JsonFormatter())
    out.write(make_entry("one"))
    out.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    out = FileOutput(path, JsonFormatter(), FileOptions(mode=0o640))
    assert out.sink._size == path.stat().st_size  # the current size is counted
    out.write(make_entry("two"))
    out.close()
    assert [json.loads(x)["message"] for x in path.read_text().splitlines()] == ["one", "two"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # an existing file keeps its mode
    fresh = tmp_path / "other.log"
    FileOutput(fresh, JsonFormatter(), FileOptions(mode=0o640)).close()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640


def test_size_rotation_retention_and_names(tmp_path):
    path = tmp_path / "app.log"
    unrelated = [tmp_path / "app.log.old", tmp_path / "app.logger", tmp_path / "app.2020.log"]
    for f in unrelated:
        f.write_text("keep me")
    sink = FileSink(path, rotation=RotationPolicy(max_bytes=1000, max_files=3))
    for i in range(200):
        sink.write(b'{"n":%d,"pad":"%s"}' % (i, b"x" * 60))
    sink.close()
    rotated = rotated_files(path)
    assert len(rotated) == 3  # exactly the newest max_files
    assert all(f.exists() for f in unrelated)
    numbers = [json.loads(x)["n"] for x in all_lines(path)]
    assert numbers == list(
        range(200 - len(numbers), 200)
    )  # the newest, in order, nothing missing in between
    assert all(f.stat().st_size <= 1000 for f in [*rotated, path])
    assert sink.stats()["rotations"] > 10


def test_rotations_in_the_same_second_never_collide(tmp_path):
    path = tmp_path / "app.log"
    sink = FileSink(path, rotation=RotationPolicy(max_bytes=100))
    for i in range(300):
        sink.write(b"%05d" % i + b"y" * 90)
    sink.close()
    assert sink.stats()["rotations"] == 299
    assert len(rotated_files(path)) == 299
    assert [int(x[:5]) for x in all_lines(path)] == list(range(300))


def test_an_entry_larger_than_max_bytes_does_not_rotate_an_empty_file(tmp_path):
    path = tmp_path / "app.log"
    sink = FileSink(path, rotation=RotationPolicy(max_bytes=100))
    sink.write(b"z" * 500)
    sink.close()
    assert rotated_files(path) == []
    assert path.read_bytes() == b"z" * 500 + b"\n"


def test_time_rotation(tmp_path, monkeypatch):
    period = {"value": "2026112517"}
    monkeypatch.setattr(rotation, "_period", lambda when, seconds: period["value"])
    path = tmp_path / "app.log"
    sink = FileSink(path, rotation=RotationPolicy(when="hourly"))
    sink.write(b"hour 17")
    period["value"] = "2026112518"
    monkeypatch.setattr(locks, "CHECK_SECONDS", 0.0)
    sink._check_hi = 0
    sink.write(b"hour 18")
    sink.close()
    (old,) = rotated_files(path)
    assert old.read_bytes() == b"hour 17\n"
    assert path.read_bytes() == b"hour 18\n"


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_compression_of_rotated_files(tmp_path, compress):
    path = tmp_path / "app.log"
    sink = FileSink(path, rotation=RotationPolicy(max_bytes=2000, max_files=2, compress=compress))
    for i in range(100):
        sink.write(b"line %03d " % i + b"w" * 50)
    sink.close()
    rotated = rotated_files(path)
    assert len(rotated) == 2
    assert all(f.suffix == (".gz" if compress == "gzip" else ".zst") for f in rotated)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in rotated)
    lines = all_lines(path)
    assert [int(x.split()[1]) for x in lines] == list(range(100 - len(lines), 100))
    assert not list(tmp_path.glob("*.tmp"))


def test_buffered_mode_flushes_at_error_and_close(tmp_path):
    path = tmp_path / "app.log"
    # An interval no test run reaches: what is in the file here is the error's doing alone.
    out = FileOutput(path, JsonFormatter(), FileOptions(buffer_size=1 << 20, flush_interval=3600))
    out.write(make_entry("buffered"))
    assert path.read_bytes() == b""
    out.write(make_entry("error flushes", Severity.ERROR))
    assert [json.loads(x)["message"] for x in path.read_text().splitlines()] == [
        "buffered",
        "error flushes",
    ]
    out.write(make_entry("closed"))
    assert "closed" not in path.read_text()
    out.close()
    assert path.read_text().splitlines()[-1].find('"closed"') > 0


def test_buffered_mode_flushes_within_the_interval(tmp_path):
    path = tmp_path / "app.log"
    out = FileOutput(path, JsonFormatter(), FileOptions(buffer_size=1 << 20, flush_interval=0.2))
    out.write(make_entry("waits at most the interval"))
    deadline = time.monotonic() + 30  # the interval is 0.2 s; a loaded machine may take longer
    while "waits" not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "waits at most the interval" in path.read_text()
    out.close()


KILLED = textwrap.dedent(
    """
    import os, signal, sys, llmlog
    llmlog.configure({"outputs": {"file": {"path": sys.argv[1], "buffer_size": int(sys.argv[2])}}})
    log = llmlog.get_logger()
    for i in range(500):
        log.info("entry %d", i)
    if sys.argv[3] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_unbuffered_entries_survive_kill_9(tmp_path):
    path = tmp_path / "app.log"
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(path), "0", "kill"], capture_output=True
    )
    assert done.returncode == -signal.SIGKILL
    assert len(path.read_text().splitlines()) == 500


def test_buffered_entries_are_flushed_at_exit(tmp_path):
    path = tmp_path / "app.log"
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(path), "1000000", "exit"], capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert len(path.read_text().splitlines()) == 500


WRITER = textwrap.dedent(
    """
    import sys, llmlog
    path, who, count, buffer = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    llmlog.configure({"outputs": {"file": {"path": path, "buffer_size": buffer,
                      "rotation": {"max_bytes": 60000}}}})
    log = llmlog.get_logger()
    for i in range(count):
        log.info("w", who=who, i=i, pad="p" * (i % 200))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("buffer", [0, 16384])
def test_many_processes_and_a_rotation_lose_and_tear_nothing(tmp_path, buffer):
    path = tmp_path / "shared.log"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}", "2000", str(buffer)])
        for n in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    records = [json.loads(line) for line in all_lines(path)]  # every line parses: none torn
    assert len(records) == 8000
    for n in range(4):
        mine = [r["i"] for r in records if r["who"] == f"p{n}"]
        assert sorted(mine) == list(range(2000))
    assert len(rotated_files(path)) > 5


def test_many_threads_lose_and_tear_nothing(tmp_path):
    path = tmp_path / "threads.log"
    out = FileOutput(path, JsonFormatter(), FileOptions(rotation=RotationOptions(max_bytes=50_000)))

    def work(t):
        for i in range(1000):
            out.write(make_entry("t", fields={"t": t, "i": i}))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()
    records = [json.loads(line) for line in all_lines(path)]
    assert sorted((r["t"], r["i"]) for r in records) == [
        (t, i) for t in range(4) for i in range(1000)
    ]


def _ids(text: str) -> list[int]:
    return [int(m) for m in re.findall(r'"message":"entry (\d+)"', text)]


@pytest.mark.parametrize("buffer", [0, 2048])
def test_disk_full_for_real_loses_nothing_and_recovers(tiny_fs, capfd, buffer):
    # A real full disk: every entry ends up whole in the file or whole on stderr, exactly once;
    # a line the disk cut is ended before the next one; once space is freed, writing goes back
    # to the file.
    filler = tiny_fs / "filler"
    filler.write_bytes(b"f" * 24 * 1024)
    path = tiny_fs / "app.log"
    out = FileOutput(path, JsonFormatter(), FileOptions(buffer_size=buffer))
    out.name = "file"
    n = 0
    while out.stats()["write_errors"] < 3:
        out.write(make_entry(f"entry {n}", fields={"pad": "q" * (300 + n % 97)}))
        n += 1
        assert n < 5000
    full_at = n
    for _ in range(20):
        out.write(make_entry(f"entry {n}", fields={"pad": "q" * 300}))
        n += 1
    out.flush()
    filler.unlink()  # space again
    for _ in range(100):
        out.write(make_entry(f"entry {n}", fields={"pad": "q" * 10}))
        n += 1
    out.close()
    err = capfd.readouterr().err
    assert err.count("cannot write to") == 1 and "No space left on device" in err
    assert err.count("works again") == 1
    text = path.read_text()
    in_file, on_stderr = _ids(text), _ids(err)
    assert sorted(in_file + on_stderr) == list(range(n))  # each entry once, none lost
    assert set(range(full_at + 20, n)) <= set(in_file)  # back in the file after recovery
    lines = text.splitlines()
    whole = [json.loads(x) for x in lines if x.endswith("}")]
    cut = [x for x in lines if not x.endswith("}")]
    assert len(whole) == len(in_file) and len(cut) <= 1  # at most the one line the disk cut
    assert all(x.count('{"') == 1 for x in lines)  # no entry glued to a fragment


def test_injected_write_failure_reports_once_and_recovers(tmp_path, monkeypatch, capsys):
    path = tmp_path / "app.log"
    out = FileOutput(path, JsonFormatter())
    real_write = os.write
    failing = {"on": True}

    def write(fd, data):
        if failing["on"] and fd == out.sink._fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(sink_module.os, "write", write)
    monkeypatch.setattr(sink_module, "_os_write", write)  # the lock-free path's binding
    for i in range(3):
        out.write(make_entry(f"lost? {i}"))
    failing["on"] = False
    out.write(make_entry("back"))
    out.close()
    err = capsys.readouterr().err
    assert err.count("No space left on device") == 1
    assert err.count("lost? ") == 3
    assert "works again" in err
    assert [json.loads(x)["message"] for x in path.read_text().splitlines()] == ["back"]


def test_a_vanished_file_is_recreated(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(locks, "CHECK_SECONDS", 0.0)
    path = tmp_path / "app.log"
    out = FileOutput(path, JsonFormatter())
    out.write(make_entry("before"))
    path.unlink()
    out.write(make_entry("after"))
    out.close()
    assert "was deleted; created it again" in capsys.readouterr().err
    # Every check comes before a write here, so the check that noticed the deletion came after
    # "before" was written: whether it was written before or after the deletion cannot be told,
    # and it is kept (nothing written since the last check is lost).
    assert [json.loads(x)["message"] for x in path.read_text().splitlines()] == ["before", "after"]
    assert out.stats()["reopens"] == 1


def test_trace_output_shares_the_machinery_and_repeats_the_header(tmp_path):
    path = tmp_path / "trace.jsonl"
    trace = TraceOutput(
        path,
        lambda event: json.dumps(event, separators=(",", ":")).encode(),
        header=lambda: b'{"type":"session"}',
        rotation=RotationPolicy(max_bytes=300),
    )
    trace.write({"type": "session"})
    for i in range(60):
        trace.write({"type": "span", "i": i})
    trace.close()
    files = [*rotated_files(path), path]
    assert len(files) > 2
    for f in files:
        assert f.read_text().splitlines()[0] == '{"type":"session"}'
    assert [json.loads(x)["i"] for x in all_lines(path) if '"span"' in x] == list(range(60))


def test_buffered_lines_from_threads_racing_a_close_are_written_once_or_sent_to_stderr(
    tmp_path, capfd
):
    # Buffered, write() and write_line() append without the sink's lock once the flusher runs.
    # Threads write (both ways, small buffer: many drains, by the flusher and by full buffers,
    # some urgent) while the main thread closes the sink: every line is whole in the file or,
    # written after the close, whole on stderr, exactly once; none is lost.
    path = tmp_path / "trace.jsonl"
    sink = FileSink(path, buffer_size=2048, flush_interval=0.001)
    sink.write(b'{"t":-1,"i":-1}')  # starts the flusher: the lock-free path from here on
    started = threading.Barrier(5)

    def work(t: int) -> None:
        started.wait()
        for i in range(3000):
            line = json.dumps({"t": t, "i": i}, separators=(",", ":")).encode()
            if i % 2:
                sink.write(line, urgent=i % 97 == 0)
            else:
                sink.write_line(line + b"\n", i % 89 == 0)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two steps: the races happen
    try:
        for thread in threads:
            thread.start()
        started.wait()
        time.sleep(0.005)  # a close in the middle of the writing, not a synchronisation
        sink.close()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    stderr = capfd.readouterr().err
    in_file = [json.loads(x) for x in path.read_text().splitlines()]
    on_stderr = [json.loads(x) for x in stderr.splitlines() if x.startswith('{"t":')]
    seen = sorted((r["t"], r["i"]) for r in in_file + on_stderr)
    assert seen == [(-1, -1)] + [(t, i) for t in range(4) for i in range(3000)]
    assert sink.counters["lines_to_stderr"] == len(on_stderr)


KILLED_TRACE = textwrap.dedent(
    """
    import os, signal, sys, threading
    import llmlog
    from llmlog_trace_dspy import DspyOptions, DspyTraceWriter
    session = llmlog.TraceSession(DspyTraceWriter(sys.argv[1], DspyOptions(flush_interval=60)))
    session.emit_session()
    def work(t):
        for i in range(500):
            session.emit_span_start(f"{t:08x}{i:08x}", None, "step")
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session.emit_error("0" * 16, "TimeoutError", "an error is written at once")
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_buffered_trace_lines_of_threads_reach_the_file_with_an_error_before_a_kill_9(tmp_path):
    # The dspy format buffers (a minute here): lines appended without the lock by four
    # threads are all in the file, whole and once, when an error event returns, even if the
    # process is killed at once afterwards.
    path = tmp_path / "trace.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", KILLED_TRACE, str(path)], capture_output=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    records = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["type"] for r in records[:1] + records[-1:]] == ["session", "error"]
    spans = sorted(r["span_id"] for r in records if r["type"] == "span")
    assert spans == sorted(f"{t:08x}{i:08x}" for t in range(4) for i in range(500))


SIGNALLED = textwrap.dedent(
    """
    import json, signal, sys, llmlog
    path, buffer = sys.argv[1], int(sys.argv[2])
    llmlog.configure({"level": "info", "outputs": {"file": {"type": "file", "path": path,
        "formatter": "json", "buffer_size": buffer,
        "rotation": {"max_bytes": 100000, "compress": "gzip"}}}})
    log = llmlog.get_logger()
    ticks = 0
    def handler(signum, frame):  # a graceful-shutdown handler that logs, every 2 ms
        global ticks
        ticks += 1
        log.info("tick", n=ticks)
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
    for i in range(15000):
        log.info("main", i=i)
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    llmlog.shutdown()
    print(json.dumps({"ticks": ticks}))
    """
)


@pytest.mark.parametrize("buffer", [0, 8192])
def test_a_signal_handler_that_logs_never_deadlocks_and_loses_nothing(tmp_path, buffer):
    # The handler interrupts the main thread anywhere, inside the sink's lock included: its
    # entry is written after the interrupted one, never waited for (before: a deadlock).
    path = tmp_path / "app.log"
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED, str(path), str(buffer)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    ticks = json.loads(done.stdout)["ticks"]
    assert ticks > 10
    records = [json.loads(x) for x in all_lines(path)]
    assert sorted(r["i"] for r in records if r["message"] == "main") == list(range(15000))
    assert sorted(r["n"] for r in records if r["message"] == "tick") == list(range(1, ticks + 1))


FINALIZED = textwrap.dedent(
    """
    import sys, llmlog
    llmlog.configure({"level": "info", "outputs": {"file": {"type": "file", "path": sys.argv[1],
        "formatter": "json", "buffer_size": 65536}}})
    log = llmlog.get_logger()
    class Resource:
        def __init__(self, n):
            self.n = n
        def __del__(self):  # runs at interpreter shutdown, after the exit handlers
            log.info("released", n=self.n)
    kept = [Resource(n) for n in range(7)]
    log.info("started")
    """
)


def test_entries_logged_by_del_at_interpreter_shutdown_are_written(tmp_path):
    # After the exit handlers no thread can start, so a buffered sink writes at once from then
    # on (before: 0 of the 7 lines reached the file).
    path = tmp_path / "app.log"
    done = subprocess.run(
        [sys.executable, "-c", FINALIZED, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    messages = [json.loads(x)["message"] for x in path.read_text().splitlines()]
    assert messages == ["started"] + ["released"] * 7


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_every_file_and_directory_is_private_from_its_first_byte(tmp_path, compress):
    # A poller watches the directory while files rotate and compress: every file it ever sees
    # (log, rotated, compressed, temporaries, lock) is owner-only, and so is every directory
    # created on the way (before: temporaries were 0644 and intermediate directories 0755).
    path = tmp_path / "a" / "b" / "logs" / "app.log"
    seen: dict[str, int] = {}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                names = os.listdir(path.parent)
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    seen[name] = stat.S_IMODE(os.stat(path.parent / name).st_mode)
                except FileNotFoundError:
                    pass

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        out = FileOutput(
            path,
            JsonFormatter(),
            FileOptions(rotation=RotationOptions(max_bytes=16_000_000, compress=compress)),
        )
        # Two rotations of 16 MB of hardly compressible text: each compression takes long
        # enough for the poller to see its temporary.
        noise = os.urandom(1 << 20).hex()
        for i in range(36_000):
            out.write(make_entry("m", fields={"i": i, "pad": noise[i * 50 : i * 50 + 1000]}))
        out.close()
    finally:
        stop.set()
        poller.join()
    assert any(name.endswith(".tmp") for name in seen), "no temporary caught: poll faster"
    assert {name: mode for name, mode in seen.items() if mode != 0o600} == {}
    for directory in (tmp_path / "a", tmp_path / "a" / "b", path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


FORKING = textwrap.dedent(
    """
    import json, os, sys, threading, time, llmlog
    llmlog.configure({"level": "info", "outputs": {"file": {"type": "file", "path": sys.argv[1],
        "formatter": "json", "buffer_size": int(sys.argv[2]),
        "rotation": {"max_bytes": 100000, "compress": "gzip"}},
        "console": {"type": "console", "stream": "stderr"}}})
    log = llmlog.get_logger()
    stop, sent = False, [0]
    def spam():  # holds the sinks' and the console's locks, again and again, as forks happen
        while not stop:
            log.info("spam", i=sent[0])
            sent[0] += 1
    thread = threading.Thread(target=spam)
    thread.start()
    hung = 0
    for n in range(30):
        pid = os.fork()
        if pid == 0:
            log.info("child", n=n)
            llmlog.shutdown()
            os._exit(0)
        deadline = time.monotonic() + 10
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                hung += 1
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                break
            time.sleep(0.002)
    stop = True
    thread.join()
    llmlog.shutdown()
    print(json.dumps({"hung": hung, "sent": sent[0]}))
    """
)


@pytest.mark.parametrize("buffer", [0, 8192])
def test_fork_while_another_thread_logs(tmp_path, buffer):
    # The child's first entry never waits for a lock another thread held at the fork, and no
    # entry of parent or child is lost through the rotations (before: 12 of 100 child entries
    # lost; a child that unlocked the shared file let the parent's lines be compressed away).
    path = tmp_path / "app.log"
    done = subprocess.run(
        [sys.executable, "-c", FORKING, str(path), str(buffer)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["hung"] == 0
    records = [json.loads(x) for x in all_lines(path)]
    assert sorted(r["n"] for r in records if r["message"] == "child") == list(range(30))
    assert sorted(r["i"] for r in records if r["message"] == "spam") == list(range(result["sent"]))
