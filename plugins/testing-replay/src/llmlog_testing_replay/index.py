"""The recorded LM calls of one or more traces, indexed for replay.

A trace of any installed format is read through that format's reader (the trace-format plugins'
``read``, as ``llmlog view`` and ``llmlog report`` read them); each ``llm_call`` event becomes a
:class:`RecordedCall`. The calls are indexed once, at load, by their **key**:

* the model's name (the part after the provider: ``openai/gpt-4o-mini`` and ``gpt-4o-mini`` are
  one model, as the ``rlm`` format keeps no provider);
* the messages, exactly (roles, contents and any other key of each message), as JSON with sorted
  keys; a call made with a plain prompt (``lm("hi")``) is the one user message ``hi``.

Among the calls of one key, the **parameters** that change the answer decide (``params`` of the
``llm_call``: the LM's ``kwargs`` and the call's, such as ``temperature``, ``max_tokens``, ``n``,
``rollout_id``, ``tools``, ``response_format``, ``stop``, ``seed``; never the transport settings
``api_key``, ``api_base``, ``base_url``, ``headers``, ``timeout``, ``num_retries``, ``cache``):
every parameter the live request sets must have been recorded with the same value (one it does
not set takes the recorded value), or, with ``exact_params``, the two sets must be equal.

The same request recorded several times (a loop, ``Evaluate(num_threads=…)``, ``dspy.Parallel``,
concurrent ``acall`` s) is a queue in recorded order: each live request takes the first recorded
call of its key not taken yet, under one lock, so answers are deterministic per key whatever
the threads' order.

What cannot be replayed is an error, never a wrong answer: a request no recorded call matches
(:class:`NotRecorded`: the closest recorded call and a short unified diff of the messages and
parameters), a key whose recorded calls are used up (:class:`NotRecorded` too, saying how many
were recorded), and a recorded call whose messages, parameters or response were redacted or
capped when written (``[REDACTED…]``, ``…[truncated N chars]``) or written without content
(``[trace] content = false``): :class:`Unreplayable`, naming the call and the marker.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import orjson

from llmlog.ext import (
    ComponentKind,
    PluginHost,
    TraceEvent,
    TraceInputError,
    compression_of,
    decompressed_copy,
    global_dispatcher,
    plugin_host,
    recognising_format,
    serializer,
    shown_as,
    spooled,
    trace_first_line,
)

__all__ = [
    "NotRecorded",
    "RecordedCall",
    "ReplayError",
    "ReplayIndex",
    "Unreplayable",
    "canonical",
    "model_name",
    "request_messages",
]

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
#: What llmlog's sanitizer writes in place of what it removed: a call holding one cannot be
#: replayed (its request would never match, or its response is not what the model said).
_MARKERS = (
    ("[REDACTED", "redacted"),
    ("…[truncated ", "capped (max_string_length)"),
    ("<truncated: ", "capped (max_items)"),
    ("<max depth>", "capped (max depth)"),
)
#: Lines of a diff shown in an error.
MAX_DIFF_LINES = 40
#: Recorded calls compared in full (difflib) when looking for the closest one.
_CLOSEST_CANDIDATES = 16


class ReplayError(LookupError):
    """A request that a replay cannot answer."""


class NotRecorded(ReplayError):
    """No recorded call matches the request; the message names the closest recorded call and
    shows the difference. ``closest`` is that call (``None`` when the trace has none)."""

    def __init__(self, message: str, closest: RecordedCall | None = None) -> None:
        super().__init__(message)
        self.closest = closest


class Unreplayable(ReplayError):
    """The matching (or closest) recorded call was redacted, capped or written without content:
    its answer is not what the model said, so it is not given."""


def canonical(value: Any) -> str:
    """``value`` as JSON text with sorted keys: what the recorder would have written of it (an
    object JSON cannot hold goes through llmlog's serializer, as when it was recorded)."""
    try:
        return orjson.dumps(value, default=serializer.default, option=_SORTED).decode()
    except (TypeError, orjson.JSONEncodeError):
        return serializer.dumps(value, sort_keys=True).decode()


def model_name(model: str) -> str:
    """The model without its provider prefix (``openai/gpt-4o-mini`` → ``gpt-4o-mini``), as the
    DSPy integration records it."""
    _, slash, name = model.partition("/")
    return name if slash and name else model


def request_messages(prompt: Any, messages: Any) -> list[Any]:
    """The messages of a request: ``messages``, or the one user message of a plain prompt."""
    if isinstance(messages, list):
        return messages
    return [{"role": "user", "content": "" if prompt is None else prompt}]


@attrs.define(eq=False)
class RecordedCall:
    """One recorded ``llm_call``: what a replay answers with, and where it came from."""

    model: str
    messages: list[Any]
    params: dict[str, Any]
    response: str
    #: The recorded ``usage`` (counts, detail counts, ``cost`` when it was known).
    usage: dict[str, Any]
    provider: str = ""
    #: ``file: call N`` (its place among the file's LLM calls, from 1).
    where: str = ""
    #: Why it cannot be replayed (``None`` when it can).
    unusable: str | None = None
    messages_key: str = ""
    params_text: dict[str, str] = attrs.Factory(dict)

    @property
    def cost(self) -> float | None:
        """The recorded cost in USD, ``None`` when it was unknown."""
        cost = self.usage.get("cost")
        return float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None


def _unusable(messages_key: str, params_text: str, response: str) -> str | None:
    for where, text in (
        ("messages", messages_key),
        ("params", params_text),
        ("response", response),
    ):
        for marker, what in _MARKERS:
            if marker in text:
                return f"its {where} were {what} when recorded ({marker!r}…)"
    return None


def call_of(data: Mapping[str, Any], where: str) -> RecordedCall:
    """A :class:`RecordedCall` from an ``llm_call`` event's data."""
    raw_messages = data.get("messages")
    prompt = data.get("prompt")
    params_raw = data.get("params")
    params = dict(params_raw) if isinstance(params_raw, Mapping) else {}
    response = data.get("response")
    usage = data.get("usage")
    messages = request_messages(prompt, raw_messages)
    messages_key = canonical(messages)
    params_text = {str(k): canonical(v) for k, v in params.items()}
    call = RecordedCall(
        model=model_name(str(data.get("model") or "")),
        messages=messages,
        params=params,
        response=response if isinstance(response, str) else "",
        usage=dict(usage) if isinstance(usage, Mapping) else {},
        provider=str(data.get("provider") or ""),
        where=where,
        messages_key=messages_key,
        params_text=params_text,
    )
    if raw_messages is None and prompt is None:
        call.unusable = "it was recorded without content ([trace] content = false)"
    elif not isinstance(response, str):
        call.unusable = "it was recorded without its response"
    elif isinstance(params.get("n"), int) and params["n"] > 1:
        call.unusable = f"it asked for n={params['n']} completions (only one is recorded)"
    else:
        call.unusable = _unusable(messages_key, canonical(params), response)
    return call


class _Slot:
    """The recorded calls of one key, in recorded order, and which of them were taken."""

    __slots__ = ("calls", "taken")

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self.taken: list[bool] = []


class ReplayIndex:
    """Recorded calls indexed by key (see the module): :meth:`load` reads trace files,
    :meth:`take` answers a live request. Thread-safe; one index may serve several ReplayLMs."""

    def __init__(self, calls: Iterable[RecordedCall] = (), sources: Sequence[str] = ()) -> None:
        self.calls: list[RecordedCall] = []
        self.sources = list(sources)
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._by_model: dict[str, list[RecordedCall]] = {}
        self._lock = threading.Lock()
        #: Recorded calls left out because they failed (their span ended with an error).
        self.failed = 0
        for call in calls:
            self.add(call)

    def add(self, call: RecordedCall) -> None:
        """Index one more recorded call (after those of its key already indexed)."""
        with self._lock:
            self.calls.append(call)
            slot = self._slots.get((call.model, call.messages_key))
            if slot is None:
                slot = self._slots[(call.model, call.messages_key)] = _Slot()
            slot.calls.append(call)
            slot.taken.append(False)
            self._by_model.setdefault(call.model, []).append(call)

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        host: PluginHost | None = None,
    ) -> ReplayIndex:
        """Index every ``llm_call`` of the trace files ``paths`` (in order), each read by the
        installed trace format that recognises it.

        :raises ReplayError: a file that cannot be read or is no trace of an installed format
            (``file:line: what was expected``, as the readers say it).
        """
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        index = cls(sources=[str(p) for p in paths])
        for path in paths:
            index._add_events(_events(Path(path), host), str(path))
        return index

    @classmethod
    def from_events(cls, events: Iterable[TraceEvent], source: str = "<events>") -> ReplayIndex:
        """Index the ``llm_call`` events of ``events`` (a trace already in memory)."""
        index = cls(sources=[source])
        index._add_events(events, source)
        return index

    def _add_events(self, events: Iterable[TraceEvent], source: str) -> None:
        # A call whose span ended with an error and that has no response never answered (a
        # timeout, a rate limit that DSPy retried): it is left out, so the retry's answer is the one its request gets. Its span
        # ends after the llm_call event, so the calls are indexed once the events are read.
        calls: list[tuple[str | None, Mapping[str, Any]]] = []
        failed: set[str] = set()
        for event in events:
            if event.type == "llm_call":
                calls.append((event.span_id, event.data))
            elif event.type == "span" and event.data.get("error") and event.span_id:
                failed.add(event.span_id)
        for number, (span, data) in enumerate(calls, start=1):
            # No response and its span failed: the call itself failed (a call that answered in a
            # span that failed later, its answer being the cause, is kept).
            if span is not None and span in failed and not data.get("response"):
                self.failed += 1
                continue
            self.add(call_of(data, f"{source}: call {number}"))

    # -- answering -------------------------------------------------------------------------------

    def models(self) -> list[str]:
        """The models of the recorded calls, in order of first appearance."""
        return list(self._by_model)

    def take(
        self,
        model: str,
        messages: list[Any],
        params: Mapping[str, Any],
        *,
        exact_params: bool = False,
        exhausted: str = "error",
    ) -> RecordedCall:
        """The recorded call answering this request, taken from its key's queue.

        :param model: the model (a provider prefix is ignored).
        :param messages: the request's messages (see :func:`request_messages`).
        :param params: the request's parameters that change the answer.
        :param exact_params: the recorded parameters must equal ``params`` (otherwise the
            parameters ``params`` sets must have been recorded with the same values).
        :param exhausted: ``"error"`` (default): a request made more times than it was recorded
            is :class:`NotRecorded`; ``"repeat"``: it gets the last recorded answer again.
        :raises NotRecorded: no recorded call matches (the closest one and the difference).
        :raises Unreplayable: the matching call was redacted, capped or has no content.
        """
        name = model_name(model)
        key = canonical(messages)
        wanted = {str(k): canonical(v) for k, v in params.items()}
        slot = self._slots.get((name, key))
        if slot is None:
            self._refuse_if_redacted(name, messages, key)
            raise self._not_recorded(name, messages, key, wanted)
        with self._lock:
            matching = [
                i for i, call in enumerate(slot.calls) if _params_match(call, wanted, exact_params)
            ]
            for i in matching:
                if not slot.taken[i]:
                    slot.taken[i] = True
                    call = slot.calls[i]
                    break
            else:
                call = None
        if call is None:
            if not matching:
                # parameters recorded redacted or capped cannot be compared: refused as such,
                # not reported as a difference the user would chase
                spoiled = next((c for c in slot.calls if c.unusable is not None), None)
                if spoiled is not None:
                    raise Unreplayable(f"{spoiled.where}: cannot be replayed: {spoiled.unusable}")
                raise self._params_differ(slot.calls[0], wanted, exact_params)
            if exhausted == "repeat":
                call = slot.calls[matching[-1]]
            else:
                times = len(matching)
                raise NotRecorded(
                    f"this request was recorded {times} time{'' if times == 1 else 's'} "
                    f"({slot.calls[matching[0]].where}) and is now asked once more; record again "
                    "(--llmlog-record), or pass exhausted='repeat' to answer it with the last "
                    "recorded answer",
                    slot.calls[matching[-1]],
                )
        if call.unusable is not None:
            raise Unreplayable(f"{call.where}: cannot be replayed: {call.unusable}")
        return call

    def reset(self) -> None:
        """Make every recorded call available again (a new run of the same program)."""
        with self._lock:
            for slot in self._slots.values():
                slot.taken = [False] * len(slot.calls)

    def remaining(self) -> list[RecordedCall]:
        """The recorded calls not taken yet, in recorded order."""
        with self._lock:
            left = {
                id(c)
                for s in self._slots.values()
                for c, t in zip(s.calls, s.taken, strict=True)
                if not t
            }
        return [c for c in self.calls if id(c) in left]

    # -- errors ----------------------------------------------------------------------------------

    def _refuse_if_redacted(self, name: str, messages: list[Any], key: str) -> None:
        """A request whose messages, redacted as llmlog redacts now, are a recorded call's: that
        call was recorded redacted, and cannot be told apart from others redacted alike."""
        try:
            cleaned = canonical(global_dispatcher().sanitizer.value(messages))
        except Exception:  # no configuration in force: nothing to compare with
            return
        if cleaned == key:
            return
        slot = self._slots.get((name, cleaned))
        if slot is not None:
            call = slot.calls[0]
            raise Unreplayable(
                f"{call.where}: this request was recorded with its messages redacted; it "
                f"cannot be replayed ({call.unusable or 'redacted when recorded'}). Record "
                "tests' traces with redaction off for their content, or keep secrets out of "
                "prompts"
            )

    def _not_recorded(
        self, name: str, messages: list[Any], key: str, wanted: dict[str, str]
    ) -> ReplayError:
        candidates = self._by_model.get(name) or self.calls
        if not candidates:
            return NotRecorded(
                f"no LLM call was recorded in {', '.join(self.sources) or 'the trace'}"
            )
        closest = _closest(candidates, key)
        about = "" if closest.model == name else f" (model {closest.model!r}, asked {name!r})"
        text = (
            f"LM request not recorded in {', '.join(self.sources)}; the closest recorded call is "
            f"{closest.where}{about}. Difference (- recorded, + asked):\n"
            + _diff(closest.messages, messages)
        )
        params = _params_diff(closest, wanted, exact=False)
        if params:
            text += "\n" + params
        if closest.unusable is not None:
            text += f"\n(that call could not be replayed anyway: {closest.unusable})"
            return Unreplayable(text)
        return NotRecorded(text, closest)

    def _params_differ(
        self, closest: RecordedCall, wanted: dict[str, str], exact: bool
    ) -> NotRecorded:
        return NotRecorded(
            f"LM request recorded with other parameters: {closest.where} has the same model and "
            f"messages.\n{_params_diff(closest, wanted, exact)}",
            closest,
        )


