"""Documentation and the example configuration cannot drift from the code."""

import inspect
import json
import re
import sys
import textwrap
import tomllib
from pathlib import Path

import attrs
import pytest

import llmlog
from llmlog import hookspecs
from llmlog.config.loader import Settings
from llmlog.plugins import PluginHost
from llmlog.registry import ComponentKind

REPO = Path(__file__).resolve().parent.parent


def hook_functions():
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if name.startswith("llmlog_") and callable(fn)
    }


def test_every_hook_has_a_section_with_its_exact_signature(repo):
    text = (repo / "docs" / "hooks.md").read_text()
    hooks = hook_functions()
    assert len(hooks) == 13
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


def test_every_claimed_table_is_documented_and_in_the_example(repo):
    text = (repo / "docs" / "configuration.md").read_text()
    example = tomllib.loads((repo / "llmlog.toml.example").read_text())
    tables = PluginHost().tables
    assert {"stdlib", "trace", "flight_recorder"} <= set(tables)
    for name, claim in tables.items():
        assert f"## `[{name}]`" in text, f"[{name}] undocumented"
        section = text.split(f"## `[{name}]`", 1)[1].split("\n## ", 1)[0]
        # The key choosing a component (the recorder's backend, the trace format) is read apart.
        extra = [claim.component.key] if claim.component is not None else []
        if getattr(claim.options, "FREE_FORM", False):  # [prices]: model names as keys
            assert '- `"provider/model"`:' in section, f"[{name}] its keys are undocumented"
            assert any("/" in key for key in example.get(name, {})), f"[{name}] no key in example"
            options = extra
        else:
            options = [*extra, *option_names(claim.options)]
        for option in options:
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


# -- every ```python block of the README and docs/ runs

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

