"""Fixtures shared by the core tests.

Every test runs in an empty temporary directory with the LLMLOG_* environment cleared and the
user configuration directory pointed at the temporary directory, so no llmlog.toml of the machine
can leak in. ``configured`` installs a known configuration and captures what is logged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmlog
from llmlog.logger import global_dispatcher
from llmlog.testing import ListOutput, isolated_environment


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


class Captured:
    """A configured global logger writing to a :class:`ListOutput`."""

    def __init__(self, output: ListOutput) -> None:
        self.output = output

    @property
    def entries(self) -> list[llmlog.LogEntry]:
        return self.output.entries

    def messages(self) -> list[str]:
        return [e.message for e in self.entries]


@pytest.fixture
def configured() -> Captured:
    """The global logger configured at DEBUG with only a list output (no plugins loaded)."""
    llmlog.configure({"level": "debug", "outputs": {}}, autoload=False)
    output = ListOutput()
    output.name = "list"
    global_dispatcher().add_output(output)
    return Captured(output)


@pytest.fixture
def unprivileged() -> list[str]:
    """The command prefix that runs a command as an unprivileged user, for tests of permissions
    (root reads and writes any file); empty when not root. Skips where privileges cannot be
    dropped."""
    import shutil

    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop privileges")
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # The unprivileged user must be able to read this checkout and its environment: a clone in a
    # private directory (`mktemp -d` makes it 0700) is out of its reach.
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import llmlog"], capture_output=True, timeout=60
    )
    if probe.returncode != 0:
        pytest.skip("the unprivileged user cannot read this checkout (a private directory)")
    return prefix


@pytest.fixture
def trace_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The in-test trace formats (``coretest_formats``: ``coretest`` and ``coretest-alt``) as an
    installed entry-point plugin for this test: ``llmlog.cli.main`` and ``plugin_host()`` find
    them. Yields the module; ``PYTHONPATH`` for a subprocess is in its ``pythonpath``."""
    import importlib.util
    import sys

    here = Path(__file__).parent
    module = sys.modules.get("coretest_formats")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "coretest_formats", here / "coretest_formats.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["coretest_formats"] = module
        spec.loader.exec_module(module)
    site = module.install(tmp_path / "site")
    # The other installed plugins (the workspace has the real trace formats) blocked through the
    # real switch, so what the commands print depends on these formats only.
    import importlib.metadata as md

    others = {ep.name for ep in md.entry_points(group="llmlog")} - {module.NAME}
    monkeypatch.setenv("LLMLOG_DISABLED_PLUGINS", ",".join(sorted(others)))
    monkeypatch.syspath_prepend(str(here))
    monkeypatch.syspath_prepend(str(site))
    module.pythonpath = os.pathsep.join([str(site), str(here)])
    return module
