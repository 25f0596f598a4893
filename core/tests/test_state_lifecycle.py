"""The lifecycle callbacks of ``llmlog.state``: what engines outside core register is flushed on
a FATAL entry and by ``flush_all``, each callable once, a failing one never stopping the others; and it works in a
forked child and at interpreter exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from llmlog import Severity, state
from llmlog.dispatch import Dispatcher
from llmlog.testing import ListOutput, make_entry


@pytest.fixture
def flushers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(state, "_flushers", [])
    monkeypatch.setattr(state, "_seen", set())
    return []


def test_flush_all_calls_each_flusher_once_in_order_despite_failures(flushers):
    def first() -> None:
        flushers.append("first")

    def failing() -> None:
        flushers.append("failing")
        raise OSError("disk gone")

    def last() -> None:
        flushers.append("last")

    for flush in (first, failing, first, last):
        state.register_lifecycle(flush=flush)
    state.flush_all()
    assert flushers == ["first", "failing", "last"]


def test_a_fatal_entry_flushes_what_is_registered_after_the_outputs(flushers):
    output = ListOutput()
    output.flush = lambda: flushers.append("outputs")  # type: ignore[method-assign]
    dispatcher = Dispatcher()
    dispatcher.install([output], level=Severity.DEBUG)
    state.register_lifecycle(flush=lambda: flushers.append("registered"))
    dispatcher.emit(make_entry("not fatal", Severity.ERROR))
    assert flushers == []
    dispatcher.emit(make_entry("fatal", Severity.FATAL))
    assert flushers == ["outputs", "registered"]
    assert [e.message for e in output.entries] == ["not fatal", "fatal"]


SCRIPT = textwrap.dedent(
    """
    import os, sys
    from llmlog import state
    def say(what):
        return lambda: print(what, os.getpid() == parent, flush=True)
    parent = os.getpid()
    state.register_lifecycle(at_exit=say("exit"), before_fork=say("before"),
                       after_fork_in_child=say("child"))
    state.register_lifecycle(at_exit=say("second exit"))
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    """
)


def test_exit_and_fork_callbacks_run_where_they_should():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # Exit callbacks run last registered first, as atexit's do.
    assert done.stdout.splitlines() == [
        "before True",
        "child False",
        "second exit True",
        "exit True",
    ]


NOTHING_FILE_RELATED = textwrap.dedent(
    """
    import sys
    import llmlog
    from llmlog import state
    print(sorted(m for m in ("fcntl", "gzip", "llmlog_engine_files") if m in sys.modules))
    llmlog.get_logger().info("to stderr")
    print(len(state._flushers))
    """
)


def test_a_program_that_writes_no_file_loads_and_registers_no_file_code(tmp_path):
    # `import llmlog` loads no file code; logging to stderr alone registers nothing with
    # lifecycle (installed plugins may load the file machinery, but no sink is made).
    done = subprocess.run(
        [sys.executable, "-c", NOTHING_FILE_RELATED],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "0"]
