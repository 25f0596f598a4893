"""An example llmlog output: one prefixed line per entry on stdout or stderr."""

from llmlog_output_example.output import ExampleOptions, ExampleOutput

__all__ = ["ExampleOptions", "ExampleOutput"]
