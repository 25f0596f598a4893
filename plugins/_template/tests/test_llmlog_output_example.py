import io
import sys

import llmlog
from llmlog.testing import check_output
from llmlog_output_example import ExampleOptions, ExampleOutput


def test_conformance(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)

    def make():
        buffer.seek(0)
        buffer.truncate()
        return ExampleOutput(ExampleOptions(prefix="[t]"), None)

    check_output(make, lambda: buffer.getvalue().splitlines())


def test_configured_through_the_entry_point(capsys):
    llmlog.configure({"outputs": {"mine": {"type": "example", "prefix": "[app]"}}})
    llmlog.get_logger().info("hello from the template")
    llmlog.shutdown()
    assert capsys.readouterr().out.startswith("[app] ")
