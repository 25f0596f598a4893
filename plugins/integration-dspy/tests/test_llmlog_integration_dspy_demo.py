"""``llmlog demo --dspy``: the variant this plugin registers with ``llmlog-command-demo``, run as
a user runs it."""

import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment, run_command, run_llmlog

pytest.importorskip("llmlog_command_demo", reason="llmlog demo comes from llmlog-command-demo")

LLMLOG = Path(sys.executable).with_name("llmlog")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


@pytest.fixture
def sh():
    return run_command


@pytest.fixture
def cli():
    return run_llmlog


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


@pytest.mark.slow
def test_dspy_demo_traces_a_react_agent_and_shows_the_tree(cli, tmp_path):
    done = cli("demo", "--dspy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Trace ") and "├── Predict:react " in out
    assert "✗ Tool:search_news" in out and "news service unavailable" in out
    assert "Tool:get_weather" in out and "└── ChainOfThought:extract" in out
    assert "llm dummy (dummy)" in out and "cost unknown" in out
    # The evaluation: its score and a table of its examples under its root.
    assert "score 33.33 (exact_match) of 3 examples: 1 passed, 1 failed, 1 error" in out
    assert "#1 FAIL  question: Capital of Spain? → answer: Barcelona" in out
    assert "#2 ERROR  question: Capital of the moon? → ValueError: the moon has no capital" in out
    assert out.rstrip().endswith(
        "7 LLM calls, 0 tokens (7 calls with unknown price), 2 with errors"
    )
    assert "weather lookup" in done.stderr  # the tool's log entry, with the trace id
    assert "[traceId=" in done.stderr


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
