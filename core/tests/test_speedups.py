"""``llmlog._speedups``, the core's optional C module: ``clean`` (the flat logging methods' entry
test) and ``clean_fields`` (the sanitizer's common case) against their definitions in Python for
any message and fields (hostile ones included), the sanitizer with them against the sanitizer
without them, their refusal of wrong arguments, the ``LLMLOG_NO_SPEEDUPS`` switch, and the module
built wherever it can be."""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import sys
import sysconfig
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog import fastpath

try:
    from llmlog import _speedups as speedups
except ImportError:  # built without a C compiler: only the last test runs
    speedups = None  # type: ignore[assignment]

clean: Any = speedups.clean if speedups is not None else None

_SCALARS = (int, float, bool, type(None))


def reference(message: object, fields: dict[str, Any], keys: set[str], safe: set[str]) -> bool:
    """What ``clean`` answers, as its docstring says it: exact types only."""
    if type(message) is not str or message not in safe:
        return False
    return reference_fields(fields, keys, safe)


def reference_fields(fields: dict[str, Any], keys: set[str], safe: set[str]) -> bool:
    """What ``clean_fields`` answers."""
    for key, value in fields.items():
        if type(key) is not str or key not in keys:
            return False
        if type(value) is str:
            if value not in safe:
                return False
        elif type(value) not in _SCALARS:
            return False
    return True


class Shout(str):
    """Equal to a known string and hashed like it, printed otherwise."""

    def __str__(self) -> str:
        return self.upper()


class Rank(enum.IntEnum):
    LOW = 1


class Half(float):
    pass


