"""Plugins installed as separate distributions, for real (pip builds and installs a wheel).

Each install goes to its own ``--target`` directory put on ``PYTHONPATH`` of a child process, so
the development environment is left as it was. Building uses the environment's hatchling
(``--no-build-isolation``), so no network is needed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

UV = Path(sys.executable).with_name("uv")
# Read at import, before the tests' isolated environment points XDG_CACHE_HOME elsewhere: the
# offline runs of uv take every package from this cache, which the README's sync filled.
UV_CACHE = (
    subprocess.run([UV, "cache", "dir"], capture_output=True, text=True).stdout.strip()
    if UV.exists()
    else ""
)


def pip_install(sh, source: Path, target: Path) -> None:
    sh(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
    )


def install_template(sh, cli, template: Path, tmp_path: Path, plugin: str) -> tuple[dict, dict]:
    """``template`` installed for real into a site directory of its own: the environment that
    finds it, and what ``llmlog plugins --json`` says of ``plugin``."""
    site = tmp_path / "site"
    pip_install(sh, template, site)
    env = {"PYTHONPATH": str(site)}
    listed = cli("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    return env, {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}[plugin]


def run_template_tests(sh, template: Path, env: dict, repo: Path) -> str:
    """The template's own tests, run against the installed copy: their summary line."""
    tests = sh(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(template / "tests")],
        env=env,
        cwd=repo,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    return str(tests.stdout)