def _params_match(call: RecordedCall, wanted: dict[str, str], exact: bool) -> bool:
    recorded = call.params_text
    if exact and recorded.keys() != wanted.keys():
        return False
    return all(recorded.get(k) == v for k, v in wanted.items())


def _params_diff(call: RecordedCall, wanted: dict[str, str], exact: bool) -> str:
    lines = []
    for k in sorted(set(wanted) | (set(call.params_text) if exact else set())):
        recorded, asked = call.params_text.get(k, "(not set)"), wanted.get(k, "(not set)")
        if recorded != asked:
            lines.append(f"  {k}: recorded {recorded}, asked {asked}")
    return "parameters that differ:\n" + "\n".join(lines) if lines else ""


def _closest(candidates: list[RecordedCall], key: str) -> RecordedCall:
    # A cheap score first (shared prefix and suffix of the messages' JSON, in C), then difflib on
    # the few best: the error path of a 10,000-call trace stays well under a second.
    def rough(call: RecordedCall) -> int:
        other = call.messages_key
        # commonprefix compares strings character by character: what is wanted here.
        prefix = len(os.path.commonprefix([key, other]))  # noqa: RUF071
        suffix = len(os.path.commonprefix([key[::-1], other[::-1]]))  # noqa: RUF071
        return min(prefix + suffix, len(key), len(other)) - abs(len(key) - len(other)) // 4

    best = sorted(candidates, key=rough, reverse=True)[:_CLOSEST_CANDIDATES]
    return max(best, key=lambda c: difflib.SequenceMatcher(None, key, c.messages_key).ratio())


