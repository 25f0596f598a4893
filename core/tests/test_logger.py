import asyncio
import subprocess
import sys
import textwrap
import threading

import attrs
import pytest

import llmlog
from llmlog import LogEntry, Logger, Output, Severity, TokenUsage
from llmlog.logger import global_dispatcher
from llmlog.testing import ListOutput


def test_levels_filter(configured):
    llmlog.configure({"level": "warn", "outputs": {}}, autoload=False)
    out = ListOutput()
    global_dispatcher().add_output(out)
    log = llmlog.get_logger()
    log.debug("d")
    log.info("i")
    log.warn("w")
    log.error("e")
    assert [e.message for e in out.entries] == ["w", "e"]
    assert [e.severity for e in out.entries] == [Severity.WARN, Severity.ERROR]


def test_output_level_filters_per_output():
    quiet, loud = ListOutput(Severity.ERROR), ListOutput(Severity.DEBUG)
    log = Logger(Severity.DEBUG, [quiet, loud])
    log.info("info")
    log.error("error")
    assert [e.message for e in quiet.entries] == ["error"]
    assert [e.message for e in loud.entries] == ["info", "error"]


def test_printf_arguments_and_lazy_formatting(configured):
    class Expensive:
        calls = 0

        def __str__(self):
            Expensive.calls += 1
            return "expensive"

    llmlog.configure({"level": "info", "outputs": {}}, autoload=False)
    out = ListOutput()
    global_dispatcher().add_output(out)
    log = llmlog.get_logger()
    log.debug("never %s", Expensive())
    log.info("%s answered %d questions", "alice", 3)
    assert Expensive.calls == 0
    assert out.entries[-1].message == "alice answered 3 questions"


def test_bad_format_string_does_not_raise_or_lose_the_entry(configured):
    llmlog.get_logger().info("count %d", "not a number")
    (entry,) = configured.entries
    assert "count %d" in entry.message
    assert "formatting failed" in entry.message


def test_non_string_messages(configured):
    log = llmlog.get_logger()
    log.info({"a": 1})
    log.info(42)
    assert configured.messages() == ["{'a': 1}", "42"]


def test_caller_file_line_and_function(configured):
    def some_function():
        llmlog.get_logger().info("here")
        return sys._getframe().f_lineno - 1

    line = some_function()
    (entry,) = configured.entries
    assert entry.file == "test_logger.py"
    assert entry.line == line
    assert entry.function.endswith("some_function")


def test_stacklevel_skips_wrapper_frames(configured):
    def log_helper(msg):
        llmlog.get_logger().info(msg, stacklevel=2)

    def caller():
        log_helper("via helper")
        return sys._getframe().f_lineno - 1

    line = caller()
    assert configured.entries[0].line == line
    assert configured.entries[0].function.endswith("caller")


def test_field_precedence_default_bound_context_call():
    out = ListOutput()
    log = Logger(
        Severity.DEBUG,
        [out],
        default_fields={"a": "default", "b": "default", "c": "default", "d": "default"},
    )
    child = log.bind(b="bound", c="bound", d="bound")
    with llmlog.with_fields(c="context", d="context"):
        child.info("m", d="call")
    assert dict(out.entries[0].fields) == {
        "a": "default",
        "b": "bound",
        "c": "context",
        "d": "call",
    }


def test_bind_returns_a_new_logger_and_leaves_the_parent_alone(configured):
    log = llmlog.get_logger("svc")
    child = log.bind(user="alice")
    log.info("parent")
    child.info("child")
    assert dict(configured.entries[0].fields) == {}
    assert dict(configured.entries[1].fields) == {"user": "alice"}
    assert configured.entries[1].logger == "svc"


def test_context_values_reach_entries_and_call_overrides_win(configured):
    log = llmlog.get_logger()
    usage = TokenUsage(10, 20, cost=0.001)
    with (
        llmlog.with_model_id("gpt-4o"),
        llmlog.with_token_info(usage),
        llmlog.with_trace_id("t" * 32),
        llmlog.with_span_id("s" * 16),
    ):
        log.info("from context")
        log.info("overridden", model_id="other", latency_ms=12.5, cost=0.002)
    first, second = configured.entries
    # the context's usage, priced on the way: the cost it came with is a reported one
    assert (first.model_id, first.token_info, first.trace_id, first.span_id) == (
        "gpt-4o",
        attrs.evolve(usage, cost_source="reported"),
        "t" * 32,
        "s" * 16,
    )
    assert (second.model_id, second.latency_ms, second.cost) == ("other", 12.5, 0.002)
    assert dict(second.fields) == {}


