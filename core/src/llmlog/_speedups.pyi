"""The entry tests of :mod:`llmlog.fastpath` and :mod:`llmlog.sanitize` in C (optional; see
:mod:`llmlog.speedups`)."""

import contextvars
from collections.abc import Callable, Set
from typing import Any

def clean(message: object, fields: dict[str, Any], keys: Set[str], safe: Set[str], /) -> bool: ...
def clean_fields(
    value: object,
    keys: Set[str],
    safe: Set[str],
    safe_long: Set[str],
    levels: int,
    budget: int,
    unknown: list[str] | None = None,
    shaped: Set[str] | None = None,
    /,
) -> int: ...

class EntryTest:
    def __init__(
        self,
        names: Set[str],
        keys: Set[str],
        safe: Set[str],
        files: dict[str, str],
        functions: Set[str],
        context: contextvars.ContextVar[Any],
        time_ns: Callable[[], int],
        /,
    ) -> None: ...
    def __call__(
        self, logger: object, message: object, fields: dict[str, Any], /
    ) -> tuple[str, str, int, int, Any] | None: ...
