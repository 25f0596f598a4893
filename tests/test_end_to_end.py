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
