"""Numbers that trace readers decode: counts and durations as safe integers, costs as finite floats.

dspy-go and rlm-go decode token counts, latencies, durations and iteration numbers into Go integers
and drop a line whose number does not fit (or is a string); JavaScript readers lose precision past
2**53; no JSON reader accepts ``NaN`` or ``Infinity``. The trace APIs pass every such number
through these functions, so whatever the program hands over, the line is written and every reader
keeps it. The rule:

- an ``int`` in ``[0, 2**53 - 1]`` is kept as is (the fast path);
- what converts without loss is converted silently: ``bool`` (``True`` is 1), a float (truncated
  toward zero, as Go's ``Milliseconds()`` does), an ASCII numeric string (``"12"``, ``"12.5"``),
  any object with ``__index__`` or ``__float__`` (NumPy scalars, ``Decimal``, ``Fraction``);
  ``None`` is "not measured" and becomes 0;
- NaN and infinities become 0 ("not measured"), a negative number 0, a number above
  ``2**53 - 1`` becomes ``2**53 - 1``, anything else (``"lots"``, a list) 0;
- a cost (:func:`as_cost`) that is not a finite number becomes unknown (left out), never 0.

Each of those last three kinds is reported once per process on stderr
(:func:`llmlog.dispatch.report_problem`) and every case is counted (:func:`adjusted`). None of
these functions raises.
"""

from __future__ import annotations

import math
import operator
from decimal import Decimal
from typing import Final

from llmlog import state

__all__ = ["MAX_SAFE_INT", "adjusted", "as_cost", "as_count", "as_seconds"]

#: The largest integer every reader holds exactly (JavaScript's ``Number.MAX_SAFE_INTEGER``;
#: well inside Go's int64).
MAX_SAFE_INT: Final = 2**53 - 1

_NOT_A_NUMBER: Final = "not a number"
_NOT_FINITE: Final = "NaN or infinite"
_OUT_OF_RANGE: Final = "out of range"


def adjusted() -> dict[str, int]:
    """How many trace numbers were replaced, by kind (``not a number``, ``NaN or infinite``,
    ``out of range``), since the process started."""
    with state.counters_lock:
        return dict(state.number_adjustments)


def _note(kind: str, field: str, value: object, written: object) -> None:
    with state.counters_lock:
        counts = state.number_adjustments
        counts[kind] += 1
        first = counts[kind] == 1
    if first:
        from llmlog.dispatch import report_problem

        try:
            shown = repr(value)
        except Exception:
            shown = f"<{type(value).__name__}>"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        report_problem(
            f"trace field {field!r} was given {shown} ({kind}); written as {written} so that "
            f"every reader keeps the line (reported once; llmlog.numbers.adjusted() counts them)"
        )


def _number(value: object) -> int | float | Decimal | None:
    """``value`` as an int, a float or (for text and decimals, which may hold any size) a
    ``Decimal``; ``None`` if it is not a number. Never raises."""
    try:
        if isinstance(value, float):
            return float(value)
        if isinstance(value, int):  # bool, IntEnum and other subclasses too
            return operator.index(value)
        if isinstance(value, str):
            text = value.strip()
            # Decimal, like int(), would take Arabic-Indic and other Unicode digits.
            return Decimal(text) if text.isascii() and text else None
        if isinstance(value, Decimal):
            return value
        if hasattr(type(value), "__index__"):
            return operator.index(value)  # type: ignore[arg-type]
        if hasattr(type(value), "__float__"):
            try:
                return float(value)  # type: ignore[arg-type]
            except OverflowError:  # a Fraction past a float's range: too large either way
                return Decimal("1e400") if value > 0 else Decimal("-1e400")  # type: ignore[operator]
    except Exception:  # bad text, or an object whose own conversion fails
        return None
    return None


def _finite(number: int | float | Decimal) -> bool:
    if isinstance(number, int):
        return True
    if isinstance(number, Decimal):
        return number.is_finite()
    return math.isfinite(number)


def as_count(value: object, field: str) -> int:
    """``value`` as an integer in ``[0, 2**53 - 1]``, by the module's rule (see above).

    :param field: the field's name, for the report (``"latency_ms"``, ``"usage.prompt_tokens"``).
    """
    if type(value) is int and 0 <= value <= MAX_SAFE_INT:
        return value
    if value is None:
        return 0
    number = _number(value)
    if number is None:
        _note(_NOT_A_NUMBER, field, value, 0)
        return 0
    if not _finite(number):
        _note(_NOT_FINITE, field, value, 0)
        return 0
    # Compared before truncating: int(Decimal("1e999999999")) would build a billion digits.
    if number > MAX_SAFE_INT:
        _note(_OUT_OF_RANGE, field, value, MAX_SAFE_INT)
        return MAX_SAFE_INT
    if number <= -1:
        _note(_OUT_OF_RANGE, field, value, 0)
        return 0
    return int(number)  # toward zero: -0.5 is 0, as Go's Milliseconds() truncates


def as_seconds(value: object, field: str) -> float:
    """``value`` as a finite, non-negative float (a time in seconds, such as RLM's
    ``iteration_time``), by the rule of :func:`as_count` but without truncation: NaN, infinities,
    negative numbers and non-numbers become 0.0, numbers above ``2**53 - 1`` become that."""
    if type(value) is float and 0.0 <= value <= MAX_SAFE_INT:
        return value
    if value is None:
        return 0.0
    number = _number(value)
    if number is None:
        _note(_NOT_A_NUMBER, field, value, 0.0)
        return 0.0
    if not _finite(number):
        _note(_NOT_FINITE, field, value, 0.0)
        return 0.0
    if number > MAX_SAFE_INT:
        _note(_OUT_OF_RANGE, field, value, float(MAX_SAFE_INT))
        return float(MAX_SAFE_INT)
    if number < 0:
        _note(_OUT_OF_RANGE, field, value, 0.0)
        return 0.0
    return min(float(number), float(MAX_SAFE_INT))  # a fraction just below may round up


def as_cost(value: object, field: str) -> float | None:
    """A cost in US dollars as a finite float, or ``None`` (unknown, which is not free): ``None``
    stays unknown; NaN, infinities, non-numbers and amounts past ``2**53 - 1`` in either direction
    become unknown, reported as :func:`as_count` reports, never a ``null`` or ``NaN`` where a reader
    decodes a number. A negative cost (a credit) is kept."""
    if type(value) is float and -MAX_SAFE_INT <= value <= MAX_SAFE_INT:  # False for NaN
        return value
    if value is None:
        return None
    number = _number(value)
    if number is None:
        _note(_NOT_A_NUMBER, field, value, "unknown (left out)")
        return None
    if not _finite(number):
        _note(_NOT_FINITE, field, value, "unknown (left out)")
        return None
    # Compared before converting (a Decimal may be past a float's range), and after (rounding).
    result = float(number) if -2 * MAX_SAFE_INT <= number <= 2 * MAX_SAFE_INT else math.inf
    if not -MAX_SAFE_INT <= result <= MAX_SAFE_INT:
        _note(_OUT_OF_RANGE, field, value, "unknown (left out)")
        return None
    return result
