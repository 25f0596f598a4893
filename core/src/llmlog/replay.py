"""``llmlog.replay.ReplayLM``: replaying recorded LM calls, provided by the plugin
``llmlog-testing-replay`` (the engine and its DSPy dependency stay out of the core).

``from llmlog.replay import ReplayLM`` imports it from ``llmlog_testing_replay``; where that
distribution is not installed the import fails with an ImportError saying what to install.
"""

from __future__ import annotations

import importlib
from typing import Any

# Provided by __getattr__ below, from the plugin.
__all__ = ["NotRecorded", "ReplayError", "ReplayIndex", "ReplayLM", "Unreplayable"]  # noqa: F822

_DISTRIBUTION = "llmlog-testing-replay"


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'llmlog.replay' has no attribute {name!r}")
    try:
        # By name, not an import statement: the core imports no plugin (import contracts).
        module = importlib.import_module("llmlog_testing_replay")
    except ImportError as exc:
        raise ImportError(
            f"llmlog.replay.{name} is provided by the {_DISTRIBUTION} distribution, which is not "
            f"installed: pip install {_DISTRIBUTION}",
            name="llmlog_testing_replay",
        ) from exc
    return getattr(module, name)
