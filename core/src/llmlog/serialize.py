"""Turning arbitrary Python values into JSON, without ever raising.

orjson handles the common types natively (str, numbers, dict, list, dataclasses, datetime, UUID,
enums, numpy). Anything else goes through :meth:`Serializer.default`, which tries in order:

1. a function registered for the value's type (or a base class) through the
   ``llmlog_register_serializers`` hook;
2. the value's own ``__llmlog__()`` method;
3. other mappings (as a dict), attrs instances (as a dict), pydantic models (``model_dump``), sets, bytes, exceptions;
4. ``repr()``, and if even that fails, a ``<unrepresentable T>`` marker.

If orjson still refuses the whole value (an integer over 64 bits, a cycle, a non-string key, a
string that is not valid Unicode), the value is converted by a pure-Python walk that fixes those
cases one value at a time, and encoded again: an odd value never costs the rest of the record.

- a string with lone surrogates (``os.fsdecode(b"report\\xff.pdf")``) keeps its text, each lone
  surrogate written as its escape (``report\\udcff.pdf``);
- an integer beyond 64 bits becomes its digits as a string, and one too long to write out
  (``10**5000``) a marker naming its size;
- a container met again inside itself becomes ``"<cycle>"``, and nesting stops at 64 levels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import orjson

__all__ = [
    "Serializer",
    "big_int_text",
    "encoded_event_data",
    "plain_id",
    "retainable",
    "safe_repr",
    "serializer",
    "valid_text",
]

# Non-string keys (OPT_NON_STR_KEYS) would double the cost of every encode; they are rare, so
# they take the slow path instead, which converts them.
_MAX_DEPTH = 64


def safe_repr(value: object) -> str:
    """``repr(value)``, or a marker naming the type when ``__repr__`` itself fails."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__qualname__}>"


def _builtin_conversion(value: object) -> Any:
    method = getattr(type(value), "__llmlog__", None)
    if method is not None:
        return method(value)
    if isinstance(value, Mapping):  # MappingProxyType, ChainMap...: orjson takes only dict
        return dict(value)
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
    dump = getattr(value, "model_dump", None)  # pydantic v2
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return safe_repr(value)


class Serializer:
    """Converts values orjson does not know; one process-wide instance is :data:`serializer`."""

    def __init__(self) -> None:
        self._registered: list[tuple[type, Callable[[Any], Any]]] = []
        self._cache: dict[type, Callable[[Any], Any] | None] = {}

    def register(self, type_: type, function: Callable[[Any], Any]) -> None:
        """Use ``function(value)`` for instances of ``type_`` and its subclasses."""
        self._registered.append((type_, function))
        self._cache.clear()

    def reset(self, registrations: Iterable[tuple[type, Callable[[Any], Any]]] = ()) -> None:
        """Replace every registration (configure does this with the plugins' serializers)."""
        self._registered = list(registrations)
        self._cache.clear()

    def _lookup(self, type_: type) -> Callable[[Any], Any] | None:
        try:
            return self._cache[type_]
        except KeyError:
            pass
        found = None
        for klass in type_.__mro__:
            for registered, function in reversed(self._registered):
                if registered is klass:
                    found = function
                    break
            if found is not None:
                break
        self._cache[type_] = found
        return found

    def default(self, value: object) -> Any:
        """orjson's ``default=`` callback: a JSON-able stand-in for ``value``; never raises."""
        try:
            function = self._lookup(type(value))
            if function is not None:
                return function(value)
            return _builtin_conversion(value)
        except Exception:
            return safe_repr(value)

    def dumps(self, value: object, *, sort_keys: bool = False) -> bytes:
        """Encode ``value`` as compact JSON bytes (keys sorted at every level with
        ``sort_keys``); never raises, and an odd value inside costs only that value."""
        option = orjson.OPT_SORT_KEYS if sort_keys else 0
        try:
            return orjson.dumps(value, default=self.default, option=option)
        except Exception:
            pass
        try:
            return orjson.dumps(self.to_jsonable(value), option=option)
        except Exception as exc:  # only a bug in to_jsonable gets here
            return orjson.dumps(f"<unserializable: {safe_repr(exc)}>")

    def to_jsonable(self, value: object, _depth: int = 0, _seen: set[int] | None = None) -> Any:
        """A copy of ``value`` made only of JSON types: the slow path orjson cannot refuse."""
        if value is None or type(value) is bool or type(value) is float:
            return value  # (orjson refuses a float subclass: it goes through default below)
        if isinstance(value, str):
            return valid_text(value)
        if isinstance(value, int):
            return value if -(2**63) <= value < 2**64 else big_int_text(value)
        if _depth >= _MAX_DEPTH:
            return "<max depth>"
        seen = _seen if _seen is not None else set()
        if isinstance(value, Mapping | list | tuple):
            if id(value) in seen:
                return "<cycle>"
            seen.add(id(value))
            try:
                if isinstance(value, Mapping):
                    return {
                        valid_text(k if isinstance(k, str) else safe_repr(k)): self.to_jsonable(
                            v, _depth + 1, seen
                        )
                        for k, v in value.items()
                    }
                return [self.to_jsonable(v, _depth + 1, seen) for v in value]
            finally:
                seen.discard(id(value))
        try:
            orjson.dumps(value)  # natively supported (datetime, UUID, dataclass, ...)
            return value
        except Exception:
            converted = self.default(value)
            if isinstance(converted, str):
                return valid_text(converted)
            if converted is value:
                return valid_text(safe_repr(value))
            return self.to_jsonable(converted, _depth + 1, seen)