#: Per file: stand-ins for the names its examples take as given (a prompt, a tool that fails, a
#: plugin's own classes), run before its first block; what is run after its last block to
#: exercise what the blocks defined; and the blocks that must end by raising the exception they
#: re-raise (by index in the file). The blocks of a file run in order in one namespace, in a
#: process of their own, with plugins/_template/src importable (the template's real classes
#: play "your plugin"). A file with python blocks that is not listed runs with no stand-ins.
DOC_RUNS = {
    "docs/integrations.md": {
        # The OpenAI and Anthropic examples talk to the loopback fake provider (no network, no
        # key; it speaks both APIs).
        "before": """
            import os

            from llmlog_fake_provider import FakeOpenAI

            fake = FakeOpenAI(lambda request: "Hello!").__enter__()
            os.environ["OPENAI_BASE_URL"] = fake.base_url
            os.environ["OPENAI_API_KEY"] = "sk-doc-example"
            os.environ["ANTHROPIC_BASE_URL"] = fake.root_url
            os.environ["ANTHROPIC_API_KEY"] = "sk-ant-doc-example"
        """,
        "after": """
            import llmlog_integration_anthropic
            import llmlog_integration_openai

            llmlog_integration_openai.uninstrument()
            llmlog_integration_anthropic.uninstrument()
            assert answer.choices[0].message.content == "Hello!"
            fake.__exit__(None, None, None)
        """,
    },
    "docs/export.md": {
        # A real DSPy run on DummyLM, recorded by the integration and exported as the page's
        # commands do; the program the page evaluates answers two of the three questions.
        "before": """
            import dspy
            from dspy.utils import DummyLM

            import llmlog
            from llmlog.cli import main

            llmlog.configure({"integrations": {"dspy": {"enabled": True}}})
            qa = dspy.Predict("question -> answer")
            with llmlog.new_trace_session("run.jsonl", format="dspy") as session:
                with dspy.context(lm=DummyLM([{"answer": "Paris"}, {"answer": "Rome"}, {"answer": "Bern"}])):
                    for country in ("France", "Italy", "Switzerland"):
                        qa(question=f"What is the capital of {country}?")
            llmlog.configure({})
            assert main(["export", str(session.path), "--to", "dspy-examples", "-o", "devset.json"]) == 0
            assert main(["export", str(session.path), "--to", "jsonl", "-o", "calls.jsonl"]) == 0
            program = dspy.Predict("question -> answer")
            # Answers by question (Evaluate runs the examples in threads, in any order).
            dspy.configure(lm=DummyLM({"France": {"answer": "Paris"}, "Italy": {"answer": "Rome"}, "Switzerland": {"answer": "Geneva"}}))
        """,
        "after": """
            assert len(devset) == 3 and set(devset[0].inputs().keys()) == {"question"}
            assert round(float(result.score)) == 67
            assert int(calls.groupby("model")["input_tokens"].count().iloc[0]) == 3
        """,
    },
    "README.md": {
        "before": """
            prompt, completion = "What is 2+2?", "4"
            key = "sk-not-a-real-key"

            class ToolError(Exception):
                pass

            def call_tool():
                raise ToolError("the search service is down")
        """,
    },
    "docs/flight-recorder.md": {
        # The block is self-contained: its program times out, and the pattern must hand the
        # TimeoutError back unchanged (with no recorder running, too) for its handler to print.
        "after": """
            assert not global_flight_recorder().enabled
        """,
    },
    "docs/tracing.md": {
        # An OpenAI client's shape: chat.completions.create() -> reply.model, .choices, .usage.
        "before": """
            from types import SimpleNamespace

            question = "What is the capital of France?"

            def create(model, messages):
                return SimpleNamespace(
                    model=model,
                    choices=[SimpleNamespace(message=SimpleNamespace(content="Paris"))],
                    usage=SimpleNamespace(prompt_tokens=14, completion_tokens=2, total_tokens=16),
                )

            client = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))
        """,
        # The trace holds the span tree and the call with its tokens.
        "after": """
            from llmlog_trace_dspy import read_trace

            events = list(read_trace(session.path))
            (call,) = [e for e in events if e.type == "llm_call"]
            assert call.data["usage"]["total_tokens"] == 16 and call.data["response"] == "Paris"
            spans = {e.data["operation"] for e in events if e.data.get("event") == "start"}
            assert spans == {"evaluate", "predict"}
        """,
    },
    "docs/hooks.md": {
        "before": """
            import html
            from decimal import Decimal
            from pathlib import Path

            import attrs

            import llmlog
            from llmlog import hookimpl
            from llmlog_engine_flight.memory import MemoryBackend
            from llmlog_integration_dspy.integration import DspyIntegration
            from llmlog_integration_dspy.options import DspyOptions
            from llmlog_output_example.output import ExampleOptions, ExampleOutput
            from llmlog_trace_dspy import DspyTraceWriter, read_trace
            from llmlog_trace_dspy.format import DspyOptions as DspyTraceOptions
            from llmlog_trace_dspy.view import detect, view

            def make_example_output(options, context):
                return ExampleOutput(options, context.formatter)

            @attrs.frozen(kw_only=True)
            class CsvOptions:
                delimiter: str = ","

            class CsvFormatter(llmlog.Formatter):
                def __init__(self, options):
                    self.delimiter = options.delimiter

                def format(self, entry):
                    return self.delimiter.join((entry.severity.name, entry.message))

            from llmlog.config.converter import Seconds

            @attrs.frozen
            class Lz4Options:
                pass

            def Lz4Backend(options):
                return MemoryBackend()

            class Heartbeat:
                def __init__(self, every):
                    self.every = every

                def start(self):
                    return self

                def close(self):
                    pass

            def run_tail(args):
                return 0

            class Exporter:
                service = None

                def start(self, service):
                    self.service = service

                def stop(self):
                    self.service = "stopped"

            exporter = Exporter()
        """,
        # Every hook registered with a real plugin host (register() checks its arguments), and
        # the configure hooks called with a real configuration.
        "after": """
            import types

            from llmlog.plugins import PluginHost
            from llmlog.registry import ComponentKind

            hooks = {k: v for k, v in dict(globals()).items() if k.startswith("llmlog_")}
            host = PluginHost(autoload=False, extra=[("docs", types.SimpleNamespace(**hooks))])
            assert not host.load_errors, [(p.name, p.error) for p in host.load_errors]
            assert "example" in host.components(ComponentKind.OUTPUT)
            assert "csv" in host.components(ComponentKind.FORMATTER)
            assert "dspy" in host.components(ComponentKind.TRACE_FORMAT)
            assert "dspy" in host.components(ComponentKind.INTEGRATION)
            assert "tail" in host.commands
            assert "lz4" in host.components(ComponentKind.RECORDER)
            assert host.tables["heartbeat"].start is start
            assert llmlog_render_html("trace.jsonl", {}) is None
            config = llmlog.configure({"default_fields": {"service": "qa"}})
            llmlog_configure(config)
            assert exporter.service == "qa"
            llmlog_unconfigure(config)
            assert exporter.service == "stopped"
        """,
    },
    "docs/testing-with-traces.md": {
        # A recording made for real (a DSPy program on DummyLM, traced by the integration), the
        # stand-in "real" LM of the lenient example, and a program calling the fake provider.
        "before": """
            import json
            import shutil
            import urllib.request
            import warnings
            from pathlib import Path

            import dspy
            from dspy.utils import DummyLM

            import llmlog
            import llmlog_integration_dspy
            from llmlog.ext import enter_context, exit_context

            warnings.filterwarnings("ignore", category=DeprecationWarning)
            llmlog.configure({"outputs": {}})
            program = dspy.Predict("question -> answer")
            Path("tests/traces").mkdir(parents=True)
            session = llmlog.new_trace_session("tests/traces/qa.jsonl", format="dspy")
            token = enter_context(session=session, trace_id=session.trace_id)
            llmlog_integration_dspy.instrument().swap_shared_session(session)
            with dspy.context(lm=DummyLM([{"answer": "4"}])):
                program(question="What is 2+2?")
            llmlog_integration_dspy.uninstrument()
            exit_context(token)
            session.close()
            shutil.copy("tests/traces/qa.jsonl", "qa.jsonl")
            real_lm = DummyLM([{"answer": "6"}])

            def reply(request):
                return "hello"

            def run_program(base_url):
                body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
                request = urllib.request.Request(
                    base_url + "/chat/completions",
                    data=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert json.load(response)["choices"][0]["message"]["content"] == "hello"
        """,
        "after": """
            with dspy.context(lm=replay):
                assert program(question="What is 3+3?").answer == "6"
                assert program(question="What is 2+2?").answer == "4"
            assert test_qa.pytestmark[0].args == ("tests/traces/qa.jsonl",)
        """,
    },
    "docs/writing-a-plugin.md": {
        "before": """
            import json
            from typing import Literal

            import attrs

            from llmlog import hookimpl
            from llmlog_formatter_json import JsonFormatter
            from llmlog_output_file import FileOutput

            MyFormatter = JsonFormatter

            def my_parse(line):
                return json.loads(line)

            def MyOutput(path):  # appends to its file, as most outputs do
                return FileOutput(path, JsonFormatter())
        """,
        # The conformance tests of the example, run; "myformat" is the dspy format registered
        # again under that name by an in-process plugin.
        "after": """
            import tempfile
            import types
            from pathlib import Path

            import llmlog
            from llmlog_trace_dspy import DspyTraceWriter, read_trace
            from llmlog_trace_dspy.format import DspyOptions
            from llmlog_trace_dspy.plugin import view_arguments
            from llmlog_trace_dspy.view import detect, view

            @hookimpl
            def llmlog_register_trace_formats(register):
                register(
                    "myformat",
                    lambda options, context: DspyTraceWriter(context.trace_path(), options),
                    options=DspyOptions,
                    detect=detect,
                    read=read_trace,
                    view=view,
                    view_arguments=view_arguments,
                )

            test_formatter()
            test_output(Path(tempfile.mkdtemp(dir=".")))
            mine = types.SimpleNamespace(llmlog_register_trace_formats=llmlog_register_trace_formats)
            llmlog.configure({}, plugins=[("myformat", mine)])
            test_trace_format(Path(tempfile.mkdtemp(dir=".")))
        """,
    },
}

