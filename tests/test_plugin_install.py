"""Plugins installed as separate distributions, for real (pip builds and installs a wheel).

Each install goes to its own ``--target`` directory put on ``PYTHONPATH`` of a child process, so
the development environment is left as it was. Building uses the environment's hatchling
(``--no-build-isolation``), so no network is needed.
"""

import json
import sys
import textwrap
from pathlib import Path


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


def test_template_installs_is_discovered_and_passes_its_own_tests(sh, cli, repo, tmp_path):
    site = tmp_path / "site"
    pip_install(sh, repo / "plugins" / "_template", site)
    env = {"PYTHONPATH": str(site)}

    listed = cli("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    example = plugins["output_example"]
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

    tests = sh(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(repo / "plugins" / "_template" / "tests"),
        ],
        env=env,
        cwd=repo,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout

    blocked = cli("plugins", "--json", env={**env, "LLMLOG_DISABLED_PLUGINS": "output_example"})
    assert {p["name"]: p["status"] for p in json.loads(blocked.stdout)["plugins"]}[
        "output_example"
    ] == "blocked"


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
