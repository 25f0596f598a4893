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
from llmlog.detect import is_credential_shaped

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
    """What ``clean`` answers of the fields: flat, every key and string known."""
    for key, value in fields.items():
        if type(key) is not str or key not in keys:
            return False
        if type(value) is str:
            if value not in safe:
                return False
        elif type(value) not in _SCALARS:
            return False
    return True


def reference_tree(
    value: Any,
    keys: set[str],
    safe: set[str],
    safe_long: set[str],
    levels: int,
    budget: int,
    unknown: list[str] | None = None,
    shaped: set[str] | None = None,
) -> int:
    """What ``clean_fields`` answers, as its docstring says it: the keys and items visited, or
    -1; the strings known in neither set appended to ``unknown`` where it is a list."""
    left = [budget]

    def known(value: Any, levels: int) -> bool:
        if type(value) is str:
            if value in safe or value in safe_long:
                return True
            if unknown is not None:
                unknown.append(value)
                return True
            return False
        if type(value) in _SCALARS:
            return True
        if levels <= 0 or type(value) not in (dict, list):
            return False
        if type(value) is dict:
            items = list(value.items())
        else:
            if (
                len(value) == 2
                and isinstance(value[0], str)
                and isinstance(value[1], str | bytes | bytearray)
                and not (type(value[0]) is str and value[0] in keys)
            ):
                return False
            items = [(None, item) for item in value]
        for key, item in items:
            left[0] -= 1
            if left[0] < 0:
                return False
            if type(value) is dict and not plain_key(key, item):
                return False
            if not known(item, levels - 1):
                return False
        return True

    def plain_key(key: Any, item: Any) -> bool:
        if type(key) is not str:
            return False
        if key in keys:
            return True
        return (
            shaped is not None
            and key in shaped
            and type(item) is str
            and not is_credential_shaped(item)
        )

    if type(value) not in (dict, list):
        return -1
    return budget - left[0] if known(value, levels) else -1


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


KNOWN = ["alice", "answer ready", "gpt-4o-mini", "", "user", "attempt", "model", "signature"]
# Credential-shaped or nearly: 16 token characters, 15, one outside the class, non-ASCII.
SHAPES = ["a1b2c3d4e5f6a7b8", "a1b2c3d4e5f6a7b", "a1b2c3d4 e5f6a7b8", "a1b2c3d4é5f6a7b8c"]
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
    st.sampled_from(SHAPES),
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


trees = st.recursive(
    values,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(st.sampled_from([*KNOWN, "api_key"]), texts).map(list),
        st.dictionaries(keys_drawn, inner, max_size=3),
    ),
    max_leaves=12,
)


@needs_c
@settings(max_examples=1000, deadline=None)
@given(
    st.dictionaries(keys_drawn, trees, max_size=4),
    st.integers(0, 6),
    st.integers(0, 30),
    st.data(),
)
def test_clean_fields_answers_what_its_definition_answers(
    fields: dict[Any, Any], levels: int, budget: int, data: st.DataObject
) -> None:
    def strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [s for k, v in value.items() for s in [*strings(k), *strings(v)]]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [str.__str__(value)] if isinstance(value, str) else []

    known = strings(fields)
    keys = set(data.draw(st.sets(st.sampled_from(known))) if known else ())
    safe = set(data.draw(st.sets(st.sampled_from(known))) if known else ())
    safe_long = {text for text in known if data.draw(st.booleans())}
    expected = reference_tree(fields, keys, safe, safe_long, levels, budget)
    assert speedups.clean_fields(fields, keys, safe, safe_long, levels, budget) == expected
    everything = set(known)
    assert speedups.clean_fields(
        fields, everything, everything, set(), levels, budget
    ) == reference_tree(fields, everything, everything, set(), levels, budget)
    listed = [fields, *fields.values()]
    assert speedups.clean_fields(listed, everything, everything, set(), 7, 99) == reference_tree(
        listed, everything, everything, set(), 7, 99
    )
    # The strings known in neither set listed, not refused; the keys classed SHAPED plain for a
    # value not credential-shaped.
    shaped = set(data.draw(st.sets(st.sampled_from(known))) if known else ()) - keys
    found: list[str] = []
    expected_found: list[str] = []
    answer = speedups.clean_fields(fields, keys, safe, safe_long, levels, budget, found, shaped)
    assert answer == reference_tree(
        fields, keys, safe, safe_long, levels, budget, expected_found, shaped
    )
    if answer >= 0:
        assert found == expected_found
    assert speedups.clean_fields(
        fields, keys, safe, safe_long, levels, budget, None, shaped
    ) == reference_tree(fields, keys, safe, safe_long, levels, budget, None, shaped)


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
    if len(args) == 4 and (isinstance(args[2], set) and isinstance(args[3], set)):
        assert speedups.clean_fields(*args[1:], set(), 3, 10) in (0, -1)  # a value of any type
    elif len(args) == 4:
        with pytest.raises(TypeError):
            speedups.clean_fields(*args[1:], set(), 3, 10)
    with pytest.raises(TypeError):
        speedups.clean_fields(*args[:2])
    for wrong in (([], 3, 10), (set(), 3.0, 10), (set(), 3, None), (set(), 2**80, 10)):
        with pytest.raises((TypeError, OverflowError)):
            speedups.clean_fields({}, set(), set(), *wrong)