def test_prompt_completion_logs_at_debug_with_the_callers_location(configured):
    log = llmlog.get_logger()
    log.prompt_completion("What is 2+2?", "4", TokenUsage(5, 1))
    line = sys._getframe().f_lineno - 1
    (entry,) = configured.entries
    assert entry.severity is Severity.DEBUG
    assert entry.fields["prompt"] == "What is 2+2?"
    assert entry.fields["completion"] == "4"
    usage = entry.token_info
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (5, 1)
    assert (entry.file, entry.line) == ("test_logger.py", line)


def test_prompt_completion_skipped_above_debug():
    out = ListOutput()
    Logger(Severity.INFO, [out]).prompt_completion("p", "c")
    assert out.entries == []


def test_exception_and_exc_info(configured):
    log = llmlog.get_logger()
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        log.exception("failed")
        log.error("explicit", exc_info=exc)
    log.info("no exception here", exc_info=True)
    a, b, c = configured.entries
    assert "ValueError: bad input" in a.exception and "Traceback" in a.exception
    assert "ValueError: bad input" in b.exception
    assert c.exception is None
    assert "exc_info" not in a.fields


def test_stack_info(configured):
    llmlog.get_logger().info("where am I", stack_info=True)
    assert "test_stack_info" in configured.entries[0].exception


def test_sample_rate_really_samples():
    out = ListOutput()
    log = Logger(Severity.DEBUG, [out], sample_rate=0.3)
    for _ in range(10_000):
        log.info("x")
    for _ in range(100):
        log.error("always")
    infos = sum(e.severity is Severity.INFO for e in out.entries)
    errors = sum(e.severity is Severity.ERROR for e in out.entries)
    assert 2_500 < infos < 3_500  # binomial(10000, 0.3): sd is 46
    assert errors == 100  # ERROR and above are never sampled out
    assert log.dispatcher.stats()["sampled_out"] == 10_000 - infos


def test_redaction_and_truncation_applied_before_outputs(configured):
    llmlog.configure({"level": "debug", "outputs": {}, "max_string_length": 100}, autoload=False)
    out = ListOutput()
    global_dispatcher().add_output(out)
    llmlog.get_logger().info(
        "x" * 250,
        api_key="sk-secret",
        headers={"Authorization": "Bearer abc", "Accept": "json"},
        max_tokens=100,
        prompt_tokens=5,
        messages=[{"role": "user", "content": "y" * 500}],
    )
    (entry,) = out.entries
    assert entry.message == "x" * 100 + "…[truncated 150 chars]"
    assert entry.fields["api_key"] == "[REDACTED]"
    assert entry.fields["headers"] == {"Authorization": "[REDACTED]", "Accept": "json"}
    assert entry.fields["max_tokens"] == 100 and entry.fields["prompt_tokens"] == 5
    assert entry.fields["messages"][0]["content"].endswith("…[truncated 400 chars]")


class Boom(Output):
    def write(self, entry):
        raise OSError("disk on fire")


def test_failing_output_is_reported_once_counted_and_others_go_on(capsys):
    good, bad, also_good = ListOutput(), Boom(), ListOutput()
    bad.name = "bad"
    log = Logger(Severity.DEBUG, [good, bad, also_good])
    for i in range(5):
        log.info("entry %d", i)
    assert len(good.entries) == len(also_good.entries) == 5
    err = capsys.readouterr().err
    assert err.count("output 'bad' failed: OSError: disk on fire") == 1
    assert log.dispatcher.stats()["failures"] == {"bad": 5}


