"""The specialised per-entry functions: one flat logging method per severity, generated at
configure time from the outputs that take that severity, when each offers its common entry as
source (its :class:`~llmlog.interfaces.EntryCode`): every output's line is made, then each is
written (a failing write is reported and counted, the others still write).

Each is the logging method (``info``...) of the dispatcher's classes of loggers with no level of
their own (see :meth:`~llmlog.dispatch.Dispatcher.logger_class`); for a logger with bound fields,
and where the dispatcher has default fields, the method merges them into the call's fields first,
as the generic path does. In one frame it tests that the entry is the common one (no ``%`` arguments, a message and field values already
known clean by the sanitizer's caches, keys known plain and not special keywords, no context in
force, or only a trace's ids where every output's code writes them), reads the caller's frame and
the time, and runs each output's code: its formatter's bytes, then its sink's write. For anything
else it calls the generic path (``Logger._log``) before anything is written; that path stays the
reference: the same bytes either way (a property test compares them). An output's code says
"not the common entry" with ``return True``, which the function's source turns into that call.

Where the core was built with the optional C module (:data:`SPEEDUPS`), one call of the
method's ``llmlog._speedups.EntryTest`` tests the logger's name, the message and the fields, and
the caller's file and function, and returns the caller's facts, the time and the context; else
the same tests run in Python. What neither knows yet is admitted in Python, once.

Generated with ``exec`` as ``attrs`` and ``dataclasses`` generate methods: a call layer in
CPython costs hundreds of instructions, as much as the work of a whole field. A method that a
new configuration replaced is retired (:func:`retire`): a caller still holding it
(``info = log.info``) then takes the generic path, which reads the configuration in force.
"""

from __future__ import annotations

import ast
import os
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard

import attrs

from llmlog import speedups
from llmlog.context import _EMPTY, LogContext, _current, get_current
from llmlog.interfaces import EntryCode
from llmlog.sanitize import Sanitizer
from llmlog.severity import Severity

__all__ = [
    "SPECIAL_KEYWORDS",
    "SPEEDUPS",
    "Method",
    "basename",
    "basenames",
    "build_method",
    "retire",
]

#: Keyword arguments that set entry attributes instead of becoming fields.
SPECIAL_KEYWORDS = frozenset(
    {"exc_info", "stack_info", "stacklevel", "model_id", "token_info", "latency_ms", "cost"}
)
_SCALARS = frozenset({int, float, bool, type(None)})
# Strings, keys and call sites each function remembers at most (as the sanitizer's caches).
_SAFE_SIZE = 4096

#: Whether the flat methods test an entry's message and fields with the optional C module
#: (:mod:`llmlog.speedups`), read when a method is built: ``False`` where the core was built
#: without a C compiler, or with ``LLMLOG_NO_SPEEDUPS=1`` set; the same test then runs in Python.
SPEEDUPS = speedups.ENABLED
_clean = speedups.clean

#: A generated logging method: ``method(logger, message, *args, **fields)``.
Method = Callable[..., None]

#: A path's base name, by path: every per-entry path reads the caller's file through it.
basenames: dict[str, str] = {}


def basename(path: str) -> str:
    """``os.path.basename(path)``, remembered in :data:`basenames`."""
    try:
        return basenames[path]
    except KeyError:
        name = basenames[path] = os.path.basename(path)
        return name


