"""The cattrs converter for configuration: strict types, unknown keys rejected, readable errors.

cattrs on its own would turn ``"10"`` into ``10`` and ``"no"`` into ``True``; configuration is
stricter: a TOML value must already have the right type. Errors are flattened to
``description @ $.path`` lines.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import attrs
import cattrs
import cattrs.gen
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.v import format_exception, transform_error

from llmlog.serialize import big_int_text
from llmlog.severity import SEVERITY_NAMES, Severity, severity_from_name

__all__ = [
    "Bytes",
    "ConfigValueError",
    "FileMode",
    "KeyPattern",
    "Seconds",
    "ValuePattern",
    "converter",
    "parse_duration",
    "parse_severity_strict",
    "parse_size",
    "shown",
    "structure_errors",
]


class ConfigValueError(ValueError):
    """A value of the right type but not an accepted one; its message is shown as is."""


class _Shown(reprlib.Repr):
    """``repr`` for messages: bounded in length and depth whatever the value (a 2,000-deep array
    has no ``repr``: it raises ``RecursionError``; nor has ``10**5000``)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 8
        self.maxstring = self.maxother = 60
        self.maxlong = 60

    def repr_int(self, x: int, level: int) -> str:
        return big_int_text(x) if x.bit_length() > 1024 else super().repr_int(x, level)

    def repr_str(self, x: str, level: int) -> str:
        if len(x) <= 80:
            return repr(x)
        return f"{x[:60]!r}… ({len(x)} characters)"


_SHOWN = _Shown()


def shown(value: Any) -> str:
    """``value`` as error messages quote it: its ``repr`` when short, its head when long."""
    return _SHOWN.repr(value)


def parse_severity_strict(value: Any) -> Severity:
    """A severity from its name; unknown names are an error listing the valid ones."""
    if isinstance(value, str):
        found = severity_from_name(value)
        if found is not None:
            return found
        raise ConfigValueError(
            f"unknown severity {shown(value)}; expected one of {', '.join(SEVERITY_NAMES)}"
        )
    raise ConfigValueError(
        f"expected a severity name (string), got {_type_name(value)} {shown(value)}"
    )


def _type_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)


def _strict(kind: type, label: str) -> Any:
    def structure(value: Any, _: Any) -> Any:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise ConfigValueError(f"expected {label}, got {_type_name(value)} {shown(value)}")
        return value

    return structure


