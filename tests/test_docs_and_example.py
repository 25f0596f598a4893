"""Documentation and the example configuration cannot drift from the code."""

import inspect
import re
import tomllib

import attrs
import pytest

import llmlog
from llmlog import hookspecs
from llmlog.config.loader import SECTIONS, Settings
from llmlog.plugins import PluginHost
from llmlog.registry import ComponentKind


def hook_functions():
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if name.startswith("llmlog_") and callable(fn)
    }


def test_every_hook_has_a_section_with_its_exact_signature(repo):
    text = (repo / "docs" / "hooks.md").read_text()
    hooks = hook_functions()
    assert len(hooks) == 9
    for name, fn in hooks.items():
        args = ", ".join(inspect.signature(fn).parameters)
        assert f"## {name}({args})" in text, f"docs/hooks.md lacks '## {name}({args})'"
        assert fn.__doc__, f"{name} has no docstring"


def test_every_hook_is_a_registered_spec():
    host = PluginHost(autoload=False)
    assert set(hook_functions()) <= {
        name for name in dir(host.pm.hook) if name.startswith("llmlog_")
    }


def option_names(options, prefix=""):
    """Dotted names of every option, nested tables included (``rotation.max_bytes``)."""
    if options is None:
        return []
    attrs.resolve_types(options)
    names = []
    for field in attrs.fields(options):
        if attrs.has(field.type):
            names += option_names(field.type, f"{prefix}{field.name}.")
        else:
            names.append(f"{prefix}{field.name}")
    return names


def lookup(table, dotted):
    for part in dotted.split("."):
        if not isinstance(table, dict) or part not in table:
            return False
        table = table[part]
    return True


def installed_components():
    host = PluginHost()
    return host.components(ComponentKind.OUTPUT), host.components(ComponentKind.FORMATTER)


def test_every_trace_format_is_documented(repo):
    text = (repo / "docs" / "configuration.md").read_text()
    for name, component in PluginHost().components(ComponentKind.TRACE_FORMAT).items():
        assert f"### Trace format `{name}`" in text, f"trace format {name} undocumented"
        section = text.split(f"### Trace format `{name}`", 1)[1].split("\n## ", 1)[0]
        for option in option_names(component.options):
            assert f"- `{option}`:" in section, f"trace format {name}: {option} undocumented"


def test_every_integration_is_documented_and_in_the_example(repo):
    text = (repo / "docs" / "configuration.md").read_text()
    example = tomllib.loads((repo / "llmlog.toml.example").read_text())["integrations"]
    for name, component in PluginHost().components(ComponentKind.INTEGRATION).items():
        assert f"### Integration `{name}`" in text, f"integration {name} undocumented"
        section = text.split(f"### Integration `{name}`", 1)[1].split("\n## ", 1)[0]
        for option in ["enabled", *option_names(component.options)]:
            assert f"- `{option}`:" in section, f"integration {name}: {option} undocumented"
            assert lookup(example.get(name, {}), option), (
                f"integration {name}: {option} not in the example"
            )


def test_every_recorder_backend_is_documented_and_in_the_example(repo):
    text = (repo / "docs" / "configuration.md").read_text()
    example = tomllib.loads((repo / "llmlog.toml.example").read_text())["flight_recorder"]
    for name, component in PluginHost().components(ComponentKind.RECORDER).items():
        assert f"### Recorder backend `{name}`" in text, f"recorder backend {name} undocumented"
        section = (
            text.split(f"### Recorder backend `{name}`", 1)[1]
            .split("\n### ", 1)[0]
            .split("\n## ", 1)[0]
        )
        for option in option_names(component.options):
            assert f"- `{option}`:" in section, f"recorder backend {name}: {option} undocumented"
            if example["backend"]["type"] == name:
                assert option in example["backend"], (
                    f"recorder backend {name}: {option} not in the example"
                )


