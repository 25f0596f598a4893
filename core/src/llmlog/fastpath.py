"""The specialised per-entry functions: one flat function per severity, generated at configure
time from the one output that takes that severity (its :class:`~llmlog.interfaces.EntryCode`).

A logging method (``info``...) of a plain logger (no bound fields, no level of its own) calls the
dispatcher's function for its severity with the message, the keyword fields and its name. In one
frame it tests that the entry is the common one (a message and field values already known clean
by the sanitizer's caches, keys known plain and not special keywords, no context in force), reads
the caller's frame and the time, and runs the output's code: the formatter's bytes and the sink's
write. For anything else it returns ``True`` before anything is written, and the logging method
takes the generic path (``Logger._log``), which stays the reference: the same bytes either way
(a property test compares them).

Generated with ``exec`` as ``attrs`` and ``dataclasses`` generate methods: a call layer in
CPython costs hundreds of instructions, as much as the work of a whole field.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

from llmlog.context import _EMPTY, get_current
from llmlog.interfaces import EntryCode
from llmlog.sanitize import Sanitizer

__all__ = ["SPECIAL_KEYWORDS", "Emit", "basename", "basenames", "build_emitter"]

#: Keyword arguments that set entry attributes instead of becoming fields.
SPECIAL_KEYWORDS = frozenset(
    {"exc_info", "stack_info", "stacklevel", "model_id", "token_info", "latency_ms", "cost"}
)
_SCALARS = frozenset({int, float, bool, type(None)})
# Strings, keys and call sites each function remembers at most (as the sanitizer's caches).
_SAFE_SIZE = 4096

#: ``emit(message, fields, logger_name)``: ``None`` once written, ``True`` when the generic path
#: must take it.
Emit = Callable[[object, dict[str, Any], str], "bool | None"]

#: A path's base name, by path: every per-entry path reads the caller's file through it.
basenames: dict[str, str] = {}


def basename(path: str) -> str:
    """``os.path.basename(path)``, remembered in :data:`basenames`."""
    try:
        return basenames[path]
    except KeyError:
        name = basenames[path] = os.path.basename(path)
        return name


# The generated function. Frame 0 is emit, 1 the logging method, 2 the application's call. The
# tests on a hit are one set lookup each; what is not known yet is admitted by a call, once.
_TEMPLATE = """\
def _factory():
{setup}
    def emit(msg, kw, logger):
{declare}
        try:
            if type(msg) is not str or (msg not in _safe and not _admit(msg)):
                return True
            if logger and logger not in _names and not _admit_name(logger):
                return True
            if _get_current() is not _EMPTY:
                return True
            for _key in kw:
                if _key not in _keys and not _admit_key(_key):
                    return True
                _value = kw[_key]
                if type(_value) is str:
                    if _value not in _safe and not _admit(_value):
                        return True
                elif type(_value) not in _SCALARS:
                    return True
            _frame = _getframe(2)
            _code = _frame.f_code
            _site = _sites.get(_code)
            if _site is None:
                _site = _site_of(_code)
                if _site is None:
                    return True
            file, function = _site
            line = _frame.f_lineno
            ns = _time_ns()
            message = msg
            fields = kw
{line}
        except Exception:  # nothing written yet: the generic path takes it (and reports)
            return True
        try:
{write}
        except Exception as _exc:
            _failed(_exc)
        return None
    return emit
"""


def _indent(source: str, depth: int) -> str:
    body = textwrap.indent(textwrap.dedent(source).strip("\n"), " " * (4 * depth))
    return body if body.strip() else " " * (4 * depth) + "pass"


def build_emitter(
    code: EntryCode, sanitizer: Sanitizer, failed: Callable[[Exception], None]
) -> Emit:
    """The flat function of ``code`` (see the module docstring); ``failed(exc)`` is called when
    its write fails.

    :raises ValueError: when ``code``'s namespace binds a name the template uses.
    :raises SyntaxError: when its source does not compile.
    """
    keys: set[str] = set()
    safe: set[str] = set()
    names: set[str] = set()
    sites: dict[Any, tuple[str, str]] = {}
    plain, clean = sanitizer._plain_keys, sanitizer._clean
    never = SPECIAL_KEYWORDS | code.reserved

    def admit(text: str) -> bool:
        # A string the sanitizer found clean (the generic path taught it) and that needs no
        # escaping in any format (printable ASCII): the formatters' code relies on it.
        if text in clean and text.isascii() and text.isprintable():
            if len(safe) >= _SAFE_SIZE:
                safe.clear()
            safe.add(text)
            return True
        return False

    def admit_key(key: object) -> bool:
        # A key the sanitizer classed plain, not a special keyword nor one the code leaves out.
        if (
            key in plain
            and key not in never
            and isinstance(key, str)
            and key.isascii()
            and key.isprintable()
            and len(keys) < _SAFE_SIZE
        ):
            keys.add(key)
            return True
        return False

    def admit_name(name: object) -> bool:
        # A logger's name (not redacted, as on the generic path) that needs no escaping.
        if isinstance(name, str) and name.isascii() and name.isprintable():
            if len(names) >= _SAFE_SIZE:
                names.clear()
            names.add(name)
            return True
        return False

    def site_of(code: Any) -> tuple[str, str] | None:
        # The caller's base name and function, when printable ASCII as every other string.
        site = (basename(code.co_filename), code.co_qualname)
        if not all(part.isascii() and part.isprintable() for part in site):
            return None
        if len(sites) >= _SAFE_SIZE:
            sites.clear()
        sites[code] = site
        return site

    core: dict[str, Any] = {
        "_safe": safe,
        "_admit": admit,
        "_names": names,
        "_admit_name": admit_name,
        "_get_current": get_current,
        "_EMPTY": _EMPTY,
        "_keys": keys,
        "_admit_key": admit_key,
        "_SCALARS": _SCALARS,
        "_getframe": sys._getframe,
        "_sites": sites,
        "_site_of": site_of,
        "_time_ns": time.time_ns,
        "_failed": failed,
    }
    clash = core.keys() & code.namespace.keys()
    if clash:
        raise ValueError(f"entry code binds names of the template: {sorted(clash)}")
    state = ", ".join(code.state)
    source = _TEMPLATE.format(
        setup=_indent(code.setup, 1),
        declare=f"        nonlocal {state}" if state else "",
        line=_indent(code.line, 3),
        write=_indent(code.write, 3),
    )
    namespace = {**code.namespace, **core}
    exec(compile(source, "<llmlog entry function>", "exec"), namespace)
    emit: Emit = namespace["_factory"]()
    return emit
