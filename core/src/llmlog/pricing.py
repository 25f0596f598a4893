"""What an LLM call cost, and where that figure came from.

Every priced ``llm_call`` goes through one chain, in this order of precedence:

1. the user's **override** for the model (``[prices."provider/model"]`` in ``llmlog.toml``, from
   its ``valid_from`` date on): the user knows their contract best;
2. the cost the provider or the framework **reported** (DSPy's ``lm.history`` cost, a
   ``TokenUsage(cost=...)`` the caller gave);
3. the **price table** in force (a ``pricing`` component, such as ``genai-prices`` from the
   ``llmlog[prices]`` extra), looked up once per (provider, model) and kept.

The result is written into the event's ``usage`` with its provenance: ``cost`` and
``cost_source`` (``"override"``, ``"reported"``, or ``"table:NAME@VERSION"``); or, when no link of
the chain knows the price, no ``cost`` and ``cost_unknown`` with the reason. Unknown is never 0.

A price is in US dollars per million tokens for each kind of token: uncached input, cached input
read (default: the input price), cache creation (default: the input price), output other than
reasoning, and reasoning (default: the output price); the counts follow
:class:`~llmlog.TokenUsage`'s rule (details inside prompt and completion).

The state (the table in force, the overrides, the per-model cache) lives in :mod:`llmlog.state`.
Nothing here raises into the application: a table that fails is reported once on stderr and its
models priced as unknown with that reason.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import attrs

from llmlog import state
from llmlog.numbers import as_cost
from llmlog.records import DETAIL_FIELDS, TokenUsage

__all__ = [
    "OVERRIDE",
    "REPLAYED",
    "REPORTED",
    "UNPRICEABLE",
    "PriceTable",
    "Rates",
    "install",
    "price_token_usage",
    "price_usage",
    "rates_for",
    "source_of_table",
]

#: ``cost_source`` of a cost from the user's overrides.
OVERRIDE: Final = "override"
#: ``cost_source`` of a cost the provider or framework reported.
REPORTED: Final = "reported"
#: ``cost_source`` of a replayed call's cost: the recorded call's, never priced again.
REPLAYED: Final = "replayed"
#: The largest price per million tokens taken (USD 100,000): past it, a price is a typo.
MAX_PRICE: Final = 100_000.0
#: Counts at 2^53 - 1 (where a larger one was clamped) or past it are not trusted for a price.
_MAX_COUNT: Final = 2**53 - 2
#: ``cost_unknown`` of a call whose counts were replaced (NaN, negative, text, past 2^53) when
#: recorded, or cannot be (details larger than their total): no price is better than a wrong one.
UNPRICEABLE: Final = (
    "usage numbers that cannot be priced (NaN, negative, past 2^53, or details past their totals)"
)


@attrs.frozen
class Rates:
    """Prices of one model in US dollars per million tokens.

    :param input: uncached input.
    :param output: output (and reasoning, unless ``reasoning`` is given).
    :param cached: cached input read; ``None``: the input price.
    :param cache_write: input written to the cache; ``None``: the input price.
    :param reasoning: reasoning output; ``None``: the output price.
    """

    input: float
    output: float
    cached: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None

    def cost(self, usage: Mapping[str, Any]) -> float | None:
        """The cost of a trace ``usage`` object's counts, ``None`` when a count is not a
        non-negative integer within 2^53 or the details exceed their totals (a price computed
        from such counts would be wrong)."""
        get = usage.get
        prompt = get("prompt_tokens", 0)
        completion = get("completion_tokens", 0)
        read = get("cache_read_tokens", 0)
        write = get("cache_creation_tokens", 0)
        reasoning = get("reasoning_tokens", 0)
        if not (
            type(prompt) is int
            and type(completion) is int
            and type(read) is int
            and type(write) is int
            and type(reasoning) is int
            and 0 <= read + write <= prompt <= _MAX_COUNT
            and 0 <= reasoning <= completion <= _MAX_COUNT
            and read >= 0
            and write >= 0
        ):
            return None
        cached = self.input if self.cached is None else self.cached
        cache_write = self.input if self.cache_write is None else self.cache_write
        thinking = self.output if self.reasoning is None else self.reasoning
        total = (
            (prompt - read - write) * self.input
            + read * cached
            + write * cache_write
            + (completion - reasoning) * self.output
            + reasoning * thinking
        ) / 1_000_000
        return total if math.isfinite(total) else None


class PriceTable(Protocol):
    """What a ``pricing`` component's factory returns (``llmlog_register_pricing``).

    ``name`` and ``version`` are written into every cost the table priced
    (``cost_source = "table:NAME@VERSION"``). ``lookup`` is called once per (provider, model) in a
    process and its answer kept; it may import its data then (not at construction).
    """

    name: str
    version: str

    def lookup(self, provider: str, model: str) -> Rates | Callable[[Mapping[str, Any]], Any]:
        """The model's :class:`Rates`, or a function of a trace ``usage`` object returning its
        cost (for prices a flat rate cannot express: tiers by context length). Raises
        :class:`LookupError` with the reason when the table has no price for the model; any
        other exception means the table itself failed."""
        ...


@attrs.frozen
class Override:
    """One ``[prices."provider/model"]`` entry: its rates, applied to calls from ``valid_from``
    (UTC midnight of that date, or any time when ``None``)."""

    rates: Rates
    valid_from_ns: int | None = None


def source_of_table(table: PriceTable) -> str:
    """``table:NAME@VERSION``."""
    return f"table:{table.name}@{table.version}"


def install(table: PriceTable | None, overrides: Mapping[str, Override], unavailable: str) -> None:
    """Put ``table`` and ``overrides`` in force (``configure()`` does, through the ``[prices]``
    table) and forget what was looked up before. ``unavailable``: the reason a call is unknown
    when there is no table."""
    with state.pricing_lock:
        state.price_table = table
        state.price_overrides = dict(overrides)
        state.price_unavailable = unavailable
        state.price_cache = {}


def rates_for(provider: str, model: str) -> tuple[Any, str]:
    """What the table in force says of a model, from the cache after the first call: ``(rates
    or a cost function, source)``, or ``(None, reason)``. Never raises."""
    key = (provider, model)
    found = state.price_cache.get(key)
    if found is not None:
        return found
    table = state.price_table
    answer: tuple[Any, str]
    if table is None:
        answer = (None, state.price_unavailable)
    else:
        try:
            answer = (table.lookup(provider, model), source_of_table(table))
        except LookupError as exc:
            answer = (None, str(exc) or f"{table.name} has no price for {provider}/{model}")
        except Exception as exc:  # the table itself failed: reported once, never raised
            from llmlog.dispatch import report_problem

            reason = f"price table {table.name} failed: {type(exc).__name__}: {exc}"
            report_problem(f"{reason}; its models are priced as unknown")
            answer = (None, reason)
            with state.pricing_lock:
                if state.price_table is table:
                    state.price_table = None
                    state.price_unavailable = reason
    with state.pricing_lock:
        if state.price_table is table or table is None:
            state.price_cache[key] = answer
    return answer


def _override(
    overrides: dict[str, Override], provider: str, model: str, time_ns: int | None
) -> Override | None:
    found = overrides.get(f"{provider}/{model}") if provider else None
    if found is None:
        found = overrides.get(model)
    if found is None or found.valid_from_ns is None:
        return found
    return (
        found if (time.time_ns() if time_ns is None else time_ns) >= found.valid_from_ns else None
    )


def price_usage(
    usage: dict[str, Any],
    provider: str,
    model: str,
    time_ns: int | None = None,
    *,
    countable: bool = True,
) -> None:
    """Price a trace ``usage`` object in place by the chain (see the module): set ``cost`` and
    ``cost_source``, or remove ``cost`` and set ``cost_unknown`` to the reason.

    A ``cost`` already in ``usage`` counts as reported unless its ``cost_source`` says it came
    from a table (``table:...``): such a cost is priced again by today's table (``llmlog
    reprice``). ``time_ns``: when the call was made (default now), for ``valid_from``.
    ``countable=False``: the counts were replaced when recorded (see :data:`UNPRICEABLE`); such a
    call keeps only a reported cost, now and when priced again. Never raises."""
    try:
        if not countable or usage.get("cost_unknown") == UNPRICEABLE:
            if "cost" not in usage:
                _unknown(usage, UNPRICEABLE)
            elif usage.get("cost_source") != REPORTED:
                usage["cost_source"] = REPORTED
            return
        _price(usage, provider, model, time_ns)
    except Exception as exc:  # pragma: no cover - a last guard: pricing never breaks a trace
        usage.pop("cost", None)
        usage.pop("cost_source", None)
        usage["cost_unknown"] = f"pricing failed: {type(exc).__name__}"


def price_token_usage(
    usage: TokenUsage, provider: str, model: str, reported: float | None = None
) -> TokenUsage:
    """``usage`` priced by the chain, as a log entry carries it: a copy with ``cost`` and
    ``cost_source``, or with no cost and ``cost_unknown`` (see the module). ``reported``: a cost
    given beside the usage (a log call's ``cost=``), taken as reported when the usage has none.

    A usage already priced (``cost_source`` or ``cost_unknown`` set) is returned as it is, and
    the last answer is kept, so the entries of one ``with llmlog.context(token_info=...)``
    block price their shared usage once. Never raises."""
    if usage.cost_source is not None or usage.cost_unknown is not None:
        return usage
    memo = state.entry_price_memo
    if (
        memo is not None
        and memo[0] is usage
        and memo[1] == (provider, model, reported)
        and memo[2] is state.price_cache
    ):
        answer: TokenUsage = memo[3]
        return answer
    cache = state.price_cache
    try:
        data = _counts(usage)
        # A cost that is not a finite number (NaN, text, past 2^53) is no price: left out, so the
        # counts are priced by the chain, as a trace's llm_call is (numbers.as_cost). A good one
        # is kept as given (an int stays an int in the entry's bytes).
        cost = usage.cost
        if cost is not None and as_cost(cost, "usage.cost") is None:
            cost = None
        if cost is None and reported is not None and as_cost(reported, "cost") is not None:
            cost = reported
        if cost is not None:
            data["cost"] = cost
        price_usage(data, provider, model)
        # the constructor, not attrs.evolve: evolve reads the class's fields on every call
        answer = TokenUsage(
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens,
            data.get("cost"),
            cache_read_tokens=usage.cache_read_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            audio_tokens=usage.audio_tokens,
            image_tokens=usage.image_tokens,
            cost_source=data.get("cost_source"),
            cost_unknown=data.get("cost_unknown"),
        )
    except Exception:  # a usage whose fields are not numbers: leave it as it came
        return usage
    state.entry_price_memo = (usage, (provider, model, reported), cache, answer)
    return answer


def _counts(usage: TokenUsage) -> dict[str, Any]:
    data: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }
    for name in DETAIL_FIELDS:
        value = getattr(usage, name)
        if value:
            data[name] = value
    return data


def _price(usage: dict[str, Any], provider: str, model: str, time_ns: int | None) -> None:
    overrides = state.price_overrides
    override = _override(overrides, provider, model, time_ns) if overrides else None
    if override is not None:
        cost = override.rates.cost(usage)
        if cost is not None:
            usage["cost"] = cost
            usage["cost_source"] = OVERRIDE
            usage.pop("cost_unknown", None)
            return
        _unknown(usage, UNPRICEABLE)
        return
    source = usage.get("cost_source")
    if "cost" in usage and not (isinstance(source, str) and source.startswith("table:")):
        if source not in (REPORTED, REPLAYED):
            usage["cost_source"] = REPORTED
        usage.pop("cost_unknown", None)
        return
    found = state.price_cache.get((provider, model))
    rates, source_or_reason = found if found is not None else rates_for(provider, model)
    if rates is None:
        _unknown(usage, source_or_reason)
        return
    try:
        cost = rates.cost(usage) if isinstance(rates, Rates) else rates(usage)
    except Exception as exc:
        _unknown(usage, f"{source_or_reason} failed: {type(exc).__name__}")
        return
    if not isinstance(cost, int | float) or isinstance(cost, bool) or not math.isfinite(cost):
        _unknown(usage, UNPRICEABLE)
        return
    usage["cost"] = float(cost)
    usage["cost_source"] = source_or_reason
    usage.pop("cost_unknown", None)


def _unknown(usage: dict[str, Any], reason: str) -> None:
    usage.pop("cost", None)
    usage.pop("cost_source", None)
    usage["cost_unknown"] = reason


def parse_valid_from(value: Any) -> int | None:
    """A ``valid_from`` value (a TOML date or date-time, or ``YYYY-MM-DD`` text) as nanoseconds
    since the epoch (a date is its UTC midnight; a naive date-time is UTC). Raises
    :class:`ValueError` with the reason."""
    if isinstance(value, _dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
    elif isinstance(value, _dt.date):
        moment = _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC)
    elif isinstance(value, str):
        try:
            day = _dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"must be a date such as 2026-12-01, not {value!r:.40}") from None
        moment = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.UTC)
    else:
        raise ValueError(f"must be a date such as 2026-12-01, not {type(value).__name__}")
    return int(moment.timestamp()) * 1_000_000_000