class PartsOutput(ListOutput):
    """An output that also takes entries as their parts (as the flight recorder does)."""

    def __init__(self, level=Severity.DEBUG, fail=False):
        super().__init__(level)
        self.parts = []
        self.fail = fail
        self.independent = True  # keeps its own level under the dispatcher's

    def write_parts(self, *parts):
        if self.fail:
            raise OSError("parts on fire")
        self.parts.append(LogEntry(*parts))


def test_an_entry_only_one_output_takes_goes_to_it_as_parts(capsys):
    debug_only, info = PartsOutput(), ListOutput(Severity.INFO)
    log = Logger(Severity.INFO, [info, debug_only])
    with llmlog.with_model_id("gpt-4o"):
        log.debug("cache %s", "miss", api_key="sk-1", n=2)
    log.info("shown")
    # The DEBUG entry reached only the DEBUG output, as parts, complete and redacted.
    (entry,) = debug_only.parts
    assert (entry.severity, entry.message, entry.model_id) == (
        Severity.DEBUG,
        "cache miss",
        "gpt-4o",
    )
    assert entry.fields == {"api_key": "[REDACTED]", "n": 2}
    assert entry.file == "test_logger.py" and entry.function.endswith("as_parts")
    # The INFO entry, which another output takes too, went to both as a LogEntry.
    assert [e.message for e in info.entries] == ["shown"]
    assert [e.message for e in debug_only.entries] == ["shown"]
    # With a second output at DEBUG, nothing goes as parts.
    both = PartsOutput()
    log = Logger(Severity.DEBUG, [ListOutput(), both])
    log.debug("d")
    assert both.parts == [] and [e.message for e in both.entries] == ["d"]
    # A failing parts output is reported and counted like a failing write.
    bad = PartsOutput(fail=True)
    bad.name = "bad"
    log = Logger(Severity.INFO, [ListOutput(Severity.INFO), bad])
    for _ in range(3):
        log.debug("lost")
    assert capsys.readouterr().err.count("output 'bad' failed: OSError: parts on fire") == 1
    assert log.dispatcher.stats()["failures"] == {"bad": 3}


def test_log_calls_never_raise(capsys):
    class Hostile:
        def __str__(self):
            raise RuntimeError("no str for you")

        __repr__ = __str__

    out = ListOutput()
    log = Logger(Severity.DEBUG, [out])
    log.info(Hostile())  # str() of the message fails inside the logger
    log.info("%s", Hostile())
    log.info("ok", weird=Hostile())
    log.info("deep", stacklevel=10_000)
    messages = [e.message for e in out.entries]
    assert messages[0].endswith("Hostile: RuntimeError: no str for you>")
    assert messages[1].startswith("'%s' % (<unrepresentable ") and "Hostile>)" in messages[1]
    assert messages[2:] == ["ok", "deep"]
    assert "internal error" not in capsys.readouterr().err


def test_get_logger_follows_reconfiguration_and_set_logger():
    log = llmlog.get_logger("early")  # created before configure, as modules do at import time
    first, second = ListOutput(), ListOutput()
    llmlog.configure({"outputs": {}}, autoload=False)
    global_dispatcher().add_output(first)
    log.info("one")
    llmlog.configure({"outputs": {}}, autoload=False)
    global_dispatcher().add_output(second)
    log.info("two")
    assert [e.message for e in first.entries] == ["one"]
    assert [e.message for e in second.entries] == ["two"]

    custom_out = ListOutput()
    custom = Logger(Severity.DEBUG, [custom_out])
    previous = llmlog.get_logger()
    try:
        llmlog.set_logger(custom)
        llmlog.get_logger().debug("custom")
        assert [e.message for e in custom_out.entries] == ["custom"]
    finally:
        llmlog.set_logger(previous)
    with pytest.raises(TypeError):
        llmlog.set_logger("not a logger")  # type: ignore[arg-type]