# The entry's tests. The message, with its type (when the code does not test types itself):
_MESSAGE = """\
if type(message) is not str or (message not in _safe and not _admit(message)):
    return True
"""
_MESSAGE_TYPES_CHECKED = """\
if message not in _safe and not _admit(message):
    return True
"""
_NAME = """\
if logger and logger not in _names and not _admit_name(logger):
    return True
"""
# Inside a context (for code that writes trace ids): a trace and span id alone, printable ASCII.
# The context is a named tuple: unpacked in one step (its fields' order is checked below), where
# each attribute read is a descriptor call.
_TRACE = """\
_model, _tokens, trace_id, span_id, _session, _fields = _get_current()
if _fields or _model is not None or _tokens is not None:
    return True
if trace_id is not None and trace_id not in _ids and not _admit_id(trace_id):
    return True
if span_id is not None and span_id not in _ids and not _admit_id(span_id):
    return True
"""
assert LogContext._fields == ("model_id", "token_info", "trace_id", "span_id", "session", "fields")
# The fields: keys known plain; each value a string known clean or a number. Where the code tests
# types itself, a string value is one set lookup and a number one more test (a value of any other
# type, a subclass of str or int included, is not admitted here or makes the code raise).
_FIELDS = """\
if not _keys_known(fields) and not _admit_keys(fields):
    return True
for _value in fields.values():
    if type(_value) is str:
        if _value not in _safe and not _admit(_value):
            return True
    elif type(_value) not in _SCALARS:
        return True
"""
_FIELDS_TYPES_CHECKED = """\
if not _keys_known(fields) and not _admit_keys(fields):
    return True
for _value in fields.values():
    if _value not in _safe and type(_value) not in _SCALARS and not _admit(_value):
        return True
"""
# The message and the fields in one C call (llmlog._speedups.clean: the tests above, with exact
# types), which saves some 2,000 instructions an entry of three fields over the loop: CPython 3.11
# pays for the loop's view and iterator and for every test's bytecodes. What it does not know yet
# is admitted in Python, once.
_ENTRY_SPEEDUPS = """\
if not _clean(message, fields, _keys, _safe) and not _admit_entry(message, fields):
    return True
"""
# _admit_entry: the Python tests above as a function of the method's namespace (answering False
# where they say "not the common entry"), so that a retired method's (see retire) admits nothing.
_ADMIT_ENTRY = "def _admit_entry(message, fields):\n{tests}\n    return True\n"
# Frame 0 is the logging method, 1 the application's call.
_CALLER = """\
_frame = _getframe(1)
_code = _frame.f_code
file = _files.get(_code.co_filename)
function = _code.co_qualname
if file is None or function not in _functions:
    file = _admit_site(_code)
    if file is None:
        return True
line = _frame.f_lineno
ns = _time_ns()
"""

# The generated method: the arguments', message's and name's tests, then outside a context the
# entry's lines (one per output taking the severity), and inside one (where every code writes
# trace ids) the same with the context's tests and the traced lines; the body is written twice so
# that the common entry pays no second context test. Every ``return True`` (not the common
# entry: nothing written yet) becomes a call of the generic path (_GENERIC, below), with the
# call's own keywords ({keywords}: where there are default or bound fields, the method merges
# them into fields first, as the generic path does).
# The tests on a hit are one set lookup each; what is not known yet is admitted by a call, once.
_TEMPLATE = """\
def _factory():
{setup}
    def method(self, message, /, *args, **{keywords}):
{declare}
        if args:
            return True
        logger = self.name
        try:
{merge}
{entry}
        except Exception:  # nothing written yet: the generic path takes it (and reports)
            return True
{writes}
        return None
    return method
"""
# The entry's tests in Python, then its lines outside a context or inside one.
_ENTRY_PYTHON = """\
{tests}
if _get_current() is _EMPTY:
{body}
else:
{traced}
"""
# With the C module: the name's, the entry's and the caller's tests, the caller's facts, the time
# and the context in one call of the method's llmlog._speedups.EntryTest (its sets bound when the
# method is built), some 850 instructions less than the same in bytecode; what it does not know
# takes the tests in Python (_ENTRY_PYTHON), which admit it for the next time.
_ENTRY_C = """\
_site = _entry(logger, message, fields)
if _site is not None:
    file, function, line, ns, _ctx = _site
    if _ctx is _EMPTY:
{known}
    else:
{known_traced}
else:
{python}
"""
# The generic path, called from the method itself: Logger._log finds the caller two frames up.
_GENERIC = "self._log(_severity, message, args, {keywords})"
# The entry's fields: the default ones, the bound ones, then the call's (the generic path's
# order, less the context's, which the common entry has none of).
_MERGE = "fields = {{{defaults}{bound}**kw}}"
# Each output's write: a failing one is reported and counted, the others still write.
_WRITE = """\
try:
{write}
except Exception as _exc:
    _failed_{index}(_exc)
"""


# What the template gives every code: never renamed.
_INPUTS = frozenset(
    {"ns", "message", "file", "line", "function", "fields", "logger", "trace_id", "span_id"}
)


@attrs.frozen
class _Joined:
    """The codes of several outputs as one: their lines in order, and each write on its own."""

    line: str
    line_traced: str | None
    writes: tuple[EntryCode, ...]
    namespace: dict[str, Any]
    setup: str
    state: tuple[str, ...]
    reserved: frozenset[str]
    types_checked: bool


def _joined(codes: Sequence[EntryCode]) -> _Joined:
    namespace: dict[str, Any] = {}
    for code in codes:
        namespace.update(code.namespace)
    traced = [code.line_traced for code in codes]
    return _Joined(
        line="\n".join(textwrap.dedent(code.line).strip() for code in codes),
        line_traced=None
        if None in traced
        else "\n".join(textwrap.dedent(t or "").strip() for t in traced),
        writes=tuple(codes),
        namespace=namespace,
        setup="\n".join(textwrap.dedent(code.setup).strip() for code in codes),
        state=tuple(name for code in codes for name in code.state),
        reserved=frozenset().union(*(code.reserved for code in codes)),
        types_checked=all(code.types_checked for code in codes),
    )


