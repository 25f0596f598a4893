"""Budgets: limits on what LLM calls spend, in US dollars and tokens, that warn, log an error,
take a flight-recorder snapshot and, where the user opts in, stop the program at the next LLM call.

Scopes:

- a **block**: ``with llmlog.budget(usd=0.50, tokens=200_000):`` (or ``@llmlog.budget(...)`` on a
  function, sync or async): the calls made inside it, in this context (threads started inside
  with :func:`llmlog.bind_current`, and asyncio tasks, carry it);
- from ``[budgets]`` in ``llmlog.toml``: per **trace** (each trace session, by trace id), per
  **session** (from ``configure()`` to ``shutdown()``), per **process**, and per rolling **day**
  (the last 24 hours of every process of the user, persisted under the platformdirs state
  directory with file locking).

Each priced ``llm_call`` (after :mod:`llmlog.pricing`) adds its cost and ``total_tokens`` to every
budget it falls in; a call of unknown cost adds its tokens and counts as unpriced (a dollar limit
cannot see it: set a token limit too). Counting is under one lock, so it is exact under threads
and asyncio. When a budget reaches ``warn_at`` of a limit, a WARN entry is logged once (logger
``llmlog.budget``); at the limit, an ERROR entry once and a flight-recorder snapshot if one runs.
With ``stop``, the next LLM call boundary raises :class:`BudgetExceeded`: the DSPy integration
checks before every LM call; other code calls :func:`check_budget` before its own.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import attrs

from llmlog import state

__all__ = ["Budget", "BudgetExceeded", "budget", "charge", "check_budget", "install"]

F = TypeVar("F", bound=Callable[..., Any])
#: Rolling window of the ``day`` budget, and the width of its persisted buckets.
DAY_SECONDS: Final = 86_400
_BUCKET: Final = 60


class BudgetExceeded(BaseException):
    """Raised at the next LLM call boundary once a budget with ``stop`` has reached its limit.

    A :class:`BaseException`, as :class:`KeyboardInterrupt` is: agent loops and frameworks catch
    ``Exception`` around their LLM and tool calls (DSPy's callbacks among them) and would swallow
    it, and the point is that the loop stops. Catch it by name.

    :param budget: the budget's name (``trace``, ``session``, ``process``, ``day`` or a block's).
    :param what: ``"usd"`` or ``"tokens"``; ``limit`` and ``spent`` in that unit.
    """

    def __init__(self, budget: str, what: str, limit: float, spent: float) -> None:
        self.budget, self.what, self.limit, self.spent = budget, what, limit, spent
        unit = "USD" if what == "usd" else "tokens"
        super().__init__(f"budget {budget!r} exceeded: {spent:g} of {limit:g} {unit}")


@attrs.define(eq=False)
class Budget:
    """One budget's limits and what was counted against them (read it; the counts change under
    ``state.budget_lock``)."""

    name: str
    usd: float | None = None
    tokens: int | None = None
    warn_at: float = 0.8
    stop: bool = False
    spent_usd: float = 0.0
    spent_tokens: int = 0
    calls: int = 0
    unpriced_calls: int = 0
    warned: bool = False
    #: ``(what, limit, spent)`` once a limit is reached
    exceeded: tuple[str, float, float] | None = None
    #: the ``budget(...)`` object whose ``with`` made it (its ``__exit__`` removes it)
    owner: Any = attrs.field(default=None, repr=False)

    def _add(self, cost: float | None, tokens: int) -> list[tuple[str, str, float, float]]:
        """Count one call; returns the crossings, ``("warn"|"limit", what, limit, spent)``."""
        self.calls += 1
        self.spent_tokens += tokens
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.spent_usd += cost
        return self._crossings()

    def _crossings(self) -> list[tuple[str, str, float, float]]:
        found: list[tuple[str, str, float, float]] = []
        for what, limit, spent in (
            ("usd", self.usd, self.spent_usd),
            ("tokens", self.tokens, self.spent_tokens),
        ):
            if limit is None:
                continue
            if self.exceeded is None and spent >= limit:
                self.exceeded = (what, float(limit), float(spent))
                found.append(("limit", what, float(limit), float(spent)))
            elif not self.warned and self.exceeded is None and spent >= limit * self.warn_at:
                self.warned = True
                found.append(("warn", what, float(limit), float(spent)))
        return found


#: The blocks (``with budget(...)``) of the current context, innermost last.
_blocks: contextvars.ContextVar[tuple[Budget, ...]] = contextvars.ContextVar(
    "llmlog_budgets", default=()
)


class _Block:
    """What :func:`budget` returns: a context manager (sync and async) and a decorator."""

    def __init__(self, make: Callable[[], Budget]) -> None:
        self._make = make

    @property
    def current(self) -> Budget | None:
        """The budget of this object's innermost ``with`` open in this context, else ``None``."""
        return next((b for b in reversed(_blocks.get()) if b.owner is self), None)

    def __enter__(self) -> Budget:
        # The open budgets live in the context, not in this object: one budget(...) object may
        # be entered by several threads or tasks at once, each getting a budget of its own.
        found = self._make()
        found.owner = self
        _blocks.set((*_blocks.get(), found))
        with state.budget_lock:
            state.budget_blocks_open += 1
        return found

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        open_now = _blocks.get()
        for index in range(len(open_now) - 1, -1, -1):
            if open_now[index].owner is self:
                _blocks.set(open_now[:index] + open_now[index + 1 :])
                break
        with state.budget_lock:
            state.budget_blocks_open -= 1

    async def __aenter__(self) -> Budget:
        return self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, exc, tb)

    def __call__(self, function: F) -> F:
        """As a decorator: each call of ``function`` runs in a budget of its own."""
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with _Block(self._make):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with _Block(self._make):
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]