def _lines(messages: list[Any]) -> list[str]:
    lines: list[str] = []
    for i, message in enumerate(messages):
        if isinstance(message, Mapping):
            role = message.get("role", "?")
            content = message.get("content")
            extra = {k: v for k, v in message.items() if k not in ("role", "content")}
        else:
            role, content, extra = "?", message, {}
        text = content if isinstance(content, str) else canonical(content)
        lines.append(f"[{i}] {role}:" + (f" {canonical(extra)}" if extra else ""))
        lines.extend(f"    {line}" for line in text.splitlines() or [""])
    return lines


def _diff(recorded: list[Any], asked: list[Any]) -> str:
    diff = list(
        difflib.unified_diff(_lines(recorded), _lines(asked), "recorded", "asked", lineterm="", n=1)
    )
    if len(diff) > MAX_DIFF_LINES:
        diff = [*diff[:MAX_DIFF_LINES], f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)"]
    return "\n".join(diff) if diff else "  (the same messages)"


def _events(path: Path, host: PluginHost | None) -> Iterator[TraceEvent]:
    """The events of the recorded trace at ``path`` (a pipe read through a private copy, a
    rotated part the file output compressed through a decompressed one); every message names
    ``path``."""
    formats = (host or plugin_host()).components(ComponentKind.TRACE_FORMAT)
    with contextlib.ExitStack() as stack:
        copies: list[Path] = []
        try:
            source = stack.enter_context(spooled(path))
            copies.append(source)
            kind = compression_of(source)
            first = trace_first_line(source, kind)
        except TraceInputError as exc:
            raise ReplayError(shown_as(str(exc), path, *copies)) from None
        if not first.strip():
            raise ReplayError(f"{path}:1: empty file, not a trace")
        found = recognising_format(first, formats)
        read = found[1].support.read if found is not None else None
        if read is None:
            known = ", ".join(sorted(formats)) or "none installed"
            raise ReplayError(f"{path}:1: not a trace in any installed format ({known})")
        try:
            if kind is not None:
                source = stack.enter_context(decompressed_copy(source, kind))
                copies.append(source)
        except TraceInputError as exc:
            raise ReplayError(shown_as(str(exc), path, *copies)) from None
        try:
            yield from read(source, skipped=None)
        except ReplayError:
            raise
        except ValueError as exc:  # the readers' errors name file:line
            raise ReplayError(shown_as(str(exc), path, *copies)) from None
        except OSError as exc:
            raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}") from None