class Liar:
    """Equal to everything, hashed like a known string: a set lookup must not admit it."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("alice")


KNOWN = ["alice", "answer ready", "gpt-4o-mini", "", "user", "attempt", "model"]
texts = st.one_of(st.sampled_from(KNOWN), st.text(max_size=8))
values = st.one_of(
    texts,
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(KNOWN).map(Shout),
    st.just(Rank.LOW),
    st.just(Half(0.5)),
    st.builds(Liar),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(["\ud800", "\x1b[31m", "a\x00b"]),
)
keys_drawn = st.one_of(
    st.sampled_from(KNOWN), st.text(max_size=6), st.sampled_from(KNOWN).map(Shout)
)


needs_c = pytest.mark.skipif(speedups is None, reason="built without a C compiler")


@st.composite
def entries(draw: st.DrawFn) -> tuple[object, dict[str, Any], set[str], set[str]]:
    """A message and fields, with sets that know most of their strings (as a warm method's
    do), so that the one part that decides the answer is often deep in the entry."""
    message = draw(st.one_of(st.sampled_from(KNOWN), values))
    fields = draw(st.dictionaries(keys_drawn, values, max_size=5))
    keys = {str(k) for k in fields if type(k) is str} | draw(st.sets(st.sampled_from(KNOWN)))
    strings = [v for v in [message, *fields.values()] if isinstance(v, str)]
    safe = {str.__str__(v) for v in strings} | draw(st.sets(st.text(max_size=4), max_size=3))
    # Forget one known string or key now and then: the answer then turns on it.
    if draw(st.booleans()) and keys:
        keys.discard(draw(st.sampled_from(sorted(keys))))
    if draw(st.booleans()) and safe:
        safe.discard(draw(st.sampled_from(sorted(safe))))
    return message, fields, keys, safe


@needs_c
@settings(max_examples=1000, deadline=None)
@given(entries())
def test_clean_answers_what_its_definition_answers(
    entry: tuple[object, dict[str, Any], set[str], set[str]],
) -> None:
    message, fields, keys, safe = entry
    expected = reference(message, fields, keys, safe)
    assert clean(message, fields, keys, safe) is expected
    assert clean(message, fields, frozenset(keys), frozenset(safe)) is expected
    assert speedups.clean_fields(fields, keys, safe) is reference_fields(fields, keys, safe)


@needs_c
def test_the_common_entry_is_clean_and_each_unknown_part_is_not() -> None:
    keys, safe = {"user", "attempt", "model"}, {"answer ready", "alice", "gpt-4o-mini"}
    fields = {"user": "alice", "attempt": 3, "model": "gpt-4o-mini"}
    assert clean("answer ready", fields, keys, safe) is True
    assert clean("answer ready", {}, set(), safe) is True
    for value in (1.5, True, None, 2**70, -(2**70)):
        assert clean("answer ready", {"attempt": value}, keys, safe) is True
    assert clean("other", fields, keys, safe) is False
    assert clean("answer ready", {**fields, "api_key": "alice"}, keys, safe) is False
    assert clean("answer ready", {**fields, "user": "bob"}, keys, safe) is False
    for odd in (Shout("alice"), Rank.LOW, Half(0.5), Liar(), b"alice", ["alice"], object()):
        assert clean("answer ready", {"user": odd}, keys, safe) is False, odd
    assert clean(Shout("answer ready"), fields, keys, safe) is False
    assert clean(Liar(), fields, keys, safe) is False


@needs_c
def test_a_self_referencing_value_or_a_huge_dict_is_answered_without_recursion() -> None:
    keys, safe = {f"k{i}" for i in range(10_000)}, {"m", "v"}
    looped: dict[str, Any] = {}
    looped["k0"] = looped
    assert clean("m", looped, keys, safe) is False
    big = {f"k{i}": "v" for i in range(10_000)}
    assert clean("m", big, keys, safe) is True
    big["k9999"] = "w"
    assert clean("m", big, keys, safe) is False


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("m", {}, set()),
        ("m", {}, set(), set(), set()),
        ("m", [], set(), set()),
        ("m", {}, [], set()),
        ("m", {}, set(), {"a": 1}),
        ("m", {}.keys(), set(), set()),
    ],
)
@needs_c
def test_wrong_arguments_raise_type_error(args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        clean(*args)
    if len(args) == 4:
        with pytest.raises(TypeError):
            speedups.clean_fields(*args[1:])
    with pytest.raises(TypeError):
        speedups.clean_fields(*args[:2])


PROBE = (
    "from llmlog import fastpath, sanitize, speedups; "
    "print(speedups.ENABLED, fastpath.SPEEDUPS, sanitize._clean_fields is not None)"
)


@needs_c
@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "True True True"), ({"LLMLOG_NO_SPEEDUPS": "1"}, "False False False")],
)
def test_the_flat_functions_and_the_sanitizer_use_it_unless_told_not_to(
    env: dict[str, str], expected: str
) -> None:
    base = {k: v for k, v in os.environ.items() if k != "LLMLOG_NO_SPEEDUPS"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    assert getattr(fastpath, "_clean") is clean  # noqa: B009  (not exported)


_CAN_BUILD = shutil.which("cc") is not None and os.path.exists(
    os.path.join(sysconfig.get_paths()["include"], "Python.h")
)


@pytest.mark.skipif(
    not _CAN_BUILD, reason="no C compiler or Python headers: the Python test is used"
)
def test_where_a_c_compiler_is_the_module_is_built() -> None:
    """A build that fell back to Python without a word would pass every other test here."""
    from llmlog import _speedups  # noqa: F401  (raises ImportError when it was not built)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.one_of(
                st.sampled_from(["user", "attempt", "api_key", "password", "model", "token"]),
                st.sampled_from(["user", "api_key"]).map(Shout),
            ),
            st.one_of(values, st.sampled_from(["sk-" + "a" * 40, "Bearer abcdefghijklmnop"])),
            max_size=5,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_sanitizer_cleans_with_the_c_test_what_it_cleans_without(
    mappings: list[dict[Any, Any]],
) -> None:
    """``Sanitizer.fields`` takes its common case in one C call (``clean_fields``): the same
    results as the walk in Python, for a run of entries that teaches both sanitizers alike."""
    from llmlog import sanitize
    from llmlog.sanitize import Sanitizer

    with_c, without = Sanitizer(), Sanitizer()
    saved = sanitize._clean_fields
    try:
        for mapping in mappings:
            sanitize._clean_fields = saved
            got = with_c.fields(dict(mapping))
            sanitize._clean_fields = None
            expected = without.fields(dict(mapping))
            assert got == expected or repr(got) == repr(expected)  # NaN is not equal to itself
    finally:
        sanitize._clean_fields = saved