def _limit(value: Any, what: str) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"budget {what} must be a finite number, not {value!r:.40}")
    if value < 0:
        raise ValueError(f"budget {what} must be 0 or more, not {value}")
    return value


def budget(
    usd: float | None = None,
    tokens: int | None = None,
    *,
    warn_at: float = 0.8,
    stop: bool = False,
    name: str = "block",
) -> _Block:
    """A budget for the calls made inside ``with llmlog.budget(...)`` (or each call of a function
    decorated with ``@llmlog.budget(...)``): WARN at ``warn_at`` of a limit, ERROR at the limit
    (once each), and with ``stop=True`` :class:`BudgetExceeded` at the next LLM call boundary.
    ``with ... as b`` gives the :class:`Budget`, whose ``spent_usd`` and ``spent_tokens`` can be
    read. Blocks nest: a call counts in every open block.

    :raises ValueError: a limit that is negative, NaN or not a number (at the call, not later).
    """
    usd = _limit(usd, "usd")
    tokens = _limit(tokens, "tokens")
    if not 0 < _limit(warn_at, "warn_at") <= 1:
        raise ValueError(f"budget warn_at must be in (0, 1], not {warn_at}")
    return _Block(lambda: Budget(name, usd, tokens, warn_at, stop))


def install(
    limits: Mapping[str, tuple[float | None, int | None]],
    warn_at: float,
    stop: bool,
    day_file: Path | None,
) -> None:
    """Put the ``[budgets]`` limits in force (``configure()`` does): ``limits`` by scope
    (``trace``, ``session``, ``process``, ``day``) as ``(usd, tokens)``. The session budget starts
    at zero; the process budget keeps its counts across configurations."""
    with state.budget_lock:
        state.budget_settings = (dict(limits), warn_at, stop, day_file)
        state.budget_traces = {}
        session = limits.get("session")
        state.budget_session = Budget("session", *session, warn_at, stop) if session else None
        process = limits.get("process")
        old = state.budget_process
        if process:
            fresh = Budget("process", *process, warn_at, stop)
            if old is not None:
                fresh.spent_usd, fresh.spent_tokens = old.spent_usd, old.spent_tokens
                fresh.calls, fresh.unpriced_calls = old.calls, old.unpriced_calls
            state.budget_process = fresh
        else:
            state.budget_process = None
        day = limits.get("day")
        state.budget_day = Budget("day", *day, warn_at, stop) if day else None
        state.budgets_active = bool(limits)


