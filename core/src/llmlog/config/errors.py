"""The one exception configuration raises, carrying every problem found at once."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ConfigError", "OptionError"]


class ConfigError(Exception):
    """A configuration that cannot be used.

    :param source: where the configuration came from (a file path, or a description).
    :param errors: one line per problem, each ``description @ $.key.path``.
    """

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors = list(errors)
        super().__init__(self.render())

    def render(self) -> str:
        """The message: the source and a count, then one indented line per error.

        Control characters (in a file name, a key, a quoted value) are escaped: the message is
        printed on terminals and written to log files.
        """
        from llmlog.render import escape

        n = len(self.errors)
        head = f"{escape(self.source)}: {n} configuration error{'s' if n != 1 else ''}"
        return "\n".join([head, *(f"  - {escape(e)}" for e in self.errors)])


class OptionError(ValueError):
    """Raised by a component's factory or ``check`` when one option is the problem, so that the
    error names it: ``description @ $.outputs.NAME.KEY``.

    :param key: the option, as in the TOML table (``path``; ``rotation.max_bytes`` for a nested one).
    :param message: what is wrong, naming the file or value concerned.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(message)
