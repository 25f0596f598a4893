"""The ``[budgets]`` table: limits per trace, session, process and rolling day (a default
plugin, registered through ``llmlog_register_tables``; see :mod:`llmlog.budgets`).

``llmlog.toml``::

    [budgets]
    warn_at = 0.8                 # WARN at this fraction of a limit
    stop = false                  # true: BudgetExceeded at the next LLM call once a limit is hit
    trace = { usd = 0.50, tokens = 200000 }
    session = { usd = 5 }
    process = { tokens = 2000000 }
    day = { usd = 20 }            # the last 24 hours of every process (persisted)
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from llmlog.budgets import day_file, install
from llmlog.config import OptionError
from llmlog.config.converter import converter
from llmlog.hookspecs import hookimpl
from llmlog.registry import TableContext, TableRegister

__all__ = ["BudgetsOptions", "Limit"]


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and 0 < value <= 1):
        raise ValueError(f"must be a fraction above 0 and at most 1, not {value}")


@attrs.frozen(kw_only=True)
class Limit:
    """One scope's limits; either may be left out."""

    #: US dollars (calls of unknown price do not count here; they count in ``tokens``).
    usd: float | None = None
    #: Tokens (``total_tokens`` of every call).
    tokens: int | None = None


@attrs.frozen(kw_only=True)
class BudgetsOptions:
    """Options of the ``[budgets]`` table."""

    #: The fraction of a limit at which a WARN entry is logged (once per budget).
    warn_at: float = attrs.field(default=0.8, validator=_fraction)
    #: Raise ``BudgetExceeded`` at the next LLM call once a limit is reached (the DSPy integration
    #: checks before every LM call; other code calls ``llmlog.check_budget()``).
    stop: bool = False
    #: Each trace session (by trace id).
    trace: Limit | None = None
    #: From ``configure()`` to ``shutdown()``.
    session: Limit | None = None
    #: The whole process, across configurations.
    process: Limit | None = None
    #: The last 24 hours of every process of the user, in the platformdirs state directory.
    day: Limit | None = None


def _unstructure(options: BudgetsOptions) -> dict[str, Any]:
    """As TOML writes it (``llmlog config show``): the limits that are set, no ``None``."""
    data: dict[str, Any] = {"warn_at": options.warn_at, "stop": options.stop}
    for scope in ("trace", "session", "process", "day"):
        limit = getattr(options, scope)
        if limit is not None:
            data[scope] = {k: v for k, v in attrs.asdict(limit).items() if v is not None}
    return data


converter.register_unstructure_hook(BudgetsOptions, _unstructure)


def _check(options: BudgetsOptions, context: TableContext) -> None:
    """Each limit in range, named at its key (``... @ $.budgets.trace.usd``)."""
    for scope in ("trace", "session", "process", "day"):
        limit = getattr(options, scope)
        if limit is None:
            continue
        if limit.usd is not None and (not math.isfinite(limit.usd) or limit.usd < 0):
            raise OptionError(
                f"{scope}.usd", f"must be a finite amount of 0 or more, not {limit.usd}"
            )
        if limit.tokens is not None and not 0 <= limit.tokens <= 2**53 - 1:
            raise OptionError(
                f"{scope}.tokens", f"must be a count from 0 to 2^53 - 1, not {limit.tokens}"
            )


class _Uninstall:
    def close(self) -> None:
        install({}, 0.8, False, None)


def _start(options: BudgetsOptions, context: TableContext) -> _Uninstall:
    limits = {
        scope: (limit.usd, limit.tokens)
        for scope in ("trace", "session", "process", "day")
        if (limit := getattr(options, scope)) is not None
        and (limit.usd is not None or limit.tokens is not None)
    }
    install(limits, options.warn_at, options.stop, day_file() if "day" in limits else None)
    return _Uninstall()


@hookimpl
def llmlog_register_tables(register: TableRegister) -> None:
    register(
        "budgets",
        BudgetsOptions,
        description="Spending limits per trace, session, process and rolling day (docs/cost.md).",
        check=_check,
        start=_start,
    )