def _config_budgets(trace_id: str | None) -> list[Budget]:
    found = []
    settings = state.budget_settings
    if settings is not None and trace_id:
        limits, warn_at, stop, _ = settings
        trace = limits.get("trace")
        if trace:
            found_trace = state.budget_traces.get(trace_id)
            if found_trace is None:
                usd, tokens = trace
                found_trace = Budget("trace", usd, tokens, warn_at, stop)
                state.budget_traces[trace_id] = found_trace
            found.append(found_trace)
    for scope in (state.budget_session, state.budget_process):
        if scope is not None:
            found.append(scope)
    return found


def charge(trace_id: str | None, usage: Mapping[str, Any]) -> None:
    """Count one recorded LLM call (its trace ``usage`` object, priced) against every budget it
    falls in, and act on the limits it crosses. The tracing API calls it; never raises."""
    blocks = _blocks.get()
    if not blocks and not state.budgets_active:
        return
    try:
        _charge(trace_id, usage, blocks)
    except Exception as exc:  # counting must not break the program
        from llmlog.dispatch import report_problem

        report_problem(f"budget counting failed: {type(exc).__name__}: {exc}")


def _charge(trace_id: str | None, usage: Mapping[str, Any], blocks: tuple[Budget, ...]) -> None:
    cost = usage.get("cost")
    if not isinstance(cost, int | float) or isinstance(cost, bool) or not math.isfinite(cost):
        cost = None
    tokens = usage.get("total_tokens", 0)
    tokens = tokens if type(tokens) is int and tokens >= 0 else 0
    crossed: list[tuple[Budget, tuple[str, str, float, float]]] = []
    with state.budget_lock:
        for found in (*blocks, *_config_budgets(trace_id)):
            crossed += [(found, c) for c in found._add(cost, tokens)]
    day = state.budget_day
    if day is not None:
        crossed += [(day, c) for c in _charge_day(day, cost, tokens)]
    for found, (kind, what, limit, spent) in crossed:
        _act(found, kind, what, limit, spent, trace_id)


def _act(
    found: Budget, kind: str, what: str, limit: float, spent: float, trace: str | None
) -> None:
    unit = "USD" if what == "usd" else "tokens"
    fields = {
        "budget": found.name,
        "limit": limit,
        "spent": spent,
        "unit": unit,
        "unpriced_calls": found.unpriced_calls,
    }
    log = state.logger.named("llmlog.budget")
    if kind == "warn":
        log.warn(
            "budget %r at %d%% of its %g %s limit", found.name, spent * 100 // limit, limit, unit,
            **fields,
        )  # fmt: skip
        return
    log.error("budget %r exceeded: %g of %g %s", found.name, spent, limit, unit, **fields)
    recorder = state.flight_recorder
    if recorder is not None and recorder.enabled:
        try:
            # The recorder's "budget" trigger: named in the snapshot, rate-limited, and off
            # when the configuration leaves it out of [flight_recorder] triggers.
            recorder.trigger(
                "budget", f"budget {found.name} exceeded: {spent:g} of {limit:g} {unit}"
            )
        except Exception as exc:
            from llmlog.dispatch import report_problem

            report_problem(f"budget snapshot failed: {type(exc).__name__}: {exc}")
    if found.stop:
        with state.budget_lock:
            state.budget_stops = (*state.budget_stops, (found, trace))