DOC_RUNNER = """
import json, sys, traceback

spec = json.loads(open(sys.argv[1]).read())
namespace = {"__name__": "__docs__"}
failures = []


def run(code, filename, first_line, raises=None):
    try:
        exec(compile("\\n" * (first_line - 1) + code, filename, "exec"), namespace)
    except BaseException as exc:
        if type(exc).__name__ != raises:
            failures.append(f"{filename}:{first_line}: " + traceback.format_exc())
    else:
        if raises:
            failures.append(f"{filename}:{first_line}: should have raised {raises}")


run(spec["before"], "<stand-ins>", 1)
for block in spec["blocks"]:
    run(block["code"], spec["file"], block["line"], block["raises"])
if not failures:
    run(spec["after"], "<after the blocks>", 1)
print(json.dumps(failures))
"""


def documentation_files(repo):
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def test_every_python_block_in_the_docs_is_covered(repo):
    found = {
        str(path.relative_to(repo)): len(PYTHON_BLOCK.findall(path.read_text()))
        for path in documentation_files(repo)
    }
    assert sum(found.values()) >= 16
    assert set(DOC_RUNS) <= {name for name, count in found.items() if count}


@pytest.mark.parametrize(
    "name",
    [
        str(p.relative_to(REPO))
        for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
        if PYTHON_BLOCK.search(p.read_text())
    ],
)
def test_every_python_block_in_the_docs_runs(sh, repo, tmp_path, name):
    text = (repo / name).read_text()
    run = DOC_RUNS.get(name, {})
    blocks = [
        {
            "code": match.group(1),
            "line": text[: match.start(1)].count("\n") + 1,
            "raises": run.get("raises", {}).get(index),
        }
        for index, match in enumerate(PYTHON_BLOCK.finditer(text))
    ]
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "file": name,
                "blocks": blocks,
                "before": textwrap.dedent(run.get("before", "")),
                "after": textwrap.dedent(run.get("after", "")),
            }
        )
    )
    runner = tmp_path / "runner.py"
    runner.write_text(DOC_RUNNER)
    work = tmp_path / "work"
    work.mkdir()
    done = sh(
        [sys.executable, str(runner), str(spec)],
        cwd=work,
        env={"PYTHONPATH": str(repo / "plugins" / "_template" / "src")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    failures = json.loads(done.stdout.splitlines()[-1])
    assert not failures, "\n".join(failures)[-6000:]