def test_every_configuration_key_is_documented(repo):
    text = (repo / "docs" / "configuration.md").read_text()
    for field in attrs.fields(Settings):
        assert f"### `{field.name}`" in text, f"top-level key {field.name} undocumented"
    for key in ("type", "level", "formatter"):
        assert re.search(rf"### `{key}`", text), f"output key {key} undocumented"
    outputs, formatters = installed_components()
    for label, components in (("Output", outputs), ("Formatter", formatters)):
        for name, component in components.items():
            assert f"### {label} `{name}`" in text, f"{label.lower()} {name} undocumented"
            section = text.split(f"### {label} `{name}`", 1)[1].split("\n### ", 1)[0]
            for option in option_names(component.options):
                assert f"- `{option}`:" in section, f"{label.lower()} {name}: {option} undocumented"


def test_every_environment_variable_is_documented(repo):
    text = (repo / "docs" / "configuration.md").read_text()
    source = "\n".join(p.read_text() for p in (repo / "core" / "src" / "llmlog").rglob("*.py"))
    for var in set(re.findall(r"LLMLOG_[A-Z_]+", source)):
        assert f"`{var}`" in text, f"{var} undocumented"


def test_example_configuration_loads_and_shows_every_key(repo, tmp_path):
    # A copy: its relative paths (logs/app.jsonl) are taken from its directory, and a test
    # writes nothing into the repository.
    path = tmp_path / "llmlog.toml"
    path.write_text((repo / "llmlog.toml.example").read_text())
    data = tomllib.loads(path.read_text())
    for field in attrs.fields(Settings):
        assert field.name in data, f"llmlog.toml.example lacks {field.name}"
    config = llmlog.configure(path)
    assert list(config.outputs) == list(data["outputs"])
    llmlog.get_logger().info("through every output of the example")
    llmlog.shutdown()
    assert "through every output of the example" in (tmp_path / "logs" / "app.jsonl").read_text()

    outputs, formatters = installed_components()
    tables = data["outputs"].values()
    for name, component in outputs.items():
        shown = [t for t in tables if t.get("type") == name]
        assert shown, f"llmlog.toml.example has no output of type {name}"
        for option in option_names(component.options):
            assert any(lookup(t, option) for t in shown), f"output {name}: {option} missing"
    formatter_tables = [t["formatter"] for t in tables if isinstance(t.get("formatter"), dict)]
    for name, component in formatters.items():
        shown = [t for t in formatter_tables if t.get("type") == name]
        assert shown, f"llmlog.toml.example has no formatter table of type {name}"
        for option in option_names(component.options):
            assert any(lookup(t, option) for t in shown), f"formatter {name}: {option} missing"


def test_example_defaults_match_the_code(repo):
    data = tomllib.loads((repo / "llmlog.toml.example").read_text())
    for field in attrs.fields(Settings):
        if field.name in ("default_fields", "redact_keys"):
            continue  # the example shows a sample value
        default = (
            field.default.factory() if isinstance(field.default, attrs.Factory) else field.default
        )
        expected = default.name.lower() if isinstance(default, llmlog.Severity) else default
        assert data[field.name] == expected, (
            f"{field.name}: example {data[field.name]!r} != default {expected!r}"
        )


def test_every_fixed_table_is_documented_and_in_the_example(repo):
    text = (repo / "docs" / "configuration.md").read_text()
    example = tomllib.loads((repo / "llmlog.toml.example").read_text())
    for name, options in SECTIONS.items():
        assert f"## `[{name}]`" in text, f"[{name}] undocumented"
        section = text.split(f"## `[{name}]`", 1)[1].split("\n## ", 1)[0]
        # The flight recorder's backend and the trace format are read apart from the options.
        extra = {"flight_recorder": ["backend"], "trace": ["format"]}.get(name, [])
        for option in [*extra, *option_names(options)]:
            assert f"- `{option}`:" in section, f"[{name}] {option} undocumented"
            assert lookup(example.get(name, {}), option), f"[{name}] {option} not in the example"


def test_nothing_generated_is_tracked(sh, repo):
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    tracked_but_ignored = sh(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"], cwd=repo, check=True
    )
    assert tracked_but_ignored.stdout == ""
    assert "logs/" in (repo / ".gitignore").read_text().splitlines()
