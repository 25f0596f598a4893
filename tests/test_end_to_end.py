"""A real program, configured by llmlog.toml, run as a separate process."""

import json
import os
import shlex
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

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


# -- the demo, run as the README runs it: .venv/bin/llmlog, with the venv not on PATH

LLMLOG = Path(sys.executable).with_name("llmlog")


def bare_environment(tmp_path: Path) -> dict[str, str]:
    """A PATH without this environment's bin directory (as after the README's command, which
    activates nothing), and a temporary directory of the run's own, to see what is left there."""
    scratch = tmp_path / "tmpdir"
    scratch.mkdir(exist_ok=True)
    bin_dir = str(LLMLOG.parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != bin_dir)
    return {"PATH": path or os.defpath, "TMPDIR": str(scratch)}


def printed_command(stderr: str, marker: str) -> list[str]:
    """The command the demo printed after ``marker``, split as a shell splits it."""
    return shlex.split(stderr.rsplit(marker, 1)[1].splitlines()[0])


def test_the_demo_prints_a_command_that_works_as_printed_and_leaves_nothing_in_tmp(sh, tmp_path):
    env = bare_environment(tmp_path)
    assert shutil.which("llmlog", path=env["PATH"]) != str(LLMLOG)
    done = sh([str(LLMLOG), "demo"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    command = printed_command(done.stderr, "see them with: ")
    assert command[1:3] == ["flight", "view"]
    shown = sh(command, env=env, cwd=tmp_path / "tmpdir")  # exactly as printed, anywhere
    assert shown.returncode == 0, shown.stderr
    assert "DEBUG POST /v1/chat/completions" in shown.stdout
    assert list((tmp_path / "tmpdir").iterdir()) == []
    # The snapshot is where `llmlog flight list` looks.
    listed = sh([str(LLMLOG), "flight", "list"], env=env, cwd=tmp_path)
    assert Path(command[-1]).name in listed.stdout and " demo " in listed.stdout


@pytest.mark.slow
def test_the_demo_keeps_its_newest_snapshots_only(sh, tmp_path):
    from llmlog.demo import KEEP

    env = bare_environment(tmp_path)
    paths = []
    for _ in range(KEEP + 2):
        done = sh([str(LLMLOG), "demo"], env=env, cwd=tmp_path, check=True)
        paths.append(Path(printed_command(done.stderr, "see them with: ")[-1]))
    directory = paths[0].parent
    assert {p.parent for p in paths} == {directory}
    assert sorted(directory.iterdir()) == sorted(paths[-KEEP:])


@pytest.mark.slow
def test_the_dspy_demo_prints_a_view_command_that_works_and_leaves_nothing_in_tmp(sh, tmp_path):
    env = bare_environment(tmp_path)
    done = sh([str(LLMLOG), "demo", "--dspy"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    command = printed_command(done.stderr, "$ ")
    assert command[1] == "view"
    shown = sh(command, env=env, cwd=tmp_path / "tmpdir")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == done.stdout  # the tree the demo showed
    assert list((tmp_path / "tmpdir").iterdir()) == []


def test_the_dspy_demo_without_dspy_says_what_to_install(sh, tmp_path):
    # DSPy missing for real: a module of that name that fails to import as a missing one does.
    blocked = tmp_path / "no-dspy"
    blocked.mkdir()
    (blocked / "dspy.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'dspy'\", name='dspy')\n"
    )
    done = sh([str(LLMLOG), "demo", "--dspy"], env={"PYTHONPATH": str(blocked)}, cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().endswith(
        "llmlog: demo --dspy needs DSPy and the integration: pip install "
        "llmlog-integration-dspy (No module named 'dspy')"
    )
