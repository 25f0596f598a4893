"""``llmlog.replay.ReplayLM``: replaying recorded LM calls, provided by the plugin
``llmlog-testing-replay`` (the engine and its DSPy dependency stay out of the core).

``from llmlog.replay import ReplayLM`` loads the distribution's ``llmlog`` entry point and takes the
name from it; where that distribution is not installed the import fails with an ImportError saying
what to install.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

# Provided by __getattr__ below, from the plugin.
__all__ = ["NotRecorded", "ReplayError", "ReplayIndex", "ReplayLM", "Unreplayable"]  # noqa: F822

_DISTRIBUTION = "llmlog-testing-replay"
#: The plugin's entry point in the ``llmlog`` group: the core reaches a plugin only through its
#: entry point (or the hooks), never by importing it by name.
_ENTRY_POINT = "testing_replay"


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'llmlog.replay' has no attribute {name!r}")
    found = list(entry_points(group="llmlog", name=_ENTRY_POINT))
    if not found:
        raise ImportError(
            f"llmlog.replay.{name} is provided by the {_DISTRIBUTION} distribution, which is not "
            f"installed: pip install {_DISTRIBUTION}",
            name="llmlog.replay",
        )
    try:
        plugin = found[0].load()
    except ImportError as exc:  # installed, but its package cannot be imported
        raise ImportError(
            f"llmlog.replay.{name} is provided by the {_DISTRIBUTION} distribution, which cannot "
            f"be imported ({exc}): pip install {_DISTRIBUTION}",
            name="llmlog.replay",
        ) from exc
    return getattr(plugin, name)