def valid_text(text: str) -> str:
    """``text`` with every lone surrogate written as its escape (``\\udcff``), so it encodes as
    UTF-8; the same object when it already does (the common case, one C-level check)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


#: Integers with more bits than this are written as a size marker instead of their digits.
_MAX_INT_BITS = 1024


def big_int_text(value: int) -> str:
    """An integer JSON readers cannot take as a number, as text: its digits while they are few
    enough to read (up to 1,024 bits, about 308 digits), else a marker naming its size
    (``str(10**5000)`` itself raises: Python caps integer-to-text conversion)."""
    bits = value.bit_length()
    if bits <= _MAX_INT_BITS:
        return str(value)
    sign = "-" if value < 0 else ""
    return f"<{sign}integer of about {int(bits * 0.30103) + 1} digits>"


#: The process-wide serializer used by every formatter.
serializer = Serializer()


_SORTED = orjson.OPT_SORT_KEYS


def encoded_event_data(event: Any) -> bytes:
    """A :class:`~llmlog.TraceEvent` 's ``data`` as JSON, keys sorted at every level (the order
    dspy-go's encoder gives maps), to embed in an encoder's own envelope as an
    ``orjson.Fragment``. Computed once per event and cached on it (``event.encoded_data``): the
    trace file and the flight recorder both embed it; read the cache first on a hot path."""
    encoded: bytes | None = event.encoded_data
    if encoded is None:
        data = event.data
        try:
            encoded = orjson.dumps(data, default=serializer.default, option=_SORTED)
        except Exception:  # non-string keys, a lone surrogate...: the slow path, still sorted
            encoded = serializer.dumps(data, sort_keys=True)
        # A copy of exactly its size: orjson's result keeps the 4 KiB block it was written into,
        # and an event can be kept a while (an exporter's queue holds thousands).
        encoded = event.encoded_data = memoryview(encoded).tobytes()  # retainable(), inline
    return encoded


def retainable(data: bytes) -> bytes:
    """``data`` in a block of its own size, for bytes kept beyond the call that made them.

    ``orjson.dumps`` returns its output in the block it wrote into, at least 4 KiB: kept as is,
    each small result holds 4 KiB (measured with orjson 3.x: ``tracemalloc`` shows 4,097 bytes
    for an 80-byte result).
    """
    return memoryview(data).tobytes()


#: Ids found plain by :func:`plain_id` (bounded): a span's id comes back in its start, its end,
#: its events and as its children's parent; a session's trace id in every event.
PLAIN_IDS: set[str] = set()


def plain_id(value: object) -> bool:
    """Whether ``value`` is a non-empty string of ASCII letters and digits, which JSON writes as
    it is (the ids llmlog makes, DSPy's call ids): an encoder may put it in a line between
    quotes without orjson. Remembered in :data:`PLAIN_IDS`, so a hot path tests
    ``value in PLAIN_IDS or plain_id(value)``."""
    if not (type(value) is str and value.isascii() and value.isalnum()):
        return False
    if len(PLAIN_IDS) >= 4096:
        PLAIN_IDS.clear()
    PLAIN_IDS.add(value)
    return True
