"""Secure-by-default treatment of what gets logged: secret redaction and size caps.

Applied once per entry in the core, before any output sees it, so every output (third-party ones
and the flight recorder included) receives the same cleaned record.

* **Redaction** is by key name: a field (at any depth of nested mappings) whose key looks like a
  credential, such as ``api_key``, ``Authorization``, ``x-api-key``, ``client_secret`` or
  ``password``, has its value replaced by ``"[REDACTED]"``. Token *counts* (``max_tokens``,
  ``prompt_tokens``) are not secrets and are kept.
* **Size caps**: a string longer than ``max_string_length`` characters keeps its head and gets an
  explicit marker, ``…[truncated 123456 chars]``. The result is still a string, so JSON stays valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_SECRET_PATTERNS", "REDACTED", "Sanitizer", "key_pattern"]

REDACTED = "[REDACTED]"

#: Key patterns treated as secrets (searched case-insensitively in the key).
DEFAULT_SECRET_PATTERNS: tuple[str, ...] = (
    r"api[-_ ]?key",
    r"secret",
    r"passw(or)?d",
    r"authorization",
    r"^auth$",
    r"(access|refresh|auth|bearer|session|id)[-_ ]?token",
    r"^token$",
    r"cookie",
    r"private[-_ ]?key",
    r"credential",
)

#: The default patterns in one expression (they are written to be joined).
_DEFAULT_SECRET_RE = re.compile("|".join(DEFAULT_SECRET_PATTERNS), re.IGNORECASE)

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


class Sanitizer:
    """Redacts secret-looking keys and caps long strings. Construct once; call per entry."""

    def __init__(
        self,
        *,
        redact: bool = True,
        extra_patterns: Iterable[str] = (),
        max_string_length: int = 32_768,
    ) -> None:
        self._secret_res = (
            [_DEFAULT_SECRET_RE, *(key_pattern(p) for p in extra_patterns)] if redact else []
        )
        #: The string length cap, or ``None`` for no cap.
        self.limit = self._max = max_string_length if max_string_length > 0 else None
        self._is_secret: dict[str, bool] = {}

    def is_secret_key(self, key: object) -> bool:
        """Whether a field named ``key`` is redacted."""
        if not self._secret_res or not isinstance(key, str):
            return False
        known = self._is_secret.get(key)
        if known is None:
            known = any(pattern.search(key) is not None for pattern in self._secret_res)
            if len(self._is_secret) < 10_000:  # keys come from code, but stay bounded anyway
                self._is_secret[key] = known
        return known

    def text(self, text: str) -> str:
        """Cap one string at the configured length, with the truncation marker."""
        limit = self._max
        if limit is None or len(text) <= limit:
            return text
        return f"{text[:limit]}…[truncated {len(text) - limit} chars]"

    def value(self, value: Any, depth: int = 0) -> Any:
        """Clean one value (strings capped, containers walked)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return self.fields(value, depth + 1)
        if isinstance(value, list | tuple):
            if depth >= _MAX_DEPTH:
                return "<max depth>"
            cleaned = [self.value(v, depth + 1) for v in value]
            if all(a is b for a, b in zip(cleaned, value, strict=True)):
                return value
            return cleaned
        return value

    def fields(self, mapping: Mapping[Any, Any], depth: int = 0) -> Mapping[Any, Any]:
        """Return ``mapping`` cleaned; the same object when nothing had to change."""
        if depth >= _MAX_DEPTH:
            return {"<max depth>": True}
        changed: dict[Any, Any] | None = None
        known = self._is_secret
        limit = self._max
        for key, value in mapping.items():
            # Per-entry path: the common cases (known key, short string, number) are inline.
            secret = known.get(key)
            if secret is None:
                secret = self.is_secret_key(key)
            if secret:
                new = REDACTED
            else:
                kind = type(value)
                if kind is str:
                    if limit is None or len(value) <= limit:
                        continue
                    new = self.text(value)
                elif kind in _SCALARS:
                    continue
                else:
                    new = self.value(value, depth)
            if new is not value:
                if changed is None:
                    changed = dict(mapping)
                changed[key] = new
        return mapping if changed is None else changed