def check_budget(settle: Callable[[], None] | None = None) -> None:
    """The LLM call boundary: raises :class:`BudgetExceeded` if a budget with ``stop`` that this
    call falls in (a block open here, this trace's, or a session, process or day budget) has
    reached its limit. Call it before an LLM call; the DSPy integration does before each LM call.
    Costs one attribute read when no budget stops.

    :param settle: called first when a budget stops, so that calls the caller holds and has not
        emitted yet are charged before the check (the DSPy integration's hooks not handled yet).
    """
    stops = state.budget_stops
    if not stops:
        return
    if settle is not None:
        settle()
        stops = state.budget_stops
    _check(stops)


def _check(stops: tuple[tuple[Budget, str | None], ...]) -> None:
    blocks = _blocks.get()
    trace_id = None
    for found, trace in stops:
        if found.name == "trace":
            if trace_id is None:
                from llmlog.context import get_current

                trace_id = get_current().trace_id or ""
            if trace != trace_id:
                continue
        elif found.name not in ("session", "process", "day") and found not in blocks:
            continue
        assert found.exceeded is not None
        raise BudgetExceeded(found.name, *found.exceeded)


# -- the rolling day, shared by the user's processes --------------------------------------------


def _charge_day(
    day: Budget, cost: float | None, tokens: int
) -> list[tuple[str, str, float, float]]:
    """Add to the persisted per-minute buckets under an exclusive file lock, then count the last
    24 hours of every process into ``day``."""
    settings = state.budget_settings
    path = settings[3] if settings is not None else None
    if path is None:
        with state.budget_lock:
            return day._add(cost, tokens)
    now = int(time.time())
    with _locked(path) as buckets:
        key = str(now - now % _BUCKET)
        usd, count, calls, unpriced = buckets.get(key, (0.0, 0, 0, 0))
        buckets[key] = (
            usd + (cost or 0.0),
            count + tokens,
            calls + 1,
            unpriced + (cost is None),
        )
        horizon = now - DAY_SECONDS
        for old in [k for k in buckets if int(k) <= horizon]:
            del buckets[old]
        totals = [sum(b[i] for b in buckets.values()) for i in range(4)]
    with state.budget_lock:
        day.spent_usd, day.spent_tokens = float(totals[0]), int(totals[1])
        day.calls, day.unpriced_calls = int(totals[2]), int(totals[3])
        return day._crossings()


class _locked:
    """The day file's buckets, read and written back under ``fcntl.flock`` (exclusive)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1
        self.buckets: dict[str, tuple[float, int, int, int]] = {}

    def __enter__(self) -> dict[str, tuple[float, int, int, int]]:
        import fcntl

        from llmlog.safefiles import make_private_dirs

        make_private_dirs(self.path.parent)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        raw = b""
        while chunk := os.read(self.fd, 1 << 16):
            raw += chunk
        try:
            loaded = json.loads(raw) if raw else {}
            self.buckets = {
                str(k): (float(v[0]), int(v[1]), int(v[2]), int(v[3]))
                for k, v in loaded.items()
                if isinstance(v, list) and len(v) == 4
            }
        except (ValueError, TypeError, AttributeError):  # a damaged file starts afresh
            self.buckets = {}
        return self.buckets

    def __exit__(self, *exc: object) -> None:
        import fcntl

        try:
            if exc[0] is None:
                data = json.dumps({k: list(v) for k, v in self.buckets.items()}).encode()
                os.lseek(self.fd, 0, os.SEEK_SET)
                os.ftruncate(self.fd, 0)
                os.write(self.fd, data)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)


def day_file() -> Path:
    """Where the rolling day's counts are kept: ``budget-day.json`` in the platformdirs user
    state directory (``~/.local/state/llmlog/`` on Linux)."""
    import platformdirs

    return platformdirs.user_state_path("llmlog", appauthor=False) / "budget-day.json"


def blocks() -> Iterator[Budget]:
    """The budgets of the blocks open in this context, outermost first."""
    return iter(_blocks.get())
