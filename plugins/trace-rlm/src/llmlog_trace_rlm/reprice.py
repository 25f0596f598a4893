"""``llmlog reprice`` for RLM files: every LLM call of an iteration line priced again.

An iteration holds its calls in two places: its own call (``root_call``, or the one call of an
LLM-call block) and each code block's ``result.rlm_calls``. Each call's counts are read as the
readers read them (``prompt_tokens``/``completion_tokens``, else the ``usage_summary`` totals;
the detail counts beside them), priced by the chain, and the result written back where the
formats keep a cost: ``usage_summary.total_cost`` and the model's ``total_cost``, with llmlog's
``cost_source`` (or ``cost_unknown``) beside ``prompt_tokens``, which readers ignore.

rlm-go repeats one list of calls (and the locals) in every block of an iteration; such a list is
priced (and counted) once, as the readers count it, and written alike in every block.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from llmlog.ext import USAGE_DETAIL_FIELDS, PriceUsage, serializer
from llmlog_trace_rlm.reader import parse_time
from llmlog_trace_rlm.writer import encode_line

__all__ = ["reprice"]


def reprice(lines: Iterable[bytes], price: PriceUsage) -> Iterator[bytes | None]:
    """For each line, the iteration with its calls priced again by ``price``, or ``None`` when it
    holds no call (the metadata line, an unreadable line) or no call's cost changed. The calls
    are priced as from the provider the metadata names (``backend``), as they were written."""
    provider = ""
    for line in lines:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            yield None
            continue
        if isinstance(record, dict) and record.get("type") == "metadata":
            backend = record.get("backend")
            provider = backend if isinstance(backend, str) else ""
            yield None
        elif isinstance(record, dict) and "code_blocks" in record:
            yield _repriced(record, price, provider)
        else:
            yield None


def _repriced(record: dict[str, Any], price: PriceUsage, provider: str) -> bytes | None:
    stamp = record.get("timestamp")
    when = (parse_time(stamp, 0) if isinstance(stamp, str) else 0) or None
    changed = False
    own = record.get("root_call")
    if isinstance(own, dict):
        priced = _priced(own, price, provider, when)
        if priced != own:
            record["root_call"] = priced
            changed = True
    # rlm-go attaches one iteration's whole call list and locals to every block: such a list is
    # priced and counted once, as the readers count it once, and written alike in each block.
    done: list[tuple[bytes, list[Any]]] = []
    blocks = record.get("code_blocks")
    for block in blocks if isinstance(blocks, list) else ():
        result = block.get("result") if isinstance(block, dict) else None
        calls = result.get("rlm_calls") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(calls, list) or not calls:
            continue
        key = serializer.dumps([calls, result.get("locals")], sort_keys=True)
        new = next((p for k, p in done if k == key), None)
        if new is None:
            new = [_priced(c, price, provider, when) if isinstance(c, dict) else c for c in calls]
            done.append((key, new))
        if new != calls:
            result["rlm_calls"] = json.loads(json.dumps(new))
            changed = True
    return encode_line(record) if changed else None


def _priced(
    call: dict[str, Any], price: PriceUsage, provider: str, when: int | None
) -> dict[str, Any]:
    """A copy of ``call`` priced again."""
    out: dict[str, Any] = json.loads(json.dumps(call))  # a deep copy of plain JSON values
    summary = out.get("usage_summary")
    summary = summary if isinstance(summary, dict) else None
    per_model = summary.get("model_usage_summaries") if summary is not None else None
    models = (
        {k: v for k, v in per_model.items() if isinstance(v, dict)}
        if isinstance(per_model, dict)
        else {}
    )
    model = out.get("root_model")
    if not isinstance(model, str) or not model or model == "unknown":
        model = next(iter(models)) if len(models) == 1 else ""
    usage: dict[str, Any] = {
        "prompt_tokens": _count(out, "prompt_tokens", models, "total_input_tokens"),
        "completion_tokens": _count(out, "completion_tokens", models, "total_output_tokens"),
    }
    usage.update((name, out[name]) for name in USAGE_DETAIL_FIELDS if name in out)
    cost = summary.get("total_cost") if summary is not None else None
    if cost is not None:
        usage["cost"] = cost
    for key in ("cost_source", "cost_unknown"):
        if isinstance(out.get(key), str):
            usage[key] = out[key]
    price(usage, provider, model, when)
    cost = usage.get("cost")
    out.pop("cost_source", None)
    out.pop("cost_unknown", None)
    if cost is None:
        if summary is not None:
            summary.pop("total_cost", None)
        for entry in models.values():
            entry.pop("total_cost", None)
        if usage.get("cost_unknown"):
            out["cost_unknown"] = usage["cost_unknown"]
        return out
    if summary is None:
        summary = out["usage_summary"] = {}
    summary["total_cost"] = cost
    if len(models) == 1:
        next(iter(models.values()))["total_cost"] = cost
    if usage.get("cost_source"):
        out["cost_source"] = usage["cost_source"]
    return out


def _count(call: dict[str, Any], key: str, models: dict[str, Any], total_key: str) -> Any:
    """A count as the readers take it: the call's own, else the sum over its models."""
    if call.get(key) is not None:
        return _integral(call[key])
    values = [_integral(m.get(total_key)) for m in models.values()]
    if values and all(type(v) is int for v in values):
        return sum(values)
    return 0 if not values else None


def _integral(value: Any) -> Any:
    """``3.0`` (Python writers) as ``3``; anything else as it is (the price then says whether
    it can be priced)."""
    return int(value) if type(value) is float and value.is_integer() else value
