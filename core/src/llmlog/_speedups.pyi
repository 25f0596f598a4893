"""The flat logging methods' entry test in C (optional; see :mod:`llmlog.fastpath`)."""

from collections.abc import Set
from typing import Any

def clean(message: object, fields: dict[str, Any], keys: Set[str], safe: Set[str], /) -> bool: ...
