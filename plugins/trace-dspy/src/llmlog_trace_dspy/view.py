"""``llmlog view`` for dspy-format traces: the span tree with durations, tokens, cost and errors.

Like dspy-go's "Trace Timeline", with the span tree dspy-go parsed but never drew. Flags:
``--stats`` (totals and LLM latency min/median/max per model), ``--full`` (every error's full
text), ``--errors`` (only failing spans, their errors in full,
and spans whose code wrote to stderr, with their ancestors), ``--search TEXT`` (spans any of whose
texts mention TEXT: name, inputs, outputs, errors, error events, tool input and output, LLM
prompt, response and model, code, stdout, stderr, locals; exit status 1 and ``no span matches``
when none does, as ``grep``), ``--compact`` (no LLM-call lines), ``--final`` (what the root spans
returned), ``--watch`` (print events as they are appended), ``--export FILE.md`` (the tree as
Markdown), ``--no-color``, ``--lenient`` (skip unreadable lines, counted). ``--iter`` is for RLM
files.

The tree. Every event dspy-go can write is shown: a span is made of the events that carry its
``span_id``; its parent is the ``parent_id`` of its start event, or else of the first of its events
that has one. A span whose start is missing (dspy-go writes ``tool_call`` events with a span id
of their own) is shown under that parent, or as a root; events with no span id are shown together.
A parent that is not in the file (rotated away) makes a root, and so does a parent cycle
(``a → b → a``: the span of the cycle that comes first in the file is drawn as a root, with a
note). Indentation stops growing 32 levels down (deeper spans are drawn there, marked with their
depth), so a deep chain costs a line per span.

Counting LLM calls. Every ``llm_call`` event is one call, as dspy-cli counts them. A ``code_exec``
event may list the calls its code made in ``sub_llm_calls`` (dspy-go's ``EmitCodeExec`` takes them);
such a call may also have been traced as an ``llm_call`` event, in the code_exec's span or a span
below it. An item of ``sub_llm_calls`` is the same call as such an event when their prompt and
response are the same (a prompt given as a list of messages compares as its contents joined), each
event standing for at most one item of a list; only the items with no such event are counted, as
extra calls. So a call traced both ways is counted once, and a call known only from the list is
counted too.

Errors. Each distinct error is shown once, numbered (``E1``) on the span where it arose: its first
line (with the exception's type, from the span's ``error`` event), the rest of its text only with
``--full`` or ``--errors``, under the span with real line breaks, each line escaped. A span that
failed with its child's error (an exception passing up through modules) says ``failed: the error
below``; a span failing with an error already shown says ``E1 again (3rd time)``; an error event
that repeats its span's error is not printed again. Where errors repeat or differ (an
``Evaluate`` run), an index above the totals lists each with how many spans it failed.

Evaluate runs. A span whose end has a DSPy ``Evaluate`` run's ``evaluation`` (score and counts)
is followed by its score and counts and a compact table of its example spans (those whose
``evaluation`` has an ``index``): index, pass/FAIL/ERROR, the metric's value, an excerpt of the
inputs and of the prediction, the feedback or the error's first line (a repeated error points at
the first example with it); the first 20 rows, all with ``--full``, the examples that did not
pass with ``--errors``. Each example's span line says its result. The tree follows, unchanged.

Values inside ``data`` are read as dspy-go's viewer reads them: a value of an unexpected type is
ignored (a duration that is not a number is unknown, tokens that are not numbers count 0) or, for
names and texts, shown as compact JSON; never an error. Every text from the file, the file's name
included, is escaped before it reaches the terminal or the Markdown export.
"""

from __future__ import annotations

import argparse
import io
import os
import re
from pathlib import Path
from typing import Any, TextIO

import attrs
import orjson

from llmlog.ext import (
    CYAN,
    DIM,
    GREEN,
    RED,
    USAGE_DETAIL_FIELDS,
    USAGE_DETAIL_LABELS,
    Paint,
    TraceEvent,
    TraceEventType,
    ViewError,
    escape,
    escape_lines,
    export_target,
    follow,
    format_cost,
    paint_for,
    serializer,
    write_private_text,
)
from llmlog_trace_dspy.format import TraceReadError, loads, parse_line
from llmlog_trace_dspy.tree import (
    NO_SPAN,
    Call,
    Node,
    Trace,
    call_of,
    load_tree,
    mentions,
    ms_text,
    stream_totals,
    text_of,
)

