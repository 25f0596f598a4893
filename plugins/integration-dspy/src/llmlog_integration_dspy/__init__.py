"""llmlog for DSPy: trace any DSPy program with one line or one TOML switch.

``llmlog_integration_dspy.instrument()`` (or ``[integrations.dspy] enabled = true`` in
``llmlog.toml``) registers a DSPy callback, with no monkey-patching, that writes every module, LM
call (tokens and cost per call from the LM's history), adapter step, tool call, evaluation,
compilation and code-interpreter step as spans of the configured trace format (``dspy`` or
``rlm``) and into the flight recorder, with the parents DSPy itself knows. ``uninstrument()``
leaves DSPy as it was.
"""

from llmlog_integration_dspy.options import DspyOptions

__all__ = ["DspyOptions", "LlmlogCallback", "instrument", "instrumented", "uninstrument"]


def __getattr__(name: str) -> object:
    # Importing this package must not import DSPy (slow); the functions that need it do.
    if name in ("instrument", "uninstrument", "instrumented"):
        from llmlog_integration_dspy import integration as module

        return getattr(module, name)
    if name == "LlmlogCallback":
        from llmlog_integration_dspy.callback import LlmlogCallback

        return LlmlogCallback
    raise AttributeError(name)
