"""Log severities.

The numeric values are the standard library's (``logging.DEBUG`` is 10, ``logging.ERROR`` 40), so
records cross between llmlog and :mod:`logging` without a table, and a custom numeric level orders
correctly against the named ones.
"""

from __future__ import annotations

import enum

__all__ = ["LEVEL_NAMES", "SEVERITY_NAMES", "Severity", "parse_severity", "severity_from_name"]


class Severity(enum.IntEnum):
    """How serious a log entry is; larger is more severe."""

    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40
    FATAL = 50

    def __str__(self) -> str:
        return self.name


#: Upper-case name of each severity; a dict lookup is far cheaper than ``Severity.X.name``.
LEVEL_NAMES: dict[int, str] = {s: s.name for s in Severity}

#: Canonical names, lower case, in increasing severity: what configuration accepts and lists.
SEVERITY_NAMES: tuple[str, ...] = tuple(s.name.lower() for s in Severity)

# Spellings people bring from the standard library and other loggers.
_ALIASES = {"warning": Severity.WARN, "critical": Severity.FATAL, "err": Severity.ERROR}


def severity_from_name(name: str) -> Severity | None:
    """Return the severity named ``name`` (case-insensitive, common aliases), or ``None``."""
    key = name.strip().lower()
    alias = _ALIASES.get(key)
    if alias is not None:
        return alias
    return Severity.__members__.get(key.upper())


def parse_severity(name: str) -> Severity:
    """Parse a severity name as dspy-go's ``ParseSeverity`` does: unknown strings give ``INFO``.

    Unlike the Go version the match is case-insensitive and accepts ``warning`` and ``critical``.
    Configuration does not use this lenient parser: it rejects unknown names with an error.
    """
    return severity_from_name(name) or Severity.INFO