@needs_c
def test_a_self_referencing_or_deep_tree_is_answered_within_its_limits() -> None:
    keys, safe = {"a", "b"}, {"x"}
    looped: dict[str, Any] = {"a": "x"}
    looped["b"] = [looped]
    assert speedups.clean_fields(looped, keys, safe, set(), 64, 10**9) == -1
    deep: Any = "x"
    for _ in range(100_000):
        deep = {"a": [deep]}
    assert speedups.clean_fields(deep, keys, safe, set(), 10**6, 10**9) == -1
    wide = {"a": [["x"] * 100] * 100}
    assert speedups.clean_fields(wide, keys, safe, set(), 5, 10_200) == 10_101
    assert speedups.clean_fields(wide, keys, safe, set(), 5, 10_101) == 10_101
    assert speedups.clean_fields(wide, keys, safe, set(), 5, 10_100) == -1
    assert speedups.clean_fields("x", keys, safe, set(), 5, 10) == -1


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


_SECRET_KEYS = ["user", "attempt", "api_key", "password", "model", "token", "headers", "signature"]
_LONG = "a long prompt that repeats itself, " * 4  # past the short cache: the long one
_hostile = st.one_of(
    values,
    st.sampled_from(["sk-" + "a" * 40, "Bearer abcdefghijklmnop", _LONG, _LONG + "sk-" + "b" * 40]),
)
_nested = st.recursive(
    _hostile,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(st.sampled_from(["Authorization", "user", "x"]), _hostile).map(list),
        st.dictionaries(st.sampled_from(_SECRET_KEYS), inner, max_size=3),
    ),
    max_leaves=10,
)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.one_of(
                st.sampled_from(_SECRET_KEYS),
                st.sampled_from(["user", "api_key"]).map(Shout),
            ),
            _nested,
            max_size=5,
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([5, 12, 10_000]),
    st.sampled_from([40, 100, 32_768]),
)
def test_the_sanitizer_cleans_with_the_c_test_what_it_cleans_without(
    mappings: list[dict[Any, Any]], max_values: int, max_length: int
) -> None:
    """``Sanitizer.fields`` takes its common case in one C call (``clean_fields``, nested dicts
    and lists too): the same results as the walk in Python, for a run of entries that teaches
    both sanitizers alike (each entry cleaned twice, so the second time the caches know it),
    near the value budget and the length cap too."""
    from llmlog import sanitize
    from llmlog.sanitize import Sanitizer

    options = {"max_values": max_values, "max_string_length": max_length}
    with_c, without = Sanitizer(**options), Sanitizer(**options)
    saved = sanitize._clean_fields
    try:
        for mapping in [m for m in mappings for _ in range(2)]:
            sanitize._clean_fields = saved
            got = with_c.fields(dict(mapping))
            sanitize._clean_fields = None
            expected = without.fields(dict(mapping))
            assert got == expected or repr(got) == repr(expected)  # NaN is not equal to itself
    finally:
        sanitize._clean_fields = saved


