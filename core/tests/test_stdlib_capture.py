import asyncio
import logging
import sys
import threading
import warnings

import pytest

import llmlog
from llmlog import Severity
from llmlog.logger import global_dispatcher
from llmlog.stdlib import LlmlogHandler, severity_for_level
from llmlog.testing import ListOutput


@pytest.fixture
def captured():
    """The global logger at DEBUG with a list output, capturing the 'app' and 'lib' loggers."""
    llmlog.configure(
        {
            "level": "debug",
            "outputs": {},
            "stdlib": {"capture": True, "loggers": ["app", "lib"], "propagate": False},
        },
        autoload=False,
    )
    out = ListOutput()
    global_dispatcher().add_output(out)
    return out.entries


@pytest.mark.parametrize(
    ("levelno", "severity"),
    [
        (1, "DEBUG"),
        (5, "DEBUG"),
        (10, "DEBUG"),
        (15, "DEBUG"),
        (20, "INFO"),
        (25, "INFO"),
        (30, "WARN"),
        (35, "WARN"),
        (40, "ERROR"),
        (50, "FATAL"),
        (60, "FATAL"),
    ],
)
def test_severity_mapping(levelno, severity):
    assert severity_for_level(levelno) is Severity[severity]


def test_record_becomes_an_entry_with_its_own_location_extra_and_context(captured):
    log = logging.getLogger("app")
    with (
        llmlog.with_model_id("gpt-4o"),
        llmlog.with_trace_id("ab" * 16),
        llmlog.with_span_id("cd" * 8),
    ):
        log.info("hello %s", "world", extra={"user": "bob", "api_key": "sk-x"})
        line = sys._getframe().f_lineno - 1
    (entry,) = captured
    assert (entry.message, entry.severity, entry.logger) == ("hello world", Severity.INFO, "app")
    assert (entry.file, entry.line) == ("test_stdlib_capture.py", line)
    assert entry.function == "test_record_becomes_an_entry_with_its_own_location_extra_and_context"
    assert dict(entry.fields) == {"user": "bob", "api_key": "[REDACTED]"}
    assert (entry.model_id, entry.trace_id, entry.span_id) == ("gpt-4o", "ab" * 16, "cd" * 8)


def test_custom_levels_exceptions_and_stack_info(captured):
    logging.addLevelName(25, "NOTICE")
    log = logging.getLogger("lib")
    log.log(25, "custom level")
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("failed")
    log.warning("where", stack_info=True)
    custom, failed, where = captured
    assert custom.severity is Severity.INFO
    assert custom.fields["stdlib_level"] == "NOTICE"
    assert "KeyError: 'missing'" in failed.exception
    assert failed.severity is Severity.ERROR
    assert "Stack (most recent call last)" in where.exception


def test_bad_format_arguments_do_not_lose_the_record(captured):
    # Straight to our handler: pytest's own capture handler (also on the logger) raises on purpose.
    (handler,) = [h for h in logging.getLogger("app").handlers if isinstance(h, LlmlogHandler)]
    handler.handle(logging.LogRecord("app", logging.ERROR, __file__, 1, "count %d", ("x",), None))
    assert "formatting failed" in captured[0].message


def test_capture_install_and_clean_removal():
    app, lib, root = logging.getLogger("app"), logging.getLogger("lib"), logging.getLogger()
    app.setLevel(logging.WARNING)
    before = (
        app.level,
        app.propagate,
        list(app.handlers),
        lib.level,
        lib.propagate,
        root.level,
        list(root.handlers),
    )
    llmlog.configure(
        {
            "stdlib": {
                "capture": True,
                "loggers": ["app", "lib"],
                "level": "info",
                "propagate": False,
            },
            "outputs": {},
        },
        autoload=False,
    )
    assert app.level == logging.INFO and lib.level == logging.INFO
    assert not app.propagate and not lib.propagate
    assert any(isinstance(h, LlmlogHandler) for h in app.handlers)
    llmlog.configure({"outputs": {}}, autoload=False)
    after = (
        app.level,
        app.propagate,
        list(app.handlers),
        lib.level,
        lib.propagate,
        root.level,
        list(root.handlers),
    )
    assert after == before
    app.setLevel(logging.NOTSET)


def test_root_capture_and_warnings():
    root = logging.getLogger()
    level = root.level
    llmlog.configure(
        {"level": "debug", "outputs": {}, "stdlib": {"capture": True, "warnings": True}},
        autoload=False,
    )
    out = ListOutput()
    global_dispatcher().add_output(out)
    logging.getLogger("anything.below.root").debug("seen through root")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    messages = {e.logger: e.message for e in out.entries}
    assert messages["anything.below.root"] == "seen through root"
    assert "DeprecationWarning: deprecated thing" in messages["py.warnings"]
    llmlog.configure({"outputs": {}}, autoload=False)
    assert root.level == level
    assert not any(isinstance(h, LlmlogHandler) for h in root.handlers)
    assert getattr(warnings.showwarning, "__module__", "") != "logging"


def test_threads_and_asyncio_keep_their_context(captured):
    log = logging.getLogger("lib")

    def work(i):
        with llmlog.with_model_id(f"thread-{i}"):
            log.info("t")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def task(i):
        with llmlog.with_model_id(f"task-{i}"):
            await asyncio.sleep(0)
            log.info("a")

    async def main():
        await asyncio.gather(*(task(i) for i in range(4)))

    asyncio.run(main())
    assert sorted(e.model_id for e in captured) == [f"task-{i}" for i in range(4)] + [
        f"thread-{i}" for i in range(4)
    ]


def test_an_output_that_logs_to_stdlib_does_not_recurse(captured):
    class Chatty(llmlog.Output):
        def write(self, entry):
            logging.getLogger("app").info("output is writing %s", entry.message)

    global_dispatcher().add_output(Chatty())
    logging.getLogger("app").info("once")
    assert [e.message for e in captured] == ["once"]
