"""The ``[prices]`` table (the price table in force and the user's overrides), the ``none`` price
table, and ``llmlog reprice``: a default plugin, registered through the hooks as any other.

``llmlog.toml``::

    [prices]
    table = "genai-prices"            # a pricing component; "none" prices nothing

    [prices."openai/gpt-4o-mini"]     # USD per million tokens
    input = 0.15
    output = 0.60
    cached = 0.075                    # cached input read (default: input)
    cache_write = 0.1875              # cache creation (default: input)
    reasoning = 0.60                  # reasoning output (default: output)
    valid_from = 2026-12-01           # calls from that day on (UTC); default: always

A model key is ``"provider/model"`` as the trace records them (``openai/gpt-4o-mini``); a key
without a provider (``"gpt-4o-mini"``) applies to that model from any provider.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import attrs

from llmlog.config import OptionError
from llmlog.config.converter import converter
from llmlog.hookspecs import hookimpl
from llmlog.interfaces import BuildContext
from llmlog.plugins import PluginHost
from llmlog.pricing import MAX_PRICE, Override, PriceTable, Rates, install, parse_valid_from
from llmlog.registry import (
    CommandRegister,
    ComponentChoice,
    ComponentKind,
    ComponentRegister,
    Reprice,
    TableContext,
    TableRegister,
)
from llmlog.render import escape, format_cost

__all__ = ["NoPrices", "PricesOptions", "overrides_of", "run_reprice"]

#: The pricing component ``[prices] table`` selects when it names none.
DEFAULT_TABLE = "genai-prices"
#: Why calls are unknown when no price table is installed.
NOT_INSTALLED = (
    f"no price table installed ({DEFAULT_TABLE}: install the llmlog[prices] extra, or price "
    f'the model in [prices."provider/model"])'
)
_RATE_KEYS = ("input", "output", "cached", "cache_write", "reasoning")


@attrs.frozen
class PricesOptions:
    """The ``[prices]`` table without its ``table`` key: one entry per model, as written (each
    checked by :func:`overrides_of` when the configuration is checked and installed)."""

    entries: Mapping[str, Any] = attrs.field(factory=dict)
    #: The table's keys are model names, not options of a class (for the documentation checks).
    FREE_FORM: ClassVar[bool] = True


def _structure(value: Any, _: type) -> PricesOptions:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table, not {type(value).__name__}")
    return PricesOptions(dict(value))


converter.register_structure_hook(PricesOptions, _structure)
converter.register_unstructure_hook(PricesOptions, lambda options: dict(options.entries))


def _key(model: str, field: str | None = None) -> str:
    quoted = json.dumps(model, ensure_ascii=False)
    return quoted if field is None else f"{quoted}.{field}"


def _price(model: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(
            _key(model, field),
            f"must be a price in USD per million tokens (a number), not {type(value).__name__}",
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise OptionError(_key(model, field), f"must be a finite price of 0 or more, not {value}")
    if number > MAX_PRICE:
        raise OptionError(
            _key(model, field),
            f"{value} USD per million tokens is past {MAX_PRICE:g}: a typo? (prices are per "
            "million tokens, not per token)",
        )
    return number


def overrides_of(entries: Mapping[str, Any]) -> dict[str, Override]:
    """The ``[prices."provider/model"]`` entries as overrides; raises :class:`OptionError` at the
    first bad one (``must be ... @ $.prices."openai/gpt-4o".input``)."""
    found: dict[str, Override] = {}
    for model, entry in entries.items():
        if not model.strip():
            raise OptionError(_key(model), "an empty model name")
        if not isinstance(entry, Mapping):
            raise OptionError(
                _key(model),
                f"must be a table of prices (input = 0.15, output = 0.6), not "
                f"{type(entry).__name__}",
            )
        unknown = sorted(set(entry) - {*_RATE_KEYS, "valid_from"})
        if unknown:
            raise OptionError(
                _key(model, unknown[0]),
                f"unknown key; a price entry takes {', '.join(_RATE_KEYS)} and valid_from",
            )
        for needed in ("input", "output"):
            if needed not in entry:
                raise OptionError(_key(model, needed), "missing: input and output are required")
        rates = {name: _price(model, name, entry[name]) for name in _RATE_KEYS if name in entry}
        valid_from = None
        if "valid_from" in entry:
            try:
                valid_from = parse_valid_from(entry["valid_from"])
            except ValueError as exc:
                raise OptionError(_key(model, "valid_from"), str(exc)) from None
        found[model] = Override(Rates(**rates), valid_from)
    return found


def _table_of(context: TableContext) -> PriceTable | None:
    chosen = context.component
    if chosen is None:
        return None
    component = chosen.component
    table: PriceTable = component.factory(
        chosen.options, BuildContext(component.name, None, context.config_path)
    )
    return table


def _check(options: PricesOptions, context: TableContext) -> None:
    overrides_of(options.entries)


class _Uninstall:
    def close(self) -> None:
        install(None, {}, NOT_INSTALLED)


def _start(options: PricesOptions, context: TableContext) -> _Uninstall:
    """Put the chosen table and the overrides in force until the configuration is retired."""
    table = _table_of(context)
    reason = NOT_INSTALLED if context.component is None else "no price table in force"
    install(table, overrides_of(options.entries), reason)
    return _Uninstall()


@attrs.frozen
class NoPrices:
    """The ``none`` price table: knows no model, so only reported costs and overrides count."""

    name: str = "none"
    version: str = "0"

    def lookup(self, provider: str, model: str) -> Rates:
        """Always :class:`LookupError`."""
        raise LookupError('no price table in force ([prices] table = "none")')


@hookimpl
def llmlog_register_pricing(register: ComponentRegister) -> None:
    register(
        "none",
        lambda options, context: NoPrices(),
        description="No price table: only reported costs and [prices] overrides.",
    )


@hookimpl
def llmlog_register_tables(register: TableRegister) -> None:
    register(
        "prices",
        PricesOptions,
        description="The price table in force and per-model price overrides (docs/cost.md).",
        component=ComponentChoice("table", ComponentKind.PRICING, DEFAULT_TABLE, "price table"),
        check=_check,
        start=_start,
    )


@hookimpl
def llmlog_register_commands(register: CommandRegister, host: PluginHost) -> None:
    register(
        "reprice",
        partial(run_reprice, host),
        help="price an old trace again with today's table and overrides; say what changed",
        arguments=_reprice_arguments,
    )


def _reprice_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a trace file (dspy or rlm, any format that can reprice)")
    parser.add_argument(
        "--table",
        metavar="NAME",
        help="the price table to use (a pricing component, or none); default: [prices] table",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="write the repriced trace there (default: only report what would change)",
    )
    from llmlog.jsonout import add_json_flags

    add_json_flags(parser, what="LLM calls")


def _say(message: str) -> None:
    print(escape(message), file=sys.stderr)


def run_reprice(host: PluginHost, args: argparse.Namespace) -> int:
    """``llmlog reprice FILE [--table NAME] [-o OUT]``: every ``llm_call`` priced again by the
    chain (overrides, reported, table; see :mod:`llmlog.pricing`) with the configuration's
    overrides and today's table, the lines that did not change copied byte for byte; prints how
    many calls changed and by how much."""
    from llmlog.config import ConfigError
    from llmlog.runtime import validate
    from llmlog.traceinput import TraceInputError, shown_as, spooled

    path = Path(args.file)
    if not args.json and (args.search or args.errors or args.limit is not None or args.offset):
        _say("llmlog: --search, --errors, --limit and --offset go with --json")
        return 2
    try:
        config, _ = validate()
    except ConfigError as exc:
        _say(str(exc))
        return 2
    spec = config.tables.get("prices")
    entries = spec.options.entries if spec is not None else {}
    try:
        overrides = overrides_of(entries)
    except OptionError as exc:
        _say(f"{exc.message} @ $.prices.{exc.key}")
        return 2
    tables = host.components(ComponentKind.PRICING)
    if args.table is not None:
        component = tables.get(args.table)
        if component is None:
            _say(f"unknown price table {args.table!r}; installed: {', '.join(sorted(tables))}")
            return 2
        context = BuildContext(component.name, None, config.source.path)
        options = component.options() if component.options is not None else None
        table: PriceTable | None = component.factory(options, context)
    else:
        chosen = spec.component if spec is not None else None
        table = None
        if chosen is not None:
            context = BuildContext(chosen.component.name, None, config.source.path)
            table = chosen.component.factory(chosen.options, context)
    install(table, overrides, NOT_INSTALLED if table is None else "no price table in force")
    formats = host.components(ComponentKind.TRACE_FORMAT)
    try:
        with spooled(path) as copy:
            try:
                component_found, data = _trace_bytes(path, copy, formats)
            except TraceInputError as exc:
                raise TraceInputError(shown_as(str(exc), path, copy)) from None
    except TraceInputError as exc:
        _say(f"llmlog: {exc}")
        return 1
    reprice = component_found.support.reprice
    if reprice is None:
        able = sorted(name for name, c in formats.items() if c.support.reprice is not None)
        _say(
            f"{path}: a {component_found.name} trace, which its format cannot reprice "
            f"(formats that can: {', '.join(able) or 'none installed'}; llmlog convert "
            f"{path} --to FORMAT first)"
        )
        return 1
    result = reprice_lines(data.splitlines(keepends=True), reprice)
    if args.output:
        from llmlog.safefiles import written_atomically

        try:
            with written_atomically(args.output) as out:
                out.writelines(result.lines)
        except OSError as exc:
            _say(f"{args.output}: cannot write: {exc.strerror or exc}")
            return 1
    if args.json:
        _reprice_json(path, args, result)
        return 0
    print(escape(result.summary(path, args.output)))
    return 0


def _trace_bytes(path: Path, copy: Path, formats: dict[str, Any]) -> tuple[Any, bytes]:
    """The trace format that recognises ``copy`` (``path`` or a pipe's copy) and its whole
    text, decompressed when it is a compressed part (repriced, it is written plain with -o).

    :raises TraceInputError: naming ``path`` and what is wrong.
    """
    from llmlog.default_plugins.trace_commands import _detect_format
    from llmlog.traceinput import TraceInputError, compression_of, decompressed_copy

    compression = compression_of(copy)
    component, problem = _detect_format(copy, formats, compression)
    if component is None:
        raise TraceInputError(problem or f"{path}: not a trace")
    try:
        if compression is None:
            return component, copy.read_bytes()
        with decompressed_copy(copy, compression) as plain:
            return component, plain.read_bytes()
    except OSError as exc:
        raise TraceInputError(f"{path}: {exc.strerror or exc}") from None


def _reprice_json(path: Path, args: argparse.Namespace, result: Repriced) -> None:
    """``reprice --json``: a row per LLM call (``--errors``: those whose cost is unknown after),
    the counts as the summary."""
    from llmlog.jsonout import configured_sanitizer, json_page, paging, print_json

    sanitizer, problem = configured_sanitizer()
    summary = {
        "calls": result.calls,
        "changed": result.changed,
        "cost_before": result.before,
        "cost_after": result.after,
        "unknown_before": result.unknown_before,
        "unknown_after": result.unknown_after,
        "written_to": args.output,
    }
    print_json(
        json_page(
            "reprice",
            result.rows,
            source=[str(path)],
            **paging(args),
            summary=summary,
            problems=[problem] if problem else [],
            sanitizer=sanitizer,
            keep=(lambda row: row.get("cost_after") is None) if args.errors else None,
        )
    )


@attrs.define
class Repriced:
    """What :func:`reprice_lines` did: the new lines and the counts for the summary."""

    lines: list[bytes] = attrs.Factory(list)
    calls: int = 0
    changed: int = 0
    before: float = 0.0
    after: float = 0.0
    unknown_before: int = 0
    unknown_after: int = 0
    #: Lines kept as they were after the format's ``reprice`` failed.
    failed: int = 0
    #: One row per LLM call (``--json``): its line, its model, its cost and source before and
    #: after.
    rows: list[dict[str, Any]] = attrs.Factory(list)

    def summary(self, path: Path, output: str | None) -> str:
        """``trace.jsonl: 3 of 5 LLM calls changed; cost $0.01 → $0.012 (+$0.002); ...``."""
        delta = self.after - self.before
        sign = "+" if delta >= 0 else "-"
        text = (
            f"{path}: {self.changed} of {self.calls} LLM call{'' if self.calls == 1 else 's'} "
            f"changed; known cost {format_cost(self.before)} → {format_cost(self.after)} "
            f"({sign}{format_cost(abs(delta))}); unknown price: {self.unknown_before} → "
            f"{self.unknown_after}"
        )
        return text + (f"; written to {output}" if output else "; nothing written (no -o)")


def reprice_lines(lines: list[bytes], reprice: Reprice) -> Repriced:
    """Each LLM call of a trace's lines priced again by the pricing state in force
    (:func:`llmlog.pricing.install`), through its format's ``reprice``; every other line, and a
    line whose calls come out the same, kept byte for byte. A line the format cannot read is
    kept as it is; when the format's ``reprice`` fails, the lines from there on are kept as they
    were (said on stderr and in ``failed``)."""
    from llmlog.pricing import price_usage

    result = Repriced()

    def price(usage: dict[str, Any], provider: str, model: str, time_ns: int | None) -> None:
        before = dict(usage)
        price_usage(usage, provider, model, time_ns)
        result.calls += 1
        result.changed += usage != before
        _count(result, before, usage)
        result.rows.append(
            {
                # the format prices a line's calls before the line is given back
                "line": len(result.lines) + 1,
                "provider": provider or None,
                "model": model or None,
                "changed": usage != before,
                "cost_before": _known(before),
                "cost_after": _known(usage),
                "cost_source_before": before.get("cost_source"),
                "cost_source_after": usage.get("cost_source"),
                "cost_unknown_after": usage.get("cost_unknown"),
            }
        )

    bodies = [line.rstrip(b"\r\n") for line in lines]
    try:
        for line, body, new in zip(lines, bodies, reprice(bodies, price), strict=False):
            result.lines.append(line if new is None else new + line[len(body) :])
    except Exception as exc:  # a format's reprice that fails: the rest kept as it was
        _say(f"repricing failed ({type(exc).__name__}: {exc}); the rest of the file kept as it was")
        result.failed = len(lines) - len(result.lines)
    result.lines += lines[len(result.lines) :]
    return result


def _known(usage: Mapping[str, Any]) -> float | None:
    cost = usage.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost):
        return float(cost)
    return None


def _count(result: Repriced, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    before, after = _known(old), _known(new)
    if before is None:
        result.unknown_before += 1
    else:
        result.before += before
    if after is None:
        result.unknown_after += 1
    else:
        result.after += after
