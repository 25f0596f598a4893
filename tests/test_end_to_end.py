"""A real program, configured by llmlog.toml, run as a separate process."""

import json
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import asyncio, threading
    from concurrent.futures import ThreadPoolExecutor
    import llmlog

    llmlog.configure()
    log = llmlog.get_logger("app")

    def handle(i):
        with llmlog.with_fields(request=i):
            log.info("handled %d", i, api_key="sk-live-secret")

    with llmlog.with_model_id("gpt-4o-mini"), llmlog.with_trace_id("ab" * 16):
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(llmlog.bind_current(handle), range(20)))

        async def task(i):
            await asyncio.sleep(0)
            log.warn("task %d", i, token_info=llmlog.TokenUsage(i, 1))

        async def main():
            await asyncio.gather(*(task(i) for i in range(5)))

        asyncio.run(main())
    log.error("done")
    # no explicit flush or shutdown: exit must flush
    """
)


def test_two_outputs_threads_tasks_and_flush_at_exit(sh, tmp_path):
    (tmp_path / "llmlog.toml").write_text(
        textwrap.dedent(
            """
            level = "info"
            default_fields = {service = "qa"}

            [outputs.json]
            type = "console"
            stream = "stdout"
            formatter = "json"

            [outputs.alerts]
            type = "stderr"
            level = "warn"
            formatter = "logfmt"
            """
        )
    )
    (tmp_path / "app.py").write_text(PROGRAM)
    done = sh([sys.executable, "app.py"], cwd=tmp_path, check=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 26
    handled = [r for r in records if r["message"].startswith("handled")]
    assert sorted(r["request"] for r in handled) == list(range(20))
    assert all(r["modelId"] == "gpt-4o-mini" and r["traceId"] == "ab" * 16 for r in handled)
    assert all(r["api_key"] == "[REDACTED]" and r["service"] == "qa" for r in handled)
    tasks = [r for r in records if r["message"].startswith("task")]
    assert sorted(r["tokenInfo"]["promptTokens"] for r in tasks) == [0, 1, 2, 3, 4]
    alerts = done.stderr.splitlines()
    assert len(alerts) == 6
    assert all(line.split()[1] in ("level=warn", "level=error") for line in alerts)


def test_core_alone_writes_plain_text_to_stderr(sh, tmp_path):
    (tmp_path / "app.py").write_text(
        "import llmlog\nllmlog.get_logger().info('no plugins here', n=1)\n"
    )
    done = sh(
        [sys.executable, "app.py"],
        cwd=tmp_path,
        env={"LLMLOG_DISABLE_PLUGIN_AUTOLOAD": "1"},
        check=True,
    )
    assert done.stdout == ""
    assert " INFO  no plugins here [app.py:2] n=1" in done.stderr


THREADS = textwrap.dedent(
    """
    import json, os, signal, socket, sys, threading, time

    started = []
    start = threading.Thread.start

    def noting(thread):  # every thread llmlog's code starts, the short-lived ones too
        frame = sys._getframe(1)
        while frame.f_code.co_filename.endswith(("threading.py", "thread.py")):
            frame = frame.f_back  # past the standard library's thread pools
        if "llmlog" in os.path.basename(os.path.dirname(frame.f_code.co_filename)):
            started.append(thread.name)
        start(thread)

    threading.Thread.start = noting
    held = socket.socket()  # a dead collector: bound, never listening
    held.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{held.getsockname()[1]}"
    import llmlog

    llmlog.configure({
        "level": "debug",
        "outputs": {
            "file": {"type": "file", "path": "app.log", "buffer_size": 65536,
                     "rotation": {"max_bytes": 4096, "compress": "gzip"}},
            "otel": {"type": "otlp", "endpoint": f"{dead}/v1/logs", "flush_timeout": 1},
        },
        "flight_recorder": {"enabled": True, "triggers": ["fatal", "signal"],
                            "snapshot_dir": "snapshots"},
        "trace": {"dir": "traces", "sampling": {"enabled": True, "ratio": 1.0}},
        "integrations": {"otlp": {"enabled": True, "endpoint": f"{dead}/v1/traces",
                                  "flush_timeout": 1}},
    })
    log = llmlog.get_logger("app")
    for n in range(200):
        with llmlog.span("step"):
            log.info("step done", n=n, text="x" * 50)
    with llmlog.new_trace_session(), llmlog.span("traced"):
        log.info("in a trace")
    os.kill(os.getpid(), signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while not (os.path.isdir("snapshots") and os.listdir("snapshots")):
        assert time.monotonic() < deadline, "no signal snapshot"
        time.sleep(0.05)
    llmlog.shutdown()
    print(json.dumps(started))
    """
)


def test_every_thread_llmlog_starts_is_named_for_it(sh, tmp_path):
    # What llmlog.testing.threads_started counts on, and what a thread dump (py-spy, faulthandler)
    # shows a user: file flushing and rotation, OTLP export of logs and spans, tail sampling, the
    # flight recorder's ticker and its signal snapshot. (Libraries llmlog calls start their own:
    # OpenTelemetry's resource detection runs a short-lived thread pool; those are theirs.)
    (tmp_path / "prog.py").write_text(THREADS)
    done = sh([sys.executable, "prog.py"], cwd=tmp_path, check=True)
    started = json.loads(done.stdout)
    assert {"llmlog-flush-file", "llmlog-otlp", "llmlog-otlp-logs", "llmlog-sampling"} <= set(
        started
    ), started
    assert "llmlog-flight-signal" in started and "llmlog-flight-ticker" in started, started
    assert all(name.startswith("llmlog-") for name in started), started
