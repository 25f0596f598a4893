"""The core's optional C module, ``llmlog._speedups``, as the rest of the core finds it.

The module is built where the core's build finds a C compiler and Python's headers (see
``core/pyproject.toml``); it holds the common case's test of an entry, the same logic in two
places of the core: the flat logging methods' (:mod:`llmlog.fastpath`) and the sanitizer's
(:meth:`llmlog.sanitize.Sanitizer.fields`). Without it, or with ``LLMLOG_NO_SPEEDUPS=1`` set,
:data:`ENABLED` is false and both run the same tests in Python: the same answers, slower.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["ENABLED", "EntryTest", "clean", "clean_fields", "module"]

module: ModuleType | None
try:
    # By name: the import graph (lint-imports) sees no .py file there and would count it as an
    # import of the package, which imports every layer.
    module = importlib.import_module("llmlog._speedups")
except ImportError:  # built without a C compiler
    module = None

#: Whether the core uses the C module (read once, at import).
ENABLED: bool = module is not None and not os.environ.get("LLMLOG_NO_SPEEDUPS")

#: The module's functions and its entry test (``None`` without it), for the core's two users;
#: each reads :data:`ENABLED` (or its own switch, built from it) before calling one.
clean = None if module is None else module.clean
clean_fields = None if module is None else module.clean_fields
EntryTest = None if module is None else module.EntryTest