def _renamed(code: EntryCode, suffix: str) -> EntryCode:
    """``code`` with every name it binds (its globals, state and locals) ending in ``suffix``,
    so that two outputs' codes (two file outputs' ``data``, ``j_cache``...) do not clash."""
    sources = [code.line, code.line_traced or "", code.write, code.setup]
    trees = [
        ast.parse(f"def _f():\n{textwrap.indent(textwrap.dedent(s), '    ')}\n    pass")
        for s in sources
    ]
    bound = {
        node.id
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    rename = (bound | code.namespace.keys() | set(code.state)) - _INPUTS

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            if node.id in rename:
                node.id += suffix
            return node

    def text(tree: ast.Module) -> str:
        body = Rename().visit(tree).body[0].body[:-1]  # without the closing pass
        return "\n".join(ast.unparse(statement) for statement in body)

    line, traced, write, setup = (text(tree) for tree in trees)
    return attrs.evolve(
        code,
        line=line,
        line_traced=None if code.line_traced is None else traced,
        write=write,
        setup=setup,
        namespace={f"{name}{suffix}": value for name, value in code.namespace.items()},
        state=tuple(f"{name}{suffix}" for name in code.state),
    )


def _printable(value: object) -> TypeGuard[str]:
    """Exactly a ``str`` (a subclass may compare equal and print otherwise) of printable ASCII:
    nothing to escape in any format."""
    return type(value) is str and value.isascii() and value.isprintable()


def _remember(store: set[str], value: str) -> bool:
    """Add ``value`` to one of a flat function's bounded sets (emptied when full); ``True``."""
    if len(store) >= _SAFE_SIZE:
        store.clear()
    store.add(value)
    return True


def _indent(source: str, depth: int) -> str:
    body = textwrap.indent(textwrap.dedent(source).strip("\n"), " " * (4 * depth))
    return body if body.strip() else " " * (4 * depth) + "pass"


class _Generic(ast.NodeTransformer):
    """``return True`` (not the common entry) as ``return <the generic path>``."""

    def __init__(self, call: str) -> None:
        self.call = call

    def visit_Return(self, node: ast.Return) -> ast.Return:
        if isinstance(node.value, ast.Constant) and node.value.value is True:
            node.value = ast.parse(self.call, mode="eval").body
        return node


def _never(value: object) -> bool:
    return False


def _unknown(logger: object, message: object, fields: object) -> None:
    """A retired method's entry test (in place of its EntryTest): nothing is known (``None``)."""


def retire(method: Method) -> None:
    """Send every later call of ``method`` (a function :func:`build_method` made) to the generic
    path: it then admits no message. For a method a new configuration replaced, still held by a
    caller (``info = log.info``); a call already past its tests finishes as it began."""
    method.__globals__.update(_safe=frozenset(), _admit=_never, _entry=_unknown)


def build_method(
    parts: Sequence[tuple[EntryCode, Callable[[Exception], None]]],
    sanitizer: Sanitizer,
    severity: int,
    *,
    bound: bool = False,
    defaults: Mapping[str, Any] | None = None,
) -> Method:
    """The flat logging method of ``severity`` for the outputs' ``parts`` (see the module
    docstring): each output's code and the function called with the exception when its write
    fails. Every output's line is made before any is written; each write on its own, in order.
    ``bound``: the method of loggers with bound fields (``logger._bound``), merged first;
    ``defaults``: the dispatcher's default fields (sanitized), merged before them.

    :raises ValueError: when a code's namespace binds a name the template uses.
    :raises SyntaxError: when a code's source does not compile.
    """
    code = _joined([c if i == 0 else _renamed(c, f"_{i}") for i, (c, _) in enumerate(parts)])
    keys: set[str] = set()
    safe: set[str] = set()
    names: set[str] = set()
    ids: set[str] = set()
    files: dict[str, str] = {}
    functions: set[str] = set()
    plain, clean = sanitizer._plain_keys, sanitizer._clean
    never = SPECIAL_KEYWORDS | code.reserved

    def admit(text: object) -> bool:
        # A string the sanitizer found clean (the generic path taught it): the formatters' code
        # relies on every string being printable ASCII (see _printable).
        return _printable(text) and text in clean and _remember(safe, text)

    def admit_id(value: object) -> bool:
        # A trace or span id (written as it is, as on the generic path).
        return _printable(value) and _remember(ids, value)

    def admit_keys(fields: dict[str, Any]) -> bool:
        # Keys the sanitizer classed plain, none a special keyword nor one the code leaves out.
        for key in fields:
            if key in keys:
                continue
            if key in plain and key not in never and _printable(key) and len(keys) < _SAFE_SIZE:
                keys.add(key)
            else:
                return False
        return True

    def admit_name(name: object) -> bool:
        # A logger's name (not redacted, as on the generic path).
        return _printable(name) and _remember(names, name)

    def admit_site(code: Any) -> str | None:
        # The caller's base name (returned) and function, when printable ASCII as every other
        # string, and the file's name not empty (a caller with none takes the generic path,
        # which writes no place for it: no entry code tests for it). Remembered by file path and
        # by function name, whose hashes strings keep: a code object's hash is computed afresh at
        # every call (some 600 instructions).
        file, function = basename(code.co_filename), code.co_qualname
        if not (file and _printable(file) and _printable(function)):
            return None
        if len(files) >= _SAFE_SIZE:
            files.clear()
        files[code.co_filename] = file
        _remember(functions, function)
        return file

    core: dict[str, Any] = {
        "_safe": safe,
        "_admit": admit,
        "_names": names,
        "_admit_name": admit_name,
        "_ids": ids,
        "_admit_id": admit_id,
        "_get_current": get_current,
        "_EMPTY": _EMPTY,
        "_keys_known": keys.issuperset,
        "_keys": keys,
        "_clean": _clean,
        "_entry": None,  # made below where the C module is used (an EntryTest)
        "_admit_entry": None,  # made below where the C test is used (_ADMIT_ENTRY)
        "_admit_keys": admit_keys,
        "_SCALARS": _SCALARS,
        "_getframe": sys._getframe,
        "_files": files,
        "_functions": functions,
        "_admit_site": admit_site,
        "_time_ns": time.time_ns,
        "_severity": severity,
        "_defaults": defaults,
        **{f"_failed_{i}": failed for i, (_, failed) in enumerate(parts)},
    }
    clash = core.keys() & code.namespace.keys()
    if clash:
        raise ValueError(f"entry code binds names of the template: {sorted(clash)}")
    state = ", ".join(code.state)
    if SPEEDUPS:
        tests = _NAME + _ENTRY_SPEEDUPS
    elif code.types_checked:
        tests = _MESSAGE_TYPES_CHECKED + _NAME + _FIELDS_TYPES_CHECKED
    else:
        tests = _MESSAGE + _NAME + _FIELDS
    body = f"{_CALLER}{textwrap.dedent(code.line).strip()}"
    traced = "return True"
    if code.line_traced is not None:
        traced = f"{_TRACE}{_CALLER}{textwrap.dedent(code.line_traced).strip()}"
    merge = ""
    if bound or defaults:
        merge = _MERGE.format(
            defaults="**_defaults, " if defaults else "", bound="**self._bound, " if bound else ""
        )
    keywords = "kw" if merge else "fields"
    writes = _indent(
        "".join(
            _WRITE.format(write=_indent(c.write, 1), index=i) for i, c in enumerate(code.writes)
        ),
        2,
    )
    entry = _ENTRY_PYTHON.format(
        tests=_indent(tests, 0), body=_indent(body, 1), traced=_indent(traced, 1)
    )
    if SPEEDUPS:
        known_traced = "return True"
        if code.line_traced is not None:
            known_traced = (
                _TRACE.replace("_get_current()", "_ctx") + textwrap.dedent(code.line_traced).strip()
            )
        entry = _ENTRY_C.format(
            known=_indent(textwrap.dedent(code.line).strip(), 2),
            known_traced=_indent(known_traced, 2),
            python=_indent(entry, 1),
        )
    source = _TEMPLATE.format(
        keywords=keywords,
        merge=_indent(merge, 3) if merge else "",
        setup=_indent(code.setup, 1),
        declare=f"        nonlocal {state}" if state else "",
        entry=_indent(entry, 3),
        writes=writes,
    )
    namespace = {**code.namespace, **core}
    if SPEEDUPS:
        entry_test = speedups.EntryTest
        assert entry_test is not None  # SPEEDUPS: the module is there
        namespace["_entry"] = entry_test(
            names, keys, safe, files, functions, _current, time.time_ns
        )
        tests = (_MESSAGE + _FIELDS).replace("return True", "return False")
        exec(_ADMIT_ENTRY.format(tests=_indent(tests, 1)), namespace)
    generic = _Generic(_GENERIC.format(keywords=keywords))
    tree = ast.fix_missing_locations(generic.visit(ast.parse(source)))
    exec(compile(tree, "<llmlog entry function>", "exec"), namespace)
    method: Method = namespace["_factory"]()
    name = Severity(severity).name.lower()
    method.__name__, method.__qualname__ = name, f"Logger.{name}"
    method.__doc__ = f"Log at {Severity(severity).name} (generated: see llmlog.fastpath)."
    return method