def test_threads_and_tasks_carry_their_own_context(configured):
    log = llmlog.get_logger()

    def work(i):
        with llmlog.with_model_id(f"m{i}"):
            for _ in range(50):
                log.info("t%d", i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def task(i):
        with llmlog.with_model_id(f"a{i}"):
            await asyncio.sleep(0)
            log.info("a%d", i)

    async def main():
        await asyncio.gather(*(task(i) for i in range(5)))

    asyncio.run(main())
    for e in configured.entries:
        assert e.model_id == ("m" if e.message[0] == "t" else "a") + e.message[1:]
    assert len(configured.entries) == 205


FATAL_PROGRAM = textwrap.dedent(
    """
    import sys, threading, llmlog
    from llmlog import Output

    class Recording(Output):
        def __init__(self): self.closed = False
        def write(self, entry): sys.stdout.write("WRITE " + entry.message + "\\n")
        def flush(self): sys.stdout.write("FLUSH\\n")
        def close(self): sys.stdout.write("CLOSE\\n")

    log = llmlog.Logger(llmlog.Severity.DEBUG, [Recording()])
    if sys.argv[1] == "thread":
        t = threading.Thread(target=lambda: log.fatal("fatal in %s", "thread"))
        t.start(); t.join()
        print("NOT REACHED")
    else:
        try:
            log.fatal("fatal in %s", "main")
        finally:
            print("FINALLY RAN")
    """
)


@pytest.mark.parametrize("where", ["main", "thread"])
def test_fatal_logs_flushes_closes_and_exits_1(where, tmp_path):
    program = tmp_path / "fatal.py"
    program.write_text(FATAL_PROGRAM)
    done = subprocess.run(
        [sys.executable, str(program), where], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == [f"WRITE fatal in {where}", "FLUSH", "FLUSH"] or lines[:2] == [
        f"WRITE fatal in {where}",
        "FLUSH",
    ]
    assert "CLOSE" in lines
    assert "NOT REACHED" not in lines
    if where == "main":
        assert lines[-1] == "FINALLY RAN"


class _NoStr:
    def __str__(self):
        raise ValueError("no str")

    def __repr__(self):
        raise ValueError("no repr")


def test_odd_arguments_keep_the_entry_and_show_what_could_not_be_used(configured, capsys):
    # Each of these calls used to return normally while its entry reached no output (or raised
    # TypeError in the caller, for the field names).
    log = llmlog.get_logger()
    log.info(_NoStr())
    log.info("m", exc_info=(1, 2))
    log.info("m", stacklevel="x")
    log.info("m", token_info="lots")
    log.info("m", model_id=123)
    log.info("m", cost="free", latency_ms=float("nan"))
    log.info("m", msg="x", self="y")
    log.log(Severity.INFO, "m", severity="x")
    log.warn("m", stacklevel=0)
    log.prompt_completion("p", "c", prompt="x", completion="y")
    entries = configured.entries
    assert len(entries) == 10
    assert {k: entries[9].fields[k] for k in ("prompt", "completion", "field.prompt")} == {
        "prompt": "p",
        "completion": "c",
        "field.prompt": "x",
    }
    assert entries[0].message == "<unprintable _NoStr: ValueError: no str>"
    assert entries[1].exception == "exc_info=(1, 2) (not an exception)"
    assert dict(entries[2].fields) == {"stacklevel": "x"} and entries[2].line > 0
    assert entries[3].token_info is None and dict(entries[3].fields) == {"token_info": "lots"}
    assert entries[4].model_id == "123"
    assert entries[5].cost is None and dict(entries[5].fields)["cost"] == "free"
    assert entries[5].latency_ms is None and "latency_ms" in entries[5].fields
    assert dict(entries[6].fields) == {"msg": "x", "self": "y"}
    assert dict(entries[7].fields) == {"severity": "x"}
    assert dict(entries[8].fields) == {"stacklevel": 0}
    assert "internal error" not in capsys.readouterr().err


def test_entries_after_shutdown_go_to_stderr_never_nowhere(capsys):
    llmlog.configure({"level": "info", "outputs": {}}, autoload=False)
    log = llmlog.get_logger()
    llmlog.shutdown()
    for n in range(10):
        (log.error if n == 5 else log.info)("late %d", n)
    log.debug("below the level that was configured")
    err = capsys.readouterr().err
    assert err.count("logging after llmlog.shutdown()") == 1
    assert [f"late {n}" in err for n in range(10)] == [True] * 10
    assert "below the level" not in err
    llmlog.configure({"level": "info", "outputs": {}}, autoload=False)  # starts over
    log.info("quiet again")
    assert "quiet again" not in capsys.readouterr().err
