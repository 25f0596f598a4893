"""``llmlog.testing``'s process helpers: a command run as a user runs it."""

from __future__ import annotations

import sys

import pytest

from llmlog.testing import run_command, run_llmlog


def test_run_command_captures_text_in_utf8_and_adds_to_the_environment():
    done = run_command(
        [sys.executable, "-c", "import os, sys; print(os.environ['EXTRA'], sys.flags.utf8_mode)"],
        env={"EXTRA": "é"},
    )
    assert done.returncode == 0
    assert done.stdout.split() == ["é", "1"]


def test_check_shows_both_outputs_of_a_failing_command():
    program = "import sys; print('out'); sys.stderr.write('err'); sys.exit(3)"
    with pytest.raises(AssertionError, match=r"exited 3\nstdout:\nout\n\nstderr:\nerr"):
        run_command([sys.executable, "-c", program], check=True)


def test_run_llmlog_runs_the_installed_command():
    done = run_llmlog("--help")
    assert done.returncode == 0 and "usage: llmlog" in done.stdout
