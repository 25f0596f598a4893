"""The project's tasks, one nox session each: ``nox -s NAME`` (``nox -l`` lists them).

Every session but ``core_alone`` runs in the workspace environment (``.venv``, the one the README's
commands make; ``UV_PROJECT_ENVIRONMENT`` names another), synced from ``uv.lock`` first, so
``nox -s tests`` on a fresh clone sets everything up. ``core_alone`` builds a new environment that
holds the core alone, installed with pip, as a user with only ``pip install llmlog`` has it.

Arguments after ``--`` go to the tool: ``nox -s tests -- plugins/output-file -x``,
``nox -s bench -- --quick``. ``nox -s perfdoc`` measures the hot-path benchmarks and rewrites
docs/performance.md's tables from them. ``.ci/run`` runs the CI's sessions by name.

A pytest run that collects no test exits with 5, which fails its session as any non-zero exit
does (a CI run that tests nothing must not pass).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("UV_PROJECT_ENVIRONMENT") or ROOT / ".venv")
BIN = VENV / "bin"

#: What ``nox`` alone runs: the checks a contributor runs before a commit.
nox.options.sessions = ["lint", "types", "imports", "tests"]
# Sessions run in the workspace environment; core_alone asks for a virtualenv of its own.
nox.options.default_venv_backend = "none"
nox.options.error_on_missing_interpreters = True

#: The full pytest selection: the ``slow`` tests too (the default run leaves them out, see
#: ``addopts`` in pyproject.toml).
EVERYTHING = ("-m", "slow or not slow")

#: The benchmarks run before and after a change to the hot path (docs/performance.md).
BENCHMARKS = ("bench_core.py", "bench_file.py", "bench_flight.py", "bench_trace.py")
#: Where ``nox -s perfdoc`` keeps the results that docs/performance.md's tables are written from
#: (``bench_core.py`` -> ``core.json``); committed with the page.
PUBLISHED = ROOT / "bench" / "published"
#: The benchmarks ``nox -s bench`` runs besides the hot-path ones: not part of perfdoc's tables
#: (``llmlog report``'s figures are in their own section of docs/performance.md; the replay
#: lookup's are in docs/testing-with-traces.md).
OTHER_BENCHMARKS = ("bench_report.py", "bench_replay.py")


def uv() -> str:
    """The uv that manages the workspace: the one in ``.venv``, else the one on PATH."""
    for candidate in (BIN / "uv", shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise SystemExit("nox: uv not found; `python3 -m pip install uv` (or see CONTRIBUTING.md)")


def sync(session: nox.Session, *groups: str) -> None:
    """Bring the workspace environment to ``uv.lock`` (every distribution, the dev group and
    ``groups``), leaving what other sessions added (``--inexact``)."""
    session.run(
        uv(),
        "sync",
        "--all-packages",
        "--locked",
        "--inexact",
        *(f"--group={group}" for group in groups),
        external=True,
    )


def tool(name: str) -> str:
    """A command of the workspace environment."""
    return str(BIN / name)


@nox.session
def tests(session: nox.Session) -> None:
    """The fast run: every test but those marked ``slow``."""
    sync(session)
    session.run(tool("python"), "-m", "pytest", *session.posargs, external=True)


@nox.session
def tests_full(session: nox.Session) -> None:
    """Every test, the ``slow`` attacks, fuzz campaigns and end-to-end runs included (CI)."""
    sync(session)
    # The slowest tests named in the log: what to look at when the run nears CI's time budget.
    session.run(
        tool("python"),
        "-m",
        "pytest",
        *EVERYTHING,
        "--durations=20",
        *session.posargs,
        external=True,
    )


@nox.session(venv_backend="venv")
def core_alone(session: nox.Session) -> None:
    """The core's tests in a new environment holding the core alone (no plugin), with a coverage
    report of the core; under 85% fails (issue 16: the core is tested on its own)."""
    session.install(
        "./core", "pytest>=8.3", "pytest-xdist>=3.6", "hypothesis>=6.100", "coverage>=7.6"
    )
    session.run(
        "coverage",
        "run",
        "--source=llmlog",
        "--data-file",
        str(Path(session.virtualenv.location) / ".coverage"),
        "-m",
        "pytest",
        "core/tests",
        "-p",
        "no:cacheprovider",
        # in this process: coverage measures the process it runs, not xdist's workers
        "-n0",
        *EVERYTHING,
        *session.posargs,
    )
    session.run(
        "coverage",
        "report",
        "--data-file",
        str(Path(session.virtualenv.location) / ".coverage"),
        "--skip-covered",
        "--sort=cover",
        "--fail-under=85",
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format, checking only) and the pre-commit hygiene hooks."""
    sync(session)
    session.run(tool("ruff"), "check", ".", external=True)
    session.run(tool("ruff"), "format", "--check", ".", external=True)
    # ruff ran above and mypy has its own session.
    session.run(
        tool("pre-commit"),
        "run",
        "--all-files",
        "--show-diff-on-failure",
        env={"SKIP": "ruff-check,ruff-format,mypy"},
        external=True,
    )


@nox.session
def types(session: nox.Session) -> None:
    """mypy, strict, over the core and every plugin (``[tool.mypy]`` in pyproject.toml)."""
    sync(session)
    session.run(tool("mypy"), *session.posargs, external=True)


@nox.session
def imports(session: nox.Session) -> None:
    """The import contracts (``[tool.importlinter]`` in pyproject.toml)."""
    sync(session)
    session.run(tool("lint-imports"), "--no-cache", *session.posargs, external=True)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml), warnings as errors, into ``site/``."""
    sync(session, "docs")
    session.run(tool("mkdocs"), "build", "--strict", *session.posargs, external=True)


@nox.session
def perfdoc(session: nox.Session) -> None:
    """Run the hot-path benchmarks (full length; arguments after ``--`` go to each, e.g.
    ``--rounds 9``) into ``bench/published/``, then write docs/performance.md's tables from them
    (``bench/render.py``). Run it on a quiet machine: each table states the load it was measured
    under. ``.venv/bin/python bench/render.py`` alone rewrites the tables from the stored results."""
    sync(session)
    for script in BENCHMARKS:
        results = PUBLISHED / f"{script.removeprefix('bench_').removesuffix('.py')}.json"
        session.run(
            tool("python"),
            f"bench/{script}",
            *session.posargs,
            "--output",
            str(results),
            external=True,
        )
    session.run(tool("python"), "bench/render.py", external=True)


@nox.session
def screenshots(session: nox.Session) -> None:
    """The report's screenshots in ``docs/img/`` (``docs/report.md``), taken in headless
    Chromium (``/usr/bin/chromium``) from sample runs."""
    sync(session)
    session.run(
        tool("python"),
        "-m",
        "llmlog_report_html.screenshots",
        "docs/img",
        *session.posargs,
        external=True,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The hot-path benchmarks, one after another in one session (``-- --quick`` for a smoke
    run); results in ``bench/results/``."""
    sync(session)
    for script in (*BENCHMARKS, *OTHER_BENCHMARKS):
        session.run(tool("python"), f"bench/{script}", *session.posargs, external=True)