@needs_c
def test_a_tree_deeper_than_the_walk_goes_is_cut_the_same_with_the_c_test() -> None:
    from llmlog import sanitize
    from llmlog.sanitize import Sanitizer

    deep: Any = "x"
    for _ in range(40):
        deep = {"user": [deep]}
    with_c, without = Sanitizer(), Sanitizer()
    saved = sanitize._clean_fields
    try:
        for _ in range(2):
            sanitize._clean_fields = saved
            got = with_c.fields(deep)
            sanitize._clean_fields = None
            assert got == without.fields(deep) and got is not deep
    finally:
        sanitize._clean_fields = saved


def reference_entry(
    logger: object,
    message: object,
    fields: dict[str, Any],
    sets: dict[str, Any],
    caller: Any,
) -> tuple[str, str, int] | None:
    """What an ``EntryTest`` answers, as its docstring says it, but the time and the context."""
    if logger is not None and type(logger) is not str:
        return None
    if logger and logger not in sets["names"]:
        return None
    if not reference(message, fields, sets["keys"], sets["safe"]):
        return None
    code = caller.f_code
    file = sets["files"].get(code.co_filename)
    if file is None or code.co_qualname not in sets["functions"]:
        return None
    return file, code.co_qualname, caller.f_lineno


def _as_a_method(test: Any, logger: object, message: object, fields: dict[str, Any]) -> Any:
    """The test called as a generated method calls it: its caller is this function's caller."""
    return test(logger, message, fields)


@needs_c
@settings(max_examples=500, deadline=None)
@given(entries(), st.one_of(st.none(), st.sampled_from(["", "app", "db"]), st.just(Shout("app"))))
def test_an_entry_test_answers_what_its_definition_answers(
    entry: tuple[object, dict[str, Any], set[str], set[str]], logger: object
) -> None:
    import contextvars
    import time

    message, fields, keys, safe = entry
    here = sys._getframe()
    var: contextvars.ContextVar[Any] = contextvars.ContextVar("test_ctx", default="ctx")
    for names in (set(), {"app"}):
        for known_site in (False, True):
            files = {here.f_code.co_filename: "test_speedups.py"} if known_site else {}
            functions = {here.f_code.co_qualname} if known_site else set()
            sets = {
                "names": names,
                "keys": keys,
                "safe": safe,
                "files": files,
                "functions": functions,
            }
            test = speedups.EntryTest(names, keys, safe, files, functions, var, time.time_ns)
            before = time.time_ns()
            got, called_at = _as_a_method(test, logger, message, fields), here.f_lineno
            after = time.time_ns()
            expected = reference_entry(logger, message, fields, sets, here)
            if expected is None:
                assert got is None
                continue
            file, function, line, ns, ctx = got
            assert (file, function) == expected[:2] and line == called_at
            assert before <= ns <= after and ctx == "ctx"


@needs_c
def test_an_entry_test_reads_the_context_and_refuses_wrong_arguments() -> None:
    import contextvars
    import gc
    import time

    here = sys._getframe()
    var: contextvars.ContextVar[Any] = contextvars.ContextVar("test_ctx2")
    sets = ({"app"}, {"user"}, {"m", "alice"}, {here.f_code.co_filename: "f.py"})
    test = speedups.EntryTest(*sets, {here.f_code.co_qualname}, var, time.time_ns)
    assert _as_a_method(test, "app", "m", {"user": "alice"}) is None  # no context value at all
    token = var.set("inside")
    try:
        got = _as_a_method(test, "app", "m", {"user": "alice"})
        assert (
            got is not None and got[:2] == ("f.py", here.f_code.co_qualname) and got[4] == "inside"
        )
    finally:
        var.reset(token)
    assert set(map(id, gc.get_referents(test))) >= set(map(id, sets))  # the GC sees what it holds
    with pytest.raises(TypeError):
        test("app", "m", [])  # fields not a dict
    with pytest.raises(TypeError):
        test("app", "m")
    with pytest.raises(TypeError):
        test("app", "m", {}, logger="x")
    for wrong in [
        ([], set(), set(), {}, set(), var, time.time_ns),
        (set(), set(), set(), [], set(), var, time.time_ns),
        (set(), set(), set(), {}, set(), "var", time.time_ns),
        (set(), set(), set(), {}, set(), var, None),
        (set(), set(), set(), {}, set(), var),
    ]:
        with pytest.raises(TypeError):
            speedups.EntryTest(*wrong)
