"""Cheap estimates of the memory an item held by an export queue takes, for ``max_queue_bytes``.

An estimate is the item's text (strings and bytes, by length) plus a fixed cost per item and per
value for the Python objects around it. On the application's thread it must cost next to
nothing: :func:`value_size` looks at a bounded number of values (64) and counts any container
past that budget by its length alone, so a huge nested value costs the same few microseconds as
a small one (the core has already capped every string it holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ITEM_OVERHEAD", "VALUE_OVERHEAD", "fields_size", "value_size"]

#: What a queued entry, event, record or span costs besides its text (measured with tracemalloc:
#: a ``LogEntry`` with two small fields about 410 bytes, a span-start ``TraceEvent`` 380, a
#: finished ``ReadableSpan`` 410).
ITEM_OVERHEAD = 512
#: What one value or container slot costs besides its text (a small ``str`` is 50 bytes, a ``dict``
#: slot about 40).
VALUE_OVERHEAD = 48
_BUDGET = 64
_CONTAINERS = frozenset({dict, list, tuple})
_TEXT = (str, bytes, bytearray)
_SCALARS = frozenset({int, float, bool, type(None)})


def fields_size(fields: Mapping[str, Any]) -> int:
    """Estimated bytes of a mapping of fields (an entry's, an event's data): one pass over its
    values, strings and scalars inline (the common case), nested containers by
    :func:`value_size`; keys are short and count in the fixed cost of their slot."""
    size = VALUE_OVERHEAD * (1 + len(fields))
    for value in fields.values():
        kind = type(value)
        if kind is str:
            size += len(value)
        elif kind not in _SCALARS:
            size += value_size(value)
    return size


def value_size(value: Any) -> int:
    """Estimated bytes of ``value``: strings and bytes by length, other scalars by a fixed cost,
    containers walked up to 64 values in all (the rest counted by their slots alone)."""
    kind = type(value)
    if kind is str or kind is bytes:
        return len(value) + VALUE_OVERHEAD
    if kind not in _CONTAINERS and not isinstance(value, Mapping):
        return len(value) + VALUE_OVERHEAD if isinstance(value, _TEXT) else VALUE_OVERHEAD
    size = 0
    budget = _BUDGET
    stack: list[Any] = [value]  # containers only
    while stack:
        item = stack.pop()
        size += VALUE_OVERHEAD * (1 + len(item))
        if type(item) is list or type(item) is tuple:
            children: Any = item
        else:
            children = item.values()
            if len(item) <= budget:
                for key in item:
                    if type(key) is str:
                        size += len(key)
        for child in children:
            budget -= 1
            if budget < 0:
                break  # past the budget: what is left counts by its slots only
            kind = type(child)
            if kind is str or kind is bytes:
                size += len(child)  # its slot is already counted
            elif kind in _CONTAINERS or isinstance(child, Mapping):
                stack.append(child)
            elif isinstance(child, _TEXT):
                size += len(child)
    return size