def _path(value: Any, _: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigValueError(f"expected a path (non-empty string), got {shown(value)}")
    return Path(value).expanduser()


converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
converter.register_structure_hook(bool, _strict(bool, "a boolean"))
converter.register_structure_hook(int, _strict(int, "an integer"))
converter.register_structure_hook(float, _strict(float, "a number"))
converter.register_structure_hook(str, _strict(str, "a string"))
converter.register_structure_hook(Severity, lambda v, _: parse_severity_strict(v))
converter.register_structure_hook(Path, _path)


class _Duration:
    """Marks an option in seconds that configuration also accepts as a duration string."""


#: An option in seconds. Configuration takes a number, or a duration string as Go writes them
#: (``time.ParseDuration``): ``"500ms"``, ``"10s"``, ``"1m30s"``, ``"1.5h"``; units ``ns``,
#: ``us`` (or ``µs``), ``ms``, ``s``, ``m``, ``h``.
Seconds = Annotated[float, _Duration]

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_HINT = 'a number of seconds or a duration such as "500ms", "10s", "1m30s"'
_DIGITS = frozenset("0123456789")


def _number_at(text: str, start: int) -> int:
    """The end of the decimal number (``12``, ``1.5``, ``3.``, ``.25``; ASCII digits only) that
    begins at ``start``, or ``start`` when there is none. One pass, no backtracking: the parsers
    below stay linear in the input's length, however hostile the input."""
    end, length = start, len(text)
    while end < length and text[end] in _DIGITS:
        end += 1
    whole = end - start
    if end < length and text[end] == ".":
        fraction_start = end + 1
        end = fraction_start
        while end < length and text[end] in _DIGITS:
            end += 1
        if whole == 0 and end == fraction_start:  # a lone "."
            return start
    return end


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration string (``"1h2m3.5s"``, ``"250ms"``).

    Linear in the length of ``text``; digits are ASCII only (``"٣s"`` is refused).

    :raises ConfigValueError: for anything else, saying what is accepted.
    """
    total, position, length = 0.0, 0, len(text)
    while position < length:
        end = _number_at(text, position)
        if end == position:
            break
        number = text[position:end]
        unit_end = end
        while unit_end < length and text[unit_end] not in _DIGITS and text[unit_end] != ".":
            unit_end += 1
        factor = _UNITS.get(text[end:unit_end])
        if factor is None:
            break
        total += float(number) * factor
        position = unit_end
    if length == 0 or position != length or not math.isfinite(total):
        raise ConfigValueError(f"expected {_DURATION_HINT}, got {shown(text)}")
    return total


class _Size:
    """Marks an option in bytes that configuration also accepts as a size string."""


#: An option in bytes. Configuration takes an integer, or a size string: ``"64KiB"``, ``"10MiB"``,
#: ``"1.5 GB"`` (``B``; ``KB``, ``MB``, ``GB``, ``TB`` in powers of 1000; ``KiB``, ``MiB``,
#: ``GiB``, ``TiB`` in powers of 1024; any case, a space allowed before the unit).
Bytes = Annotated[int, _Size]

_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE_HINT = 'an integer number of bytes or a size such as "64KiB", "10MiB", "1.5 GB"'


def parse_size(text: str) -> int:
    """Bytes in a size string (``"10MiB"``, ``"500 MB"``), rounded down to whole bytes.

    Linear in the length of ``text``; digits are ASCII only.

    :raises ConfigValueError: for anything else, saying what is accepted.
    """
    stripped = text.strip()
    end = _number_at(stripped, 0)
    unit = stripped[end + 1 :] if stripped[end : end + 1] == " " else stripped[end:]
    factor = _SIZE_UNITS.get(unit.lower()) if end > 0 and unit.isascii() else None
    size = float(stripped[:end]) * factor if factor else math.inf
    if not math.isfinite(size):  # no number, an unknown unit, or too many digits
        raise ConfigValueError(f"expected {_SIZE_HINT}, got {shown(text)}")
    return int(size)


def _number_or_text(
    numbers: Any, convert: Callable[[Any], Any], parse: Callable[[str], Any], hint: str
) -> Callable[[Any, Any], Any]:
    """The structure hook of an option given as a number (``numbers``, booleans excluded) or as a
    string ``parse`` reads (a duration, a size)."""

    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, numbers) and not isinstance(value, bool):
            return convert(value)
        if isinstance(value, str):
            return parse(value)
        raise ConfigValueError(f"expected {hint}, got {_type_name(value)} {shown(value)}")

    return structure


converter.register_structure_hook_func(
    lambda t: t == Seconds, _number_or_text(int | float, float, parse_duration, _DURATION_HINT)
)
converter.register_structure_hook_func(
    lambda t: t == Bytes, _number_or_text(int, int, parse_size, _SIZE_HINT)
)


class _FileMode:
    """Marks an integer that holds permission bits."""


#: Permission bits of files a component creates, ``0o000`` to ``0o777``. TOML writes them as an
#: octal integer (``mode = 0o600``), and ``llmlog config show`` prints them so.
FileMode = Annotated[int, _FileMode]


def _file_mode(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigValueError(
            f"expected permission bits (an octal integer such as 0o600), got "
            f"{_type_name(value)} {shown(value)}"
        )
    if not 0 <= value <= 0o777:
        shown_value = f"{value:#o} ({value})" if 0 <= value < 1 << 64 else shown(value)
        raise ConfigValueError(
            f"must be permission bits between 0o000 and 0o777 (write 0o600 in TOML, not 600), "
            f"got {shown_value}"
        )
    return value


def _octal(value: int) -> int:
    from llmlog.tomlout import Octal

    return Octal(value)


converter.register_structure_hook_func(lambda t: t == FileMode, _file_mode)
converter.register_unstructure_hook_func(lambda t: t == FileMode, _octal)


class _KeyPattern:
    """Marks a string that must be a secret-key pattern (a regular expression)."""


class _ValuePattern:
    """Marks a string that must be a secret-value pattern (a regular expression)."""


#: A ``redact_keys`` entry: a regular expression the sanitizer compiles as it is validated here
#: (:func:`llmlog.sanitize.key_pattern`), so a pattern configuration accepts never fails later.
KeyPattern = Annotated[str, _KeyPattern]
#: A ``redact_patterns`` entry: a regular expression searched in every string.
ValuePattern = Annotated[str, _ValuePattern]


def _regex(compile_: Callable[[str], Any]) -> Callable[[Any, Any], str]:
    """The structure hook of a regular expression option: compiled as its user will compile
    it, so a bad one is reported at its own path (``$.redact_keys[1]``)."""

    def structure(value: Any, _: Any) -> str:
        if not isinstance(value, str):
            raise ConfigValueError(f"expected a string, got {_type_name(value)} {shown(value)}")
        try:
            compile_(value)
        except RecursionError:  # re's parser recurses once per nested group
            raise ConfigValueError(
                f"invalid regular expression {shown(value)}: groups nested too deeply"
            ) from None
        except Exception as exc:  # re.error, and OverflowError for a repeat like a{9999999999}
            raise ConfigValueError(f"invalid regular expression {shown(value)}: {exc}") from None
        return value

    return structure


def _key_pattern(pattern: str) -> Any:
    from llmlog.sanitize import key_pattern

    return key_pattern(pattern)


converter.register_structure_hook_func(lambda t: t == KeyPattern, _regex(_key_pattern))
converter.register_structure_hook_func(lambda t: t == ValuePattern, _regex(re.compile))


def _auto_or_names(value: Any, _: Any) -> str | list[str]:
    if value == "auto" or (isinstance(value, list) and all(isinstance(x, str) for x in value)):
        return value  # type: ignore[no-any-return]
    raise ConfigValueError(f'expected "auto" or an array of plugin names, got {shown(value)}')


converter.register_structure_hook_func(lambda t: t == (str | list[str]), _auto_or_names)


def _literal(value: Any, type_: Any) -> Any:
    choices = get_args(type_)
    if value in choices and type(value) in {type(c) for c in choices}:
        return value
    listed = ", ".join(repr(c) for c in choices)
    raise ConfigValueError(f"expected one of {listed}, got {shown(value)}")


def _is_literal(type_: Any) -> bool:
    origin: object = get_origin(type_)
    return origin is Literal


converter.register_structure_hook_func(_is_literal, _literal)


def _table(cl: type) -> Any:
    # An options class comes from a TOML table; anything else (``rotation = "daily"`` where a
    # table is expected) gets a message naming the keys, not cattrs' AttributeError.
    structure: Any = cattrs.gen.make_dict_structure_fn(cl, converter)
    keys = ", ".join(f.name for f in attrs.fields(cl))

    def structure_table(value: Any, type_: Any) -> Any:
        if not isinstance(value, dict):
            raise ConfigValueError(
                f"expected a table (keys: {keys}), got {_type_name(value)} {shown(value)}"
            )
        return structure(value, type_)

    return structure_table


converter.register_structure_hook_factory(attrs.has, _table)


def _describe(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        valid = ", ".join(f.name for f in attrs.fields(exc.cl)) if attrs.has(exc.cl) else ""
        keys = ", ".join(shown(k) for k in sorted(exc.extra_fields))
        return f"unknown key {keys}" + (f"; valid keys: {valid}" if valid else "")
    if isinstance(exc, ConfigValueError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required key is missing"
    if isinstance(exc, ValueError) and type(exc) is ValueError and str(exc):
        return str(exc)  # raised by an attrs validator: its message is the explanation
    return format_exception(exc, type_)


def _validator_errors(data: Any, cls: type, path: str, known: list[str]) -> list[str]:
    # attrs validators run in __init__, which cattrs never reaches when another field fails; run
    # each field's validator on its own value so every problem is reported in one go.
    if not (attrs.has(cls) and isinstance(data, dict)):
        return []
    attrs.resolve_types(cls)  # options classes may use string annotations
    out = []
    for field in attrs.fields(cls):
        if field.name not in data:
            continue
        where = f"{path}.{field.name}"
        if attrs.has(field.type):  # a nested table: its validators too
            out += _validator_errors(data[field.name], field.type, where, known)
            continue
        if field.validator is None:
            continue
        if any(line.endswith(f"@ {where}") for line in known):
            continue
        try:
            value = converter.structure(data[field.name], field.type)
            field.validator(None, field, value)
        except ValueError as exc:
            out.append(f"{_describe(exc, field.type)} @ {where}")
        except Exception:
            continue
    return out


def structure_errors(data: Any, cls: type, path: str) -> tuple[Any, list[str]]:
    """Structure ``data`` into ``cls``; return ``(instance or None, error lines)``."""
    try:
        return converter.structure(data, cls), []
    except cattrs.BaseValidationError as exc:
        errors = list(transform_error(exc, path=path, format_exception=_describe))
        precise = _validator_errors(data, cls, path, errors)
        # A validator that failed inside a class's __init__ is reported by cattrs at the class's
        # path; the run above names the field too: keep only that line.
        vague = set()
        for line in precise:
            message, where = line.rsplit(" @ ", 1)
            vague.add(f"{message} @ {where.rsplit('.', 1)[0]}")
        return None, [line for line in errors if line not in vague] + precise
    except (ValueError, TypeError) as exc:
        return None, [f"{_describe(exc, cls)} @ {path}"]