__all__ = ["detect", "view"]

_SESSION, _SPAN, _LLM = TraceEventType.SESSION, TraceEventType.SPAN, TraceEventType.LLM_CALL
_MODULE, _CODE, _TOOL = TraceEventType.MODULE, TraceEventType.CODE_EXEC, TraceEventType.TOOL_CALL
_ERROR = TraceEventType.ERROR
_TYPES = frozenset(t.value for t in TraceEventType)
#: Levels of indentation drawn; deeper spans are drawn at this depth with a depth marker.
_MAX_INDENT = 32


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def detect(first_line: bytes) -> bool:
    """Whether a file starting with ``first_line`` is a dspy-format trace; never raises."""
    try:
        record = loads(first_line)
        return (
            isinstance(record, dict)
            and isinstance(record.get("type"), str)
            and record["type"] in _TYPES
            and "trace_id" in record
        )
    except Exception:  # whatever the line holds, the answer is "not mine"
        return False


# -- output ----------------------------------------------------------------------------------------


def view(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    """Print the trace at ``path``; returns the exit status."""
    # Another format's flag (RLM's --iter, when that format is installed), not this one's.
    if getattr(args, "iter", None) is not None:
        raise ViewError("--iter N selects an iteration of an RLM file; this is a dspy trace")
    export = export_target(args)
    if args.watch:
        return _watch(path, args, out)
    if export is not None:
        buffer = io.StringIO()
        args.no_color = True
        status = _tree(path, args, buffer)
        body = buffer.getvalue()
        # A fence longer than any run of backticks in the text, so nothing in it can end the block.
        fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", body)), default=0))
        write_private_text(export, f"# Trace `{escape(path.name)}`\n\n{fence}text\n{body}{fence}\n")
        out.write(f"{escape(str(export))}: the trace tree written as Markdown\n")
        return status
    return _tree(path, args, out)


def _header(session: dict[str, Any], path: Path, out: TextIO) -> None:
    out.write(f"Trace {escape(text_of(session.get('trace_id')) or '?')} in {escape(str(path))}")
    if session.get("start_time"):
        out.write(f", started {escape(text_of(session['start_time']))}")
    out.write("\n")


def _tree(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    if args.stats:
        return _stats(path, args, out)
    paint = paint_for(args, out)
    trace = load_tree(path, args.lenient)
    if args.final:
        return _final(trace, out)
    _header(trace.session, path, out)
    search = args.search.lower() if args.search else None
    wanted: set[str] | None = None
    if args.errors or search is not None:
        wanted = set()
        for node in trace.order:
            hit = (not args.errors or node.error is not None or node.attention) and (
                search is None or search in node.title.lower() or mentions(node.text, search)
            )
            if hit:
                _with_ancestors(node, wanted)
        if not wanted:
            if search is not None:
                scope = " among the failing spans" if args.errors else ""
                out.write(f"no span matches {escape(repr(args.search))}{scope}\n")
                return 1
            out.write("no span failed\n")
    errors = _Errors(full=bool(args.errors or getattr(args, "full", False)))
    _draw(trace, wanted, args.compact, paint, out, errors, failing_rows=bool(args.errors))
    out.write(_error_index(errors))
    out.write(_summary(trace) + "\n")
    return 0


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


@attrs.define
class _Errors:
    """Each distinct error text shown once: numbered (``E1``) where it is first drawn, its first
    line on the span and, with ``full``, the whole text under it with real line breaks (each
    line escaped); later spans failing with the same text are counted, and a span that failed
    with its child's error (an exception passing up) says so instead of repeating it."""

    full: bool
    numbers: dict[str, int] = attrs.Factory(dict)
    counts: dict[str, int] = attrs.Factory(dict)
    #: each error's first line as shown (with the exception's type when an event gave it)
    labels: dict[str, str] = attrs.Factory(dict)

    def span_text(self, node: Node, paint: Paint) -> tuple[str, list[str]]:
        """What follows the span's other parts on its line, and the lines under it."""
        error = node.error
        assert error is not None
        if any(child.error == error for child in node.children):
            return paint(RED, "failed: the error below"), []
        number = self.numbers.get(error)
        if number is not None:
            self.counts[error] += 1
            times = self.counts[error]
            return paint(RED, f"E{number} again ({_ordinal(times)} time)"), []
        number = self.numbers[error] = len(self.numbers) + 1
        self.counts[error] = 1
        # The span's error event says the same with the exception's type: shown instead.
        text = next((m for m in node.error_events if _same(m, error)), error)
        first = self.labels[error] = _first_line(text)
        rest = text.strip()[len(first) :].strip("\n") if text.strip().startswith(first) else ""
        extra = rest.count("\n") + 1 if rest.strip() else 0
        shown = escape(first if len(first) <= 300 else first[:299] + "…")
        if extra and not self.full:
            shown += paint(DIM, f" (+{_count(extra, 'line')}: --full)")
        lines = escape_lines(rest).split("\n") if extra and self.full else []
        return paint(RED, f"E{number} ") + paint(RED, shown), lines

    def shown_already(self, message: str, node: Node) -> bool:
        """An error event that says the span's own error, or one already numbered."""
        if node.error is not None and _same(message, node.error):
            return True
        return any(_same(message, e) for e in self.numbers)


def _same(message: str, error: str) -> bool:
    """Whether an error event's message and a span's error text are the same error: equal, or
    the event's ``Type: text`` for the span's ``text`` (how both are recorded)."""
    return message == error or (bool(error) and message.endswith(": " + error))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _with_ancestors(node: Node, wanted: set[str]) -> None:
    current: Node | None = node
    while current is not None and current.span_id not in wanted:
        wanted.add(current.span_id)
        current = current.up


def _draw(
    trace: Trace,
    wanted: set[str] | None,
    compact: bool,
    paint: Paint,
    out: TextIO,
    errors: _Errors | None = None,
    failing_rows: bool = False,
) -> None:
    """The tree, depth-first without recursion; a line per span, note and call; each distinct
    error once (:class:`_Errors`); an ``Evaluate`` root's table (its failing rows only, with
    ``failing_rows``)."""
    errors = errors or _Errors(full=False)
    roots = [r for r in trace.roots if wanted is None or r.span_id in wanted]
    stack: list[tuple[Node, str, bool, bool, int]] = [
        (root, "", True, True, 0) for root in reversed(roots)
    ]
    while stack:
        node, prefix, last, top, depth = stack.pop()
        branch = "" if top else ("└── " if last else "├── ")
        marker = f"[depth {depth}] " if depth > _MAX_INDENT else ""
        title = escape(node.title)
        parts = [marker + (paint(RED, f"✗ {title}") if node.error is not None else title)]
        if node.ended:
            parts.append(paint(DIM, ms_text(node.duration)))
        elif node.started:
            parts.append(paint(DIM, "running"))
        elif node.span_id != NO_SPAN:
            parts.append(paint(DIM, "(no span start)"))
        if node.tokens:
            parts.append(f"tokens={node.tokens}")
        if node.priced:
            parts.append(format_cost(node.cost) + (" (+ unknown)" if node.unknown else ""))
        elif node.unknown:
            parts.append("cost unknown")
        below: list[str] = []
        example = _example_of(node)
        if example is not None:
            parts.append(_verdict(example, paint))
        if node.error is not None:
            text, below = errors.span_text(node, paint)
            parts.append(text)
        out.write(f"{prefix}{branch}{' '.join(parts)}\n")
        deeper = depth < _MAX_INDENT
        child_prefix = prefix + ("" if top or not deeper else ("    " if last else "│   "))
        if node.evaluation is not None and example is None:
            for line in _evaluation_table(node, paint, errors.full, failing_rows):
                out.write(f"{child_prefix}  {line}\n")
        for line in below:
            out.write(f"{child_prefix}  {paint(RED, '│')} {line}\n")
        if node.cycle is not None:
            out.write(f"{child_prefix}  {paint(DIM, escape(node.cycle))}\n")
        for message in node.error_events:
            if not errors.shown_already(message, node):  # another error than the span's own
                note = f"error {_first_line(message)}"
                out.write(f"{child_prefix}  {paint(RED, escape(note))}\n")
        for note in node.notes:
            out.write(f"{child_prefix}  {paint(DIM, escape(note))}\n")
        if not compact:
            for call in node.calls:
                out.write(f"{child_prefix}  {paint(CYAN, escape(_call_line(call)))}\n")
        kids = [k for k in node.children if wanted is None or k.span_id in wanted]
        for i in range(len(kids) - 1, -1, -1):
            stack.append((kids[i], child_prefix, i == len(kids) - 1, False, depth + 1))


# -- Evaluate runs ------------------------------------------------------------------------------------

#: Rows of an Evaluate run's table shown without --full.
_TABLE_ROWS = 20
#: Characters of an input, prediction or feedback excerpt in the table.
_EXCERPT = 40


def _example_of(node: Node) -> dict[str, Any] | None:
    """The ``evaluation`` of an ``Evaluate`` example's span (it has an ``index``), else ``None``."""
    evaluation = node.evaluation
    if evaluation is not None and type(evaluation.get("index")) is int:
        return evaluation
    return None


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "-"
    return text_of(value)


def _verdict(example: dict[str, Any], paint: Paint) -> str:
    """``pass 1`` / ``FAIL 0`` / ``ERROR``: an example's result on its span's line (``pass`` /
    ``FAIL`` alone for a metric that gave a flag)."""
    value = example.get("score")
    score = "" if isinstance(value, bool) else " " + escape(_number_text(value))
    if example.get("error") not in (None, ""):
        return paint(RED, "ERROR")
    if example.get("passed") is True:
        return paint(GREEN, f"pass{score}")
    if example.get("passed") is False:
        return paint(RED, f"FAIL{score}")
    return paint(DIM, f"score{score}")


def _excerpt(value: Any, width: int = _EXCERPT) -> str:
    """A value on one short line: ``k: v`` pairs for a mapping, whitespace folded, cut to
    ``width`` characters, escaped."""
    if isinstance(value, dict):
        text = ", ".join(f"{text_of(k)}: {text_of(v)}" for k, v in value.items())
    else:
        text = text_of(value)
    text = " ".join(text.split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return escape(text)


def _evaluation_table(
    node: Node, paint: Paint, full: bool, failing_only: bool = False
) -> list[str]:
    """Under an ``Evaluate`` root: its score and counts, then a line per example (index,
    result, metric value, an input and a prediction excerpt, the feedback or the error's first
    line), in devset order; the first rows only, without ``full``; the examples that did not
    pass only, with ``failing_only`` (``--errors``)."""
    evaluation = node.evaluation or {}
    metric = text_of(evaluation.get("metric")) or "metric"
    counts = [
        f"{_number_text(evaluation.get(key))} {'error' if key == 'errors' and n == 1 else key}"
        for key in ("passed", "failed", "errors")
        if (n := evaluation.get(key)) is not None
    ]
    score = evaluation.get("score")
    head = f"score {_number_text(score)}" if score is not None else "no score"
    head += f" ({metric}) of {_number_text(evaluation.get('examples'))} examples"
    lines = [paint(CYAN, escape(head + (": " + ", ".join(counts) if counts else "")))]
    examples = sorted(
        ((e, child) for child in node.children if (e := _example_of(child)) is not None),
        key=lambda pair: pair[0]["index"],
    )
    if failing_only:
        examples = [(e, child) for e, child in examples if e.get("passed") is not True]
    shown = examples if full else examples[:_TABLE_ROWS]
    width = max((len(str(e["index"])) for e, _ in shown), default=1)
    first_seen: dict[str, Any] = {}  # an error's text -> the example that showed it
    for example, child in shown:
        outputs = child.outputs if isinstance(child.outputs, dict) else {}
        error = example.get("error")
        if error not in (None, ""):
            # Each distinct error once here too: a repeat points at the first example with it.
            seen = first_seen.setdefault(text_of(error), example["index"])
            if seen != example["index"]:
                result = paint(DIM, f"the error of #{seen}")
            else:
                result = escape(_first_line(text_of(error))[:_EXCERPT])
        else:
            result = _excerpt(outputs.get("prediction"))
            if outputs.get("feedback") not in (None, ""):
                result += paint(DIM, f" ({_excerpt(outputs['feedback'])})")
        lines.append(
            f"#{example['index']:<{width}} {_verdict(example, paint)}  "  # index: an int
            f"{_excerpt(child.inputs)} → {result}"
        )
    if len(examples) > len(shown):
        lines.append(paint(DIM, f"… {len(examples) - len(shown)} more examples (--full)"))
    return lines


def _call_line(call: Call) -> str:
    provider = f" ({call.provider})" if call.provider else ""
    latency = f"{int(call.latency)}ms" if call.latency is not None else "?ms"
    line = f"llm {call.model or '?'}{provider} {latency}"
    if call.usage:
        details = "".join(
            f" {USAGE_DETAIL_LABELS[name]}={value}"
            for name, value in zip(USAGE_DETAIL_FIELDS, call.details, strict=False)
            if value
        )
        line += (
            f" tokens={call.total_tokens}({call.prompt_tokens}↑{call.completion_tokens}↓{details})"
        )
    line += f" {format_cost(call.cost)}" if call.cost is not None else " cost unknown"
    return line + (" (sub-call)" if call.listed else "")


def _summary(trace: Trace) -> str:
    calls = list(trace.calls())
    tokens = sum(c.total_tokens for c in calls)
    unknown = sum(1 for c in calls if c.cost is None)
    failed = sum(1 for n in trace.nodes.values() if n.error is not None)
    summary = (
        f"\n{_count(trace.spans, 'span')}, {_count(len(calls), 'LLM call')}, "
        f"{_count(tokens, 'token')}"
    )
    if unknown < len(calls):
        summary += f", {format_cost(sum(c.cost for c in calls if c.cost is not None))}"
    summary += f" ({_count(unknown, 'call')} with unknown price)" if unknown else ""
    if failed:
        summary += f", {failed} with errors"  # spans with errors: "1 with errors" is right
    if trace.skipped:
        summary += f"; {_count(trace.skipped, 'unreadable line')} skipped"
    return summary


def _error_index(errors: _Errors) -> str:
    """Where errors repeat (an ``Evaluate`` run failing alike on many examples) or differ, each
    distinct one once with how many spans met it first-hand; ``""`` for a single error."""
    if len(errors.numbers) < 2 and all(n == 1 for n in errors.counts.values()):
        return ""
    lines = ["\nerrors:"]
    for text, number in errors.numbers.items():
        lines.append(f"  E{number} ×{errors.counts[text]}: {escape(errors.labels[text][:200])}")
    return "\n".join(lines) + "\n"


def _final(trace: Trace, out: TextIO) -> int:
    answers = [r.outputs for r in trace.roots if r.outputs is not None]
    if not answers:
        out.write("no final answer in this trace (no root span ended with outputs)\n")
        return 1
    for answer in answers:
        out.write(escape_lines(answer if isinstance(answer, str) else _pretty(answer)) + "\n")
    return 0


def _pretty(value: Any) -> str:
    """Indented JSON; a value orjson refuses (nesting past 255, odd text) through the
    serializer's walk, which caps nesting with a marker."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        safe = serializer.to_jsonable(value)
        return orjson.dumps(safe, option=orjson.OPT_INDENT_2).decode("utf-8")


def _stats(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    totals = stream_totals(path, args.lenient)
    rows = totals.rows
    calls = sum(row.calls for row in rows.values())
    unknown = sum(row.unknown for row in rows.values())
    _header(totals.session, path, out)
    out.write(f"  spans: {totals.spans}; errors: {totals.errors}\n")
    out.write(f"  LLM calls: {calls}; tokens: {sum(row.tokens for row in rows.values())}")
    if unknown < calls:
        out.write(f"; cost {format_cost(sum(row.cost for row in rows.values()))}")
    out.write(f" ({_count(unknown, 'call')} with unknown price)\n" if unknown else "\n")
    for model, row in sorted(rows.items()):
        latencies = row.latencies
        median = latencies.median
        timing = (
            f"latency min {latencies.minimum:.0f} / median "
            f"{'≈' if latencies.approximate else ''}{median:.0f} / max {latencies.maximum:.0f} ms"
            if median is not None
            else "latency unknown"
        )
        details = "".join(
            f", {USAGE_DETAIL_LABELS[name]} {value}"
            for name, value in zip(USAGE_DETAIL_FIELDS, row.details, strict=True)
            if value
        )
        out.write(
            f"  {escape(model)}: {_count(row.calls, 'call')}, {_count(row.tokens, 'token')} "
            f"(input {row.prompt}, output {row.completion}{details}), {timing}\n"
        )
        if row.sources:
            sources = ", ".join(f"{escape(s)} {n}" for s, n in sorted(row.sources.items()))
            out.write(f"    cost {format_cost(row.cost)} from {sources}\n")
        for reason, n in sorted(row.reasons.items()):
            out.write(f"    price unknown for {_count(n, 'call')}: {escape(reason)}\n")
    if totals.skipped:
        out.write(f"  {_count(totals.skipped, 'unreadable line')} skipped\n")
    return 0


# -- --watch ---------------------------------------------------------------------------------------


def _event_line(event: TraceEvent) -> str | None:
    """One event as ``--watch`` prints it (not escaped yet), or ``None`` for a session event."""
    data = event.data
    kind = event.type
    if kind is _LLM:
        call = call_of(data, listed=False)
        return (
            f"llm {call.model or '?'} {ms_text(data.get('latency_ms'))} tokens={call.total_tokens}"
        )
    if kind is _MODULE:
        state = "failed" if data.get("success") is False else "ok"
        label = f"{text_of(data.get('module_type'))}:{text_of(data.get('module_name'))}"
        return f"module {label} {state} {ms_text(data.get('duration_ms'))}"
    if kind is _TOOL:
        state = "failed" if data.get("success") is False else "ok"
        return f"tool {text_of(data.get('tool_name'))} {state} {ms_text(data.get('duration_ms'))}"
    if kind is _CODE:
        iteration = data.get("iteration")
        number = "" if iteration is None else f" #{text_of(iteration)}"
        return f"code{number} {ms_text(data.get('duration_ms'))}" + (
            " stderr" if data.get("stderr") not in (None, "") else ""
        )
    if kind is _ERROR:
        return f"error {text_of(data.get('error_type'))}: {text_of(data.get('message'))}"
    if kind is _SPAN and data.get("event") == "start":
        return f"span {text_of(data.get('operation'))} started"
    if kind is _SPAN:
        error = data.get("error")
        return f"span ended {ms_text(data.get('duration_ms'))}" + (
            f" error: {text_of(error)}" if error not in (None, "", False) else ""
        )
    return None


def _failed(event: TraceEvent) -> bool:
    data = event.data
    return (
        event.type is _ERROR
        or data.get("error") not in (None, "", False)
        or data.get("success") is False
        or (event.type is _CODE and data.get("stderr") not in (None, ""))
    )


class _Watcher:
    """``--watch``: prints the events appended since the last :meth:`refresh`, reading only the
    new whole lines (a line still being written waits for its newline)."""

    def __init__(self, path: Path, args: argparse.Namespace, out: TextIO) -> None:
        self.path = path
        self.out = out
        self.paint = paint_for(args, out)
        self.search = args.search.lower() if args.search else None
        self.errors = bool(args.errors)
        self.offset = 0
        self.line = 0
        self.inode = -1

    def refresh(self) -> None:
        try:
            fh = self.path.open("rb")
        except OSError:
            return  # not there (yet, or any more): the next change is shown
        with fh:
            st = os.fstat(fh.fileno())
            if st.st_size < self.offset or (st.st_ino != self.inode and self.inode != -1):
                # truncated, or replaced (rotated): start again from its first line
                self.offset = self.line = 0
                self.out.write(self.paint(DIM, "(the file was replaced; reading it again)") + "\n")
            self.inode = st.st_ino
            fh.seek(self.offset)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                self.offset += len(raw)
                self.line += 1
                if raw.strip():
                    self._show(raw)
        self.out.flush()

    def _show(self, raw: bytes) -> None:
        paint = self.paint
        try:
            event = parse_line(raw, f"{self.path}:{self.line}")
        except TraceReadError as exc:
            self.out.write(paint(RED, escape(f"unreadable line: {exc}")) + "\n")
            return
        line = _event_line(event)
        if line is None:
            return
        if self.search is not None and not mentions([event.data], self.search):
            return
        failed = _failed(event)
        if self.errors and not failed:
            return
        span = escape((event.span_id or "-")[:8])
        self.out.write(f"{span} {paint(RED if failed else DIM, escape(line))}\n")


def _watch(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    out.write(f"watching {escape(str(path))} (Ctrl-C to stop)\n")
    return follow(path, _Watcher(path, args, out).refresh)
