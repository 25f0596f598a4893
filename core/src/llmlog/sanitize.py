"""Secure-by-default treatment of what gets logged: secret redaction and size caps.

Applied once per entry in the core, before any output sees it, so every output (third-party ones
and the flight recorder included) receives the same cleaned record. docs/redaction.md is the
user's guide.

* **Secrets by key**: a field (at any depth of nested mappings, sequences and objects) whose name
  is a secret one by :func:`llmlog.detect.is_secret_name` (``api_key``, ``Authorization``,
  ``x-api-key``, ``client_secret``, ``github_token``, ``aws_access_key_id``, ``dsn``...) or
  matches a ``redact_keys`` pattern has its value replaced by ``"[REDACTED]"``; so has the second
  item of a pair whose first is such a name (headers given as ``[("Authorization", "Bearer x")]``).
  Token *counts* (``max_tokens``, ``prompt_tokens``, ``token_count``) are not secrets and are kept.
* **Secrets by value**: every string (message, field values at any depth, exception text, span
  inputs, outputs and errors) is scanned by :class:`llmlog.detect.SecretScanner`; only the secret
  part is replaced, by a marker naming its kind: ``key [REDACTED:openai-key] used``.
* **Size caps**: a string longer than ``max_string_length`` characters keeps its head and gets an
  explicit marker, ``…[truncated 123456 chars]``; ``bytes`` become text the same way
  (``…[truncated N bytes]``), and so does what other objects turn into (``repr()`` included).
* **Bounded work**: a walk visits at most ``max_values`` values per call (the rest is replaced by
  a ``"<truncated: N more values>"`` marker), stops at 32 levels (``"<max depth>"``), and a
  container met again inside itself becomes ``"<cycle>"``: a structure that refers to itself any
  number of times costs what it holds, never more.
* Dataclasses, attrs classes, pydantic models and other objects become the mappings or text the
  serializer would write (:meth:`llmlog.serialize.Serializer.default`), so what they hold is
  redacted and capped too.

The result is still made of JSON-able values and strings, so JSON stays valid.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from llmlog import speedups
from llmlog.detect import PLAIN, SECRET, SHAPED, SecretScanner, is_credential_shaped, name_class
from llmlog.serialize import safe_repr, serializer

__all__ = [
    "CYCLE",
    "DEFAULT_MAX_VALUES",
    "MAX_DEPTH",
    "REDACTED",
    "Sanitizer",
    "key_pattern",
]

# Sanitizer.fields's common case (every key known plain, every value a string seen clean, a number
# or a dict or list of such) in one C call, where the core was built with it (llmlog.speedups).
_clean_fields = speedups.clean_fields if speedups.ENABLED else None

REDACTED = "[REDACTED]"
#: Stands for a container found inside itself.
CYCLE = "<cycle>"
#: Stands for what lies deeper than 32 levels.
MAX_DEPTH = "<max depth>"
#: Values one walk visits at most (one entry's fields, one span's inputs...).
DEFAULT_MAX_VALUES = 10_000

_MAX_DEPTH = 32


def key_pattern(pattern: str) -> re.Pattern[str]:
    """One more secret-key pattern (``redact_keys``) as the sanitizer searches keys with it.

    Each is compiled on its own, not joined to the others: a pattern valid alone stays valid
    (``(?i)ssn`` starts with a global flag, which a joined expression allows only at its start;
    ``a|b`` keeps its alternation to itself; ``\\1`` refers to its own group).

    :raises re.error: when ``pattern`` is not a regular expression.
    """
    return re.compile(pattern, re.IGNORECASE)


_SCALARS = frozenset({int, float, bool, type(None)})
# Values orjson writes itself, in a bounded size: kept as they are.
_NATIVE = (datetime.date, datetime.time, datetime.timedelta, uuid.UUID, enum.Enum)
# Strings up to this length found clean are remembered (log messages are mostly literals).
_CLEAN_CACHE_LENGTH = 64
_CLEAN_CACHE_SIZE = 4096
# Longer strings found clean are remembered too, up to this many characters in all: the text
# that comes back at every call of an LLM program (a system prompt, a signature's instructions,
# a pricing note) and the text passed on from one event to the next (an answer in the LLM call,
# then in the parsed outputs and the module's) cost a hash and a comparison, not a scan.
_LONG_CLEAN_CHARS = 1 << 20
# A string over the cap is scanned this far past it, so a secret cut by the cap is still found.
_SCAN_MARGIN = 4096


class _Walk:
    """The state of one walk: values left to visit and the containers being visited."""

    __slots__ = ("budget", "path")

    def __init__(self, budget: int, top: object) -> None:
        self.budget = budget
        self.path = {id(top)}


def _truncated(count: int) -> str:
    return f"<truncated: {count} more values>"


class Sanitizer:
    """Redacts secrets (by key and by value), caps sizes and bounds the work of a walk.
    Construct once; call per entry.

    :param redact: redact at all (keys and values); ``False`` keeps only the size caps.
    :param extra_patterns: more key patterns (``redact_keys``): regular expressions searched
        case-insensitively in each key, each compiled on its own.
    :param max_string_length: the string length cap; 0 for none.
    :param redact_values: scan strings for secret shapes (``redact_values``).
    :param value_patterns: more regular expressions to redact inside strings
        (``redact_patterns``); they apply while ``redact`` is on, even with ``redact_values``
        off.
    :param max_values: values one walk visits at most.
    """

    def __init__(
        self,
        *,
        redact: bool = True,
        extra_patterns: Iterable[str] = (),
        max_string_length: int = 32_768,
        redact_values: bool = True,
        value_patterns: Iterable[str] = (),
        max_values: int = DEFAULT_MAX_VALUES,
    ) -> None:
        self._redact = redact
        self._key_patterns = [key_pattern(p) for p in extra_patterns]
        value_patterns = list(value_patterns)
        self._scanner = (
            SecretScanner(self.key_class, value_patterns, builtin=redact_values)
            if redact and (redact_values or value_patterns)
            else None
        )
        self._builtin_only = redact_values and not value_patterns
        #: The string length cap, or ``None`` for no cap.
        self.limit = self._max = max_string_length if max_string_length > 0 else None
        self._max_values = max(1, max_values)
        self._is_secret: dict[Any, int] = {}
        #: The keys _is_secret holds as PLAIN: fields() tests all of an entry's keys at once.
        self._plain_keys: set[str] = set()
        # Keys classed SHAPED (``signature``): plain for a value that is not credential-shaped.
        self._shaped_keys: set[str] = set()
        self._clean: set[str] = set()
        self._clean_long: set[str] = set()
        self._clean_long_chars = 0

    @classmethod
    def from_settings(cls, settings: Any) -> Sanitizer:
        """The sanitizer the top-level keys of a configuration (``llmlog.config.Settings``:
        ``redact``, ``redact_keys``, ``redact_values``, ``redact_patterns``,
        ``max_string_length``) ask for: log entries and trace sessions use the same."""
        return cls(
            redact=settings.redact,
            extra_patterns=settings.redact_keys,
            max_string_length=settings.max_string_length,
            redact_values=settings.redact_values,
            value_patterns=settings.redact_patterns,
        )

    @property
    def joins_clean(self) -> bool:
        """Whether text joined from strings this sanitizer left unchanged, with only whitespace
        and plain words between them, needs no scan of its own: no ``redact_patterns`` (a
        pattern of the user's may match across the joints), only the built-in shapes or none."""
        return self._scanner is None or self._builtin_only

    def is_secret_key(self, key: object) -> bool:
        """Whether a field named ``key`` can be redacted (``signature`` only when its value looks
        like a credential: :data:`llmlog.detect.SHAPED`)."""
        return self.key_class(key) != PLAIN

    def key_class(self, key: object) -> int:
        """:func:`llmlog.detect.name_class` of ``key``, or SECRET when a ``redact_keys`` pattern
        matches it; PLAIN while redaction is off."""
        if not isinstance(key, str):  # also an unhashable one: a list's first item, say
            return PLAIN
        known = self._is_secret.get(key)
        if known is None:
            if not self._redact:
                return PLAIN
            known = SECRET if any(p.search(key) for p in self._key_patterns) else name_class(key)
            if len(self._is_secret) < 10_000:  # keys come from code, but stay bounded anyway
                self._is_secret[key] = known
                if known == PLAIN:
                    self._plain_keys.add(key)
                elif known == SHAPED:
                    self._shaped_keys.add(key)
        return known

    def text(self, text: str) -> str:
        """One string, secrets in it redacted and capped at the configured length."""
        limit = self._max
        scanner = self._scanner
        if limit is not None and len(text) > limit:
            head = text[: limit + _SCAN_MARGIN]
            if scanner is not None:
                head = scanner.redact(head)
            return f"{head[:limit]}…[truncated {len(text) - limit} chars]"
        if scanner is None:
            return text
        if len(text) <= _CLEAN_CACHE_LENGTH:
            clean = self._clean
            if text in clean:
                return text
            if (
                len(text) < 20
                and self._builtin_only
                and ":" not in text
                and "=" not in text
                and "B" not in text
            ):
                # Too short for a token, and no assignment, URL or Bearer (as in redact):
                # remembered as clean, so the per-entry paths' set test skips this call.
                if len(clean) >= _CLEAN_CACHE_SIZE:
                    clean.clear()
                clean.add(text)
                return text
            out = scanner.redact(text)
            if out is text:
                if len(clean) >= _CLEAN_CACHE_SIZE:
                    clean.clear()
                clean.add(text)
            return out
        clean_long = self._clean_long
        if text in clean_long:
            return text
        out = scanner.redact(text)
        if out is text:
            # Under threads the count is approximate: it only bounds the memory kept.
            size = self._clean_long_chars + len(text)
            if size > _LONG_CLEAN_CHARS:
                clean_long.clear()
                size = len(text)
            self._clean_long_chars = size
            clean_long.add(text)
        return out

    def value(self, value: Any, depth: int = 0) -> Any:
        """Clean one value (strings scanned and capped, containers and objects walked)."""
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind in _SCALARS:
            return value
        return self._value(value, depth, _Walk(self._max_values, None))

    def fields(
        self, mapping: Mapping[Any, Any], depth: int = 0, walk: _Walk | None = None
    ) -> Mapping[Any, Any]:
        """Return ``mapping`` cleaned; the same object when nothing had to change. (``walk`` is
        the walk's own: callers leave it out.)"""
        # One call on the per-entry path: the walk's recursion calls this same function.
        if depth >= _MAX_DEPTH:
            return {MAX_DEPTH: True}
        known = self._is_secret
        clean = self._clean
        if walk is None:
            if len(mapping) >= self._max_values:
                walk = _Walk(self._max_values, mapping)
            elif _clean_fields is not None and type(mapping) is dict:
                # The same test in one C call (llmlog.speedups), nested dicts and lists too (a
                # trace event's messages, usage, params): what the walk below would leave as it
                # is, within its depth and size limits, once the strings not known yet (a new
                # prompt, a new response) are found clean. An answer of no takes the walk.
                unknown: list[str] = []
                visited = _clean_fields(
                    mapping,
                    self._plain_keys,
                    clean,
                    self._clean_long,
                    _MAX_DEPTH - 2 - depth,
                    self._max_values - 1,
                    unknown,
                    self._shaped_keys,
                )
                if visited >= 0 and (not unknown or self._all_clean(unknown)):
                    return mapping
            elif self._plain_keys.issuperset(mapping):
                # The per-entry common case first: every key known plain (one set test), every
                # value a string seen clean or a number. Anything else takes the full walk below.
                for value in mapping.values():
                    kind = type(value)
                    if kind is str:
                        if value not in clean:
                            break
                    elif kind not in _SCALARS:
                        break
                else:
                    return mapping
        changed: dict[Any, Any] | None = None
        done = 0
        plain = self._plain_keys
        # Per-entry path: the common cases (known key, short clean string, number) are inline.
        for key, value in mapping.items():
            if walk is not None:
                walk.budget -= 1
                if walk.budget < 0:
                    return self._cut(mapping, changed, done)
            done += 1
            # A key known plain (the common case) takes one set test; any other is classed.
            if key not in plain:
                secret = known.get(key)
                if secret is None:
                    secret = self.key_class(key)
                if secret and (secret != SHAPED or is_credential_shaped(value)):
                    if value is not REDACTED:
                        if changed is None:
                            changed = dict(mapping)
                        changed[key] = REDACTED
                    continue
            kind = type(value)
            new: Any
            if kind is str:
                if len(value) <= _CLEAN_CACHE_LENGTH and value in clean:
                    continue
                new = self.text(value)
            elif kind in _SCALARS:
                continue
            else:
                if walk is None:
                    walk = _Walk(self._max_values - done, mapping)
                new = self._value(value, depth, walk)
            if new is not value:
                if changed is None:
                    changed = dict(mapping)
                changed[key] = new
        return mapping if changed is None else changed

    _fields = fields

    def _all_clean(self, texts: list[str]) -> bool:
        """Whether each string is left as it is by :meth:`text` (no secret, not too long), which
        remembers the clean ones: a walk that follows a no finds them known."""
        text = self.text
        for value in texts:  # noqa: SIM110 (all() over a generator: a frame more per call)
            if text(value) is not value:
                return False
        return True

    # -- the walk --------------------------------------------------------------------------------

    def _cut(
        self, mapping: Mapping[Any, Any], changed: dict[Any, Any] | None, done: int
    ) -> dict[Any, Any]:
        """The first ``done`` items of ``mapping`` (as cleaned so far) and a marker for the rest."""
        source = changed if changed is not None else mapping
        out: dict[Any, Any] = {}
        for i, (key, value) in enumerate(source.items()):
            if i >= done:
                break
            out[key] = value
        out["<truncated>"] = _truncated(len(mapping) - done)
        return out

    def _value(self, value: Any, depth: int, walk: _Walk) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind in _SCALARS:
            return value
        if kind is dict or kind is list:
            pass  # decoded JSON, the common case: none of the checks below but the walk's
        elif isinstance(value, str):
            return self.text(value)
        elif isinstance(value, (int | float, _NATIVE)):
            return value
        if depth >= _MAX_DEPTH:
            return MAX_DEPTH
        if (
            kind is not dict
            and kind is not list
            and isinstance(value, bytes | bytearray | memoryview)
        ):
            return self._bytes(value)
        if _clean_fields is not None and (kind is dict or kind is list):
            # A nested dict or list clean (a call's usage, its parameters, a message) in one C
            # call, which counts what it visited as the walk would have; its new strings are
            # scanned here.
            unknown: list[str] = []
            visited = _clean_fields(
                value,
                self._plain_keys,
                self._clean,
                self._clean_long,
                _MAX_DEPTH - 2 - depth,
                walk.budget,
                unknown,
                self._shaped_keys,
            )
            if visited >= 0 and (not unknown or self._all_clean(unknown)):
                walk.budget -= visited
                return value
        key = id(value)
        if key in walk.path:
            return CYCLE
        walk.path.add(key)
        try:
            if kind is list:  # before the Mapping test: an ABC's isinstance is a Python call
                return self._sequence(value, depth, walk)
            if kind is dict or isinstance(value, Mapping):
                return self._fields(value, depth + 1, walk)
            if isinstance(value, list | tuple):
                return self._sequence(value, depth, walk)
            if isinstance(value, set | frozenset):
                return self._sequence(list(value), depth, walk)
            return self._object(value, depth, walk)
        except Exception as exc:  # a mapping whose items() raises, a property that raises...
            return f"<unrepresentable {type(value).__qualname__}: {safe_repr(exc)}>"
        finally:
            walk.path.discard(key)

    def _sequence(self, items: list[Any] | tuple[Any, ...], depth: int, walk: _Walk) -> Any:
        if (
            len(items) == 2
            and isinstance(items[1], str | bytes | bytearray)
            and (shape := self.key_class(items[0])) != PLAIN
            and (shape != SHAPED or is_credential_shaped(items[1]))
        ):
            # A (name, value) pair: headers as [("Authorization", "Bearer ...")].
            walk.budget -= 2
            return [items[0], REDACTED]
        cleaned: list[Any] = []
        clean = self._clean
        changed = False
        for i, item in enumerate(items):
            walk.budget -= 1
            if walk.budget < 0:
                cleaned.append(_truncated(len(items) - i))
                return cleaned
            kind = type(item)
            # The common cases inline, as in _fields: a short string known clean, a number.
            if (kind is str and len(item) <= _CLEAN_CACHE_LENGTH and item in clean) or (
                kind in _SCALARS
            ):
                cleaned.append(item)
                continue
            new = self._value(item, depth + 1, walk)
            if new is not item:
                changed = True
            cleaned.append(new)
        return cleaned if changed else items

    def _bytes(self, value: bytes | bytearray | memoryview) -> str:
        """Bytes as the text the serializer would write (UTF-8, other bytes as ``\\xNN``),
        scanned and capped; a cut is counted in bytes."""
        size = value.nbytes if isinstance(value, memoryview) else len(value)
        limit = self._max
        window = size if limit is None else min(size, limit + _SCAN_MARGIN)
        text = bytes(value[:window]).decode("utf-8", "backslashreplace")
        if limit is None or size <= limit:
            return text if self._scanner is None else self._scanner.redact(text)
        keep = len(bytes(value[:limit]).decode("utf-8", "backslashreplace"))
        if self._scanner is not None:
            text = self._scanner.redact(text)
        return f"{text[:keep]}…[truncated {size - limit} bytes]"

    def _object(self, value: Any, depth: int, walk: _Walk) -> Any:
        """Any other object, as the serializer would write it, walked: what it holds is
        redacted and capped like the rest."""
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            as_mapping: Any = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        elif attrs.has(type(value)):
            as_mapping = attrs.asdict(value, recurse=False)
        else:
            as_mapping = serializer.default(value)
            if as_mapping is value:  # a registered function that returns the value itself
                return self.text(safe_repr(value))
        if isinstance(as_mapping, str):
            return self.text(as_mapping)
        return self._value(as_mapping, depth + 1, walk)
