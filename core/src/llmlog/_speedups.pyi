"""The entry tests of :mod:`llmlog.fastpath` and :mod:`llmlog.sanitize` in C (optional; see
:mod:`llmlog.speedups`)."""

from collections.abc import Set
from typing import Any

def clean(message: object, fields: dict[str, Any], keys: Set[str], safe: Set[str], /) -> bool: ...
def clean_fields(
    value: object,
    keys: Set[str],
    safe: Set[str],
    safe_long: Set[str],
    levels: int,
    budget: int,
    /,
) -> int: ...
