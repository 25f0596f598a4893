import io
import re
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest

import llmlog
from llmlog import Severity, TokenUsage
from llmlog.testing import check_output, make_entry
from llmlog_formatter_json import JsonFormatter
from llmlog_output_console import ConsoleOptions, ConsoleOutput, use_color


class Buffer(io.StringIO):
    tty = False

    def isatty(self):
        return self.tty


def test_conformance(monkeypatch):
    buffer = Buffer()
    monkeypatch.setattr(sys, "stderr", buffer)

    def make():
        buffer.seek(0)
        buffer.truncate()
        return ConsoleOutput()

    check_output(make, lambda: buffer.getvalue().splitlines())


def test_conformance_with_colours(monkeypatch):
    buffer = Buffer()
    monkeypatch.setattr(sys, "stdout", buffer)

    def make():
        buffer.seek(0)
        buffer.truncate()
        return ConsoleOutput(ConsoleOptions(stream="stdout", color="always"))

    # The colour codes are ours; the conformance suite checks the *content* cannot add any.
    def lines():
        return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in buffer.getvalue().splitlines()]

    check_output(make, lines)


@pytest.mark.parametrize(
    ("setting", "env", "tty", "expected"),
    [
        ("auto", {}, False, False),
        ("auto", {}, True, True),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"FORCE_COLOR": "1"}, False, True),
        ("auto", {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, True),
        ("auto", {"FORCE_COLOR": "0"}, True, True),
        ("always", {"NO_COLOR": "1"}, False, True),
        ("never", {"FORCE_COLOR": "1"}, True, False),
    ],
)
def test_colour_decision(setting, env, tty, expected):
    stream = Buffer()
    stream.tty = tty
    assert use_color(setting, stream, env) is expected


def test_layout_with_tokens_model_and_fields():
    out = ConsoleOutput(ConsoleOptions(color="never"))
    entry = make_entry(
        "answer ready",
        trace_id="4f0c9a7e2b1d4c3a",
        model_id="gpt-4o",
        token_info=TokenUsage(10, 20),
        fields={"user": "alice", "prompt": "x" * 500},
    )
    line = out.render(entry)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  \[traceId=4f0c9a7e\] \[app\.py:42\] answer ready "
        r"\[model=gpt-4o\] \[tokens=30\(10↑20↓\)\] user=alice prompt=x{199}…",
        line,
    ), line


def test_colours_follow_the_seed():
    out = ConsoleOutput(ConsoleOptions(color="always"))
    for severity, code in [
        (Severity.DEBUG, "37"),
        (Severity.INFO, "32"),
        (Severity.WARN, "33"),
        (Severity.ERROR, "31"),
        (Severity.FATAL, "35"),
    ]:
        assert f"\x1b[{code}m{severity.name:<5}\x1b[0m" in out.render(make_entry("m", severity))
    tokens = out.render(make_entry("m", token_info=TokenUsage(1, 2)))
    assert "\x1b[32m↑\x1b[0m" in tokens and "\x1b[34m↓\x1b[0m" in tokens


def test_injection_is_escaped_even_with_colours():
    out = ConsoleOutput(ConsoleOptions(color="always"))
    line = out.render(make_entry("evil\x1b[2J\nFAKE ERROR line", fields={"k\x1b": "v\r"}))
    assert "\x1b[2J" not in line and "\n" not in line and "\r" not in line
    assert "evil\\x1b[2J\\nFAKE ERROR line" in line


def test_stdout_and_formatter():
    stdout, stderr = Buffer(), Buffer()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        ConsoleOutput(ConsoleOptions(stream="stdout"), JsonFormatter()).write(
            make_entry("to stdout")
        )
    assert stderr.getvalue() == ""
    assert '"message":"to stdout"' in stdout.getvalue()


def test_configured_from_toml(tmp_path, capsys):
    path = tmp_path / "llmlog.toml"
    path.write_text(
        '[outputs.console]\nstream = "stdout"\ncolor = "never"\nshow_location = false\nformatter = "logfmt"\n'
    )
    llmlog.configure(path)
    llmlog.get_logger().info("hello", user="bob")
    llmlog.shutdown()
    out = capsys.readouterr().out
    assert "msg=hello" in out and "user=bob" in out


SIGNALLED = """
import json, os, signal, llmlog
llmlog.configure({"level": "info", "outputs": {"console": {"type": "console", "color": "never"}}})
log = llmlog.get_logger()
ticks = 0
def handler(signum, frame):  # logs every millisecond, often while stderr's write is blocked
    global ticks
    ticks += 1
    log.info("tick", n=ticks)
signal.signal(signal.SIGALRM, handler)
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
for i in range(20000):
    log.info("main", i=i)
signal.setitimer(signal.ITIMER_REAL, 0, 0)
llmlog.shutdown()
os.write(1, json.dumps({"ticks": ticks}).encode())
"""


def test_a_signal_handler_logging_mid_write_loses_nothing():
    # stderr is a pipe read late: writes block, the timer interrupts them, and the handler's
    # entry would re-enter the stream (Python's streams lose or refuse such a write). It is
    # written right after the interrupted line instead.
    import json
    import subprocess
    import sys
    import threading
    import time

    process = subprocess.Popen(
        [sys.executable, "-c", SIGNALLED], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    chunks: list[bytes] = []

    def read_slowly():  # a stalled, then slow terminal: the pipe stays full, writes block
        assert process.stderr is not None
        time.sleep(1.0)
        while chunk := process.stderr.read1(8192):
            chunks.append(chunk)
            time.sleep(0.003)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    assert process.stdout is not None
    out = process.stdout.read()
    process.wait(timeout=300)
    reader.join()
    err = b"".join(chunks)
    assert process.returncode == 0, err[-2000:]
    ticks = json.loads(out)["ticks"]
    lines = err.decode().splitlines()
    assert sum(" main " in x for x in lines) == 20000
    assert sorted(int(x.rsplit("n=", 1)[1]) for x in lines if " tick " in x) == list(
        range(1, ticks + 1)
    )