def make_distribution(root: Path, name: str, entry_point: str, module: str, code: str) -> Path:
    package = root / name
    (package / module).mkdir(parents=True)
    (package / module / "__init__.py").write_text(textwrap.dedent(code))
    (package / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            [project]
            name = "{name}"
            version = "1.2.3"
            [project.entry-points.llmlog]
            {entry_point} = "{module}"
            [tool.hatch.build.targets.wheel]
            packages = ["{module}"]
            """
        )
    )
    return package


@pytest.mark.slow
def test_template_installs_is_discovered_and_passes_its_own_tests(sh, cli, repo, tmp_path):
    env, example = install_template(
        sh, cli, repo / "plugins" / "_template", tmp_path, "output_example"
    )
    assert (example["distribution"], example["version"], example["status"]) == (
        "llmlog-output-example",
        "0.1.0",
        "loaded",
    )
    assert example["components"] == ["output:example"]

    program = tmp_path / "app.py"
    program.write_text(
        "import llmlog\nllmlog.configure()\nllmlog.get_logger().info('through the plugin', n=1)\n"
    )
    (tmp_path / "llmlog.toml").write_text(
        '[outputs.mine]\ntype = "example"\nprefix = "[plugin]"\nformatter = "logfmt"\n'
    )
    done = sh([sys.executable, str(program)], env=env, cwd=tmp_path, check=True)
    assert done.stdout.startswith("[plugin] time=")
    assert 'msg="through the plugin"' in done.stdout

    assert "2 passed" in run_template_tests(sh, repo / "plugins" / "_template", env, repo)

    blocked = cli("plugins", "--json", env={**env, "LLMLOG_DISABLED_PLUGINS": "output_example"})
    assert {p["name"]: p["status"] for p in json.loads(blocked.stdout)["plugins"]}[
        "output_example"
    ] == "blocked"


TEMPLATE_TRACE_PROGRAM = """
import os
import sys
import llmlog

os.makedirs(sys.argv[1])
session = llmlog.new_trace_session(sys.argv[1], format="example")
with session, llmlog.span("answer") as s:
    s.llm_call(model="m", prompt="2+2?", response="4", usage={"prompt_tokens": 2, "completion_tokens": 1})
print(session.path)
"""


@pytest.mark.slow
def test_trace_template_installs_writes_a_trace_llmlog_view_reads_and_passes_its_tests(
    sh, cli, repo, tmp_path
):
    env, example = install_template(
        sh, cli, repo / "plugins" / "_template_trace", tmp_path, "trace_example"
    )
    assert (example["distribution"], example["version"], example["status"]) == (
        "llmlog-trace-example",
        "0.1.0",
        "loaded",
    )
    assert example["components"] == ["trace format:example"]

    program = tmp_path / "app.py"
    program.write_text(TEMPLATE_TRACE_PROGRAM)
    written = sh([sys.executable, str(program), str(tmp_path / "traces")], env=env, check=True)
    path = written.stdout.strip()
    assert path.endswith(".jsonl")
    shown = cli("view", "--no-color", "--compact", path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "session",
        "span answer",
        "  llm_call m 3 tokens",
        f"span end {json.loads(Path(path).read_text().splitlines()[-1])['data']['duration_ms']} ms",
    ]
    # The format's own view flag, declared through view_arguments, reaches its viewer.
    calls = cli("view", "--calls", "--compact", path, env=env)
    assert calls.stdout == "  llm_call m 3 tokens\n", calls.stderr
    assert "--calls" in cli("view", "--help", env=env).stdout

    assert "6 passed" in run_template_tests(sh, repo / "plugins" / "_template_trace", env, repo)


@pytest.mark.slow
def test_a_plugin_that_fails_to_import_is_reported_and_logging_goes_on(sh, cli, tmp_path):
    site = tmp_path / "site"
    source = make_distribution(
        tmp_path / "src",
        "llmlog-broken",
        "broken",
        "llmlog_broken",
        "raise ImportError('needs libfoo 2.0')\n",
    )
    pip_install(sh, source, site)
    env = {"PYTHONPATH": str(site)}

    listed = cli("plugins", env=env)
    assert listed.returncode == 1
    assert "broken  (llmlog-broken 1.2.3)  [failed]" in listed.stdout
    assert "import failed: ImportError: needs libfoo 2.0" in listed.stdout

    program = tmp_path / "app.py"
    program.write_text("import llmlog\nllmlog.get_logger().warn('still logging')\n")
    done = sh([sys.executable, str(program)], env=env, cwd=tmp_path, check=True)
    assert (
        "plugin 'broken' (llmlog-broken) was not loaded: import failed: ImportError: needs libfoo 2.0"
        in done.stderr
    )
    assert "still logging" in done.stderr


@pytest.mark.slow
def test_two_distributions_registering_one_name_is_an_error_naming_both(sh, cli, tmp_path):
    site = tmp_path / "site"
    code = """
        from llmlog import hookimpl

        @hookimpl
        def llmlog_register_formatters(register):
            register("json", lambda options, context: None)
    """
    pip_install(
        sh,
        make_distribution(
            tmp_path / "src", "llmlog-other-json", "other_json", "llmlog_other_json", code
        ),
        site,
    )
    env = {"PYTHONPATH": str(site)}

    listed = cli("plugins", env=env)
    assert listed.returncode == 1
    assert (
        "conflict: formatter 'json' is registered by both plugin 'formatter_json' (llmlog-formatter-json 0.1.0) "
        "and plugin 'other_json' (llmlog-other-json 1.2.3)" in listed.stdout
    )
    check = cli("config", "check", env=env)
    assert check.returncode == 1
    assert "@ $.plugins" in check.stderr

    resolved = cli("config", "check", env={**env, "LLMLOG_DISABLED_PLUGINS": "other_json"})
    assert resolved.returncode == 0, resolved.stderr


def readme_block_after(readme: str, heading_text: str) -> list[str]:
    """The command lines of the first ```sh block after ``heading_text`` in the README."""
    rest = readme.split(heading_text, 1)[1]
    block = rest.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def standard_distributions(repo: Path) -> set[str]:
    import tomllib

    core = tomllib.loads((repo / "core" / "pyproject.toml").read_text())
    extra = core["project"]["optional-dependencies"]["standard"]
    return {"llmlog", *(re.split(r"[<>=!~ ;\[]", req, maxsplit=1)[0] for req in extra)}


def registering(repo: Path, distributions: set[str]) -> set[str]:
    """Those of ``distributions`` that register components (an ``llmlog`` entry point, or core's
    default plugins): what ``llmlog plugins`` lists. A library such as llmlog-engine-files is not
    among them."""
    import tomllib

    found = set()
    for pyproject in [repo / "core" / "pyproject.toml", *repo.glob("plugins/*/pyproject.toml")]:
        project = tomllib.loads(pyproject.read_text())["project"]
        if project["name"] in distributions and (
            project["name"] == "llmlog" or "llmlog" in project.get("entry-points", {})
        ):
            found.add(project["name"])
    return found


def test_the_readme_source_install_line_names_every_standard_distribution(repo):
    import glob
    import tomllib

    readme = (repo / "README.md").read_text()
    (line,) = readme_block_after(readme, "Or straight\nfrom the sources")
    assert line.startswith("pip install ./")
    paths = [p for arg in line.split()[2:] for p in sorted(glob.glob(str(repo / arg)))]
    names = {
        tomllib.loads((Path(p) / "pyproject.toml").read_text())["project"]["name"] for p in paths
    }
    assert names == standard_distributions(repo)


def dependency_closure(roots: list[str]) -> list:
    """The installed distributions that ``roots`` need (extras and markers followed), llmlog's
    own left out: what an index would have to provide."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found = {}
    todo = [Requirement(r) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = distribution(req.name)
        if not key[0].startswith("llmlog"):
            found[key[0]] = dist
        for text in dist.requires or []:
            sub = Requirement(text)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return list(found.values())


def offline_dependencies(target: Path) -> Path:
    """A directory holding (as links) only the third-party packages llmlog[standard] needs,
    taken from this environment: a .pth file to it gives a fresh environment llmlog's
    dependencies without an index, and nothing of llmlog itself."""
    target.mkdir()
    for dist in dependency_closure(["llmlog[standard]"]):
        site = Path(str(dist.locate_file("")))
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            if top != ".." and not (target / top).exists() and (site / top).exists():
                (target / top).symlink_to(site / top)
    return target


TRACE_PROGRAM = """
import os
import sys
import llmlog

os.makedirs("traces", exist_ok=True)
for format in sys.argv[1:]:
    try:
        session = llmlog.new_trace_session("traces", format=None if format == "-" else format)
    except ValueError as exc:
        print(f"error: {exc}")
        continue
    with session, llmlog.span("root") as s:
        s.llm_call(model="m", prompt="q", response="a", usage={"prompt_tokens": 2, "completion_tokens": 1})
    print(session.path)
"""


@pytest.mark.slow
def test_the_readme_local_route_to_llmlog_standard_works_in_a_fresh_environment(sh, repo, tmp_path):
    """The README's commands, run as written plus flags that keep them offline: the build uses
    this environment's hatchling (--no-build-isolation --offline), pip finds llmlog's wheels in
    dist only (--no-index) and the third-party dependencies already installed (a .pth file)."""
    build, install = readme_block_after(
        (repo / "README.md").read_text(), "From a checkout of this repository"
    )
    assert build == ".venv/bin/uv build --all-packages --wheel -o dist"
    assert install == 'pip install --find-links dist "llmlog[standard]"'
    dist = tmp_path / "dist"
    sh(
        [str(UV), *build.split()[1:-1], str(dist), "--no-build-isolation", "--offline"],
        cwd=repo,
        env={"VIRTUAL_ENV": sys.prefix},
        check=True,
    )
    env_dir = tmp_path / "app-env"
    sh([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = sh(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
    ).stdout.strip()
    deps = offline_dependencies(tmp_path / "deps")
    (Path(site) / "llmlog-test-deps.pth").write_text(f"{deps}\n")
    pip = [str(env_dir / "bin" / "pip"), "install", "--quiet", "--no-index", "--find-links"]
    # The dev environment's own settings must not reach the fresh one.
    clean = {
        "PYTHONPATH": "",
        "VIRTUAL_ENV": str(env_dir),
        "PIP_FIND_LINKS": "",
        "PIP_CONFIG_FILE": os.devnull,
    }
    app = tmp_path / "app"
    app.mkdir()

    # The core alone: a trace session says which distribution to install.
    sh([*pip, str(dist), "llmlog"], env=clean, check=True)
    alone = sh([str(python), "-c", TRACE_PROGRAM, "-", "rlm"], env=clean, cwd=app, check=True)
    assert alone.stdout.splitlines() == [
        "error: unknown trace format 'dspy' (installed: none); install llmlog-trace-dspy "
        "(pip install llmlog-trace-dspy, or llmlog[standard])",
        "error: unknown trace format 'rlm' (installed: none); install llmlog-trace-rlm "
        "(pip install llmlog-trace-rlm, or llmlog[standard])",
    ]

    # The README's command: every standard plugin, from the wheels.
    sh([*pip, str(dist), "llmlog[standard]"], env=clean, check=True)
    listed = sh([str(env_dir / "bin" / "llmlog"), "plugins", "--json"], env=clean, check=True)
    plugins = json.loads(listed.stdout)["plugins"]
    assert {p["distribution"] for p in plugins} == registering(repo, standard_distributions(repo))
    components = {c for p in plugins for c in p["components"]}
    assert {"trace format:dspy", "trace format:rlm", "recorder:zstd"} <= components
    written = sh([str(python), "-c", TRACE_PROGRAM, "-", "rlm"], env=clean, cwd=app, check=True)
    for path in written.stdout.splitlines():
        shown = sh(
            [str(env_dir / "bin" / "llmlog"), "view", "--no-color", path], env=clean, cwd=app
        )
        assert shown.returncode == 0, shown.stderr
        assert "1 LLM call" in shown.stdout and "3 tokens" in shown.stdout


def sh_commands_after(text: str, heading: str) -> list[str]:
    """The commands (comments stripped) of the first ```sh block after ``heading``."""
    return [line.split("  #", 1)[0].strip() for line in readme_block_after(text, heading)]


@pytest.mark.slow
def test_a_plugin_installed_beside_a_checkout_survives_the_documented_resync(sh, repo, tmp_path):
    """docs/writing-a-plugin.md's commands, run in a copy of the repository set up by the
    README's sync (offline, from uv's cache; this environment's uv plays .venv/bin/uv): a plain
    re-sync uninstalls the plugin, as the guide warns, and the documented one keeps it."""
    guide = sh_commands_after(
        (repo / "docs" / "writing-a-plugin.md").read_text(), "## Developing against a checkout"
    )
    template = sh_commands_after(
        (repo / "plugins" / "_template" / "README.md").read_text(), "Against a checkout"
    )
    install, resync = guide
    assert template == guide
    assert install == ".venv/bin/uv pip install -e ../llmlog-output-mine"
    assert resync == ".venv/bin/uv sync --all-packages --locked --inexact"

    junk = shutil.ignore_patterns(
        ".venv*", ".git", "*_cache", ".hypothesis", "__pycache__", "dist", "build", "logs"
    )
    checkout = tmp_path / "llmlog"
    shutil.copytree(repo, checkout, ignore=junk)
    shutil.copytree(repo / "plugins" / "_template", tmp_path / "llmlog-output-mine", ignore=junk)
    env = {
        "VIRTUAL_ENV": str(checkout / ".venv"),
        "UV_OFFLINE": "1",
        "UV_CACHE_DIR": UV_CACHE,
        "PYTHONPATH": "",
    }

    def run(command: str) -> None:
        program, *args = command.split()
        assert program == ".venv/bin/uv"
        sh([str(UV), *args], cwd=checkout, env=env, check=True)

    def plugin_listed() -> bool:
        listed = sh(
            [str(checkout / ".venv" / "bin" / "llmlog"), "plugins", "--json"],
            cwd=checkout,
            env=env,
            check=True,
        )
        return "output_example" in {p["name"] for p in json.loads(listed.stdout)["plugins"]}

    readme_sync = ".venv/bin/uv sync --all-packages --locked"
    assert f"{readme_sync} && .venv/bin/python -m pytest" in (repo / "README.md").read_text()
    run(readme_sync)
    run(install)
    assert plugin_listed()
    run(readme_sync)
    assert not plugin_listed()  # what the guide warns of
    run(install)
    run(resync)
    run(resync)
    assert plugin_listed()


NO_COMPILER_PROGRAM = """
import sys
from pathlib import Path
import llmlog
from llmlog import Logger, Severity, fastpath
from llmlog_formatter_json import JsonFormatter
from llmlog_output_file import FileOptions, FileOutput

assert llmlog.__file__.startswith(sys.argv[1]), llmlog.__file__
assert fastpath.SPEEDUPS is False
try:
    from llmlog import _speedups
except ImportError:
    pass
else:
    raise AssertionError(f"a C module was found: {_speedups.__file__}")
out = FileOutput(sys.argv[2], JsonFormatter(), FileOptions())
log = Logger(Severity.INFO, [out])
assert log.dispatcher.emit_info is not None  # the flat function, its entry test in Python
for attempt in range(3):
    log.info("answer ready", user="alice", attempt=attempt, api_key="sk-secret")
out.close()
print(Path(sys.argv[2]).read_text())
"""


@pytest.mark.slow
def test_the_core_builds_without_a_c_compiler_and_logs_the_same(sh, repo, tmp_path):
    """The optional C module's promise (README, "Installing"): where the build finds no working
    C compiler (``CC=false`` here) it goes on without the module, and the core logs through its
    flat functions with the entry test in Python."""
    source = tmp_path / "core"
    shutil.copytree(
        repo / "core",
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "*.so", "__pycache__", "tests"),
    )
    site = tmp_path / "site"
    built = sh(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        env={"CC": "false"},
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert not [
        p.name
        for p in (site / "llmlog").iterdir()
        if p.name.startswith("_speedups.") and p.suffix in (".so", ".pyd", ".c")
    ]
    assert (site / "llmlog" / "_speedups.pyi").exists()
    log_file = tmp_path / "app.log"
    ran = sh(
        [sys.executable, "-c", NO_COMPILER_PROGRAM, str(site), str(log_file)],
        env={"PYTHONPATH": str(site)},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines() if line]
    assert [line["attempt"] for line in lines] == [0, 1, 2]
    assert all(line["api_key"] == "[REDACTED]" and line["user"] == "alice" for line in lines)
