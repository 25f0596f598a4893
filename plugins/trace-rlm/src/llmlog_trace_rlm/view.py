"""``llmlog view`` for RLM files: iteration by iteration, with the rlm-go viewer's flags.

``--compact`` (no full responses, no sub-call text), ``--iter N``, ``--errors`` (iterations whose code
wrote to stderr), ``--final`` (the first final answer), ``--search TEXT`` (response, code, stdout,
stderr; case-insensitive, highlighted), ``--stats`` (tokens, cost, timings min/median/max, a table and
a timeline), ``--watch`` (print iterations as they are appended), ``--export FILE.md``,
``--no-color``, ``--lenient`` (skip unreadable lines, counted). Tokens count each sub-call once
(rlm-go's repeated lists are read once) and include the iterations' own calls when known.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import attrs
import orjson

from llmlog.ext import (
    BOLD,
    CYAN,
    DIM,
    GREEN,
    RED,
    USAGE_DETAIL_FIELDS,
    USAGE_DETAIL_LABELS,
    YELLOW,
    Distribution,
    Paint,
    ViewError,
    escape,
    escape_lines,
    export_target,
    follow,
    format_cost,
    paint_for,
    write_private_text,
)
from llmlog_trace_rlm.model import Iteration, Metadata, SubCall, answer_text, plain_text
from llmlog_trace_rlm.reader import iter_rlm, read_rlm

__all__ = ["detect", "view"]


def detect(first_line: bytes) -> bool:
    """Whether a file starting with ``first_line`` is an RLM file; never raises."""
    try:
        record = orjson.loads(first_line)
    except orjson.JSONDecodeError:  # Python rlm's bare NaN, lone surrogates, a cut line...
        return b'"code_blocks"' in first_line or b'"type": "metadata"' in first_line
    if not isinstance(record, dict):
        return False
    kind = record.get("type")
    if kind is None:
        return "code_blocks" in record
    return isinstance(kind, str) and kind in ("metadata", "iteration")


def _plural(number: int, word: str, plural: str | None = None) -> str:
    return f"{number} {word if number == 1 else plural or word + 's'}"


def _value(value: object, limit: int) -> str:
    """A local variable's value as escaped text of at most ``limit`` characters."""
    text = value if isinstance(value, str) else plain_text(value)
    return escape(_cut(text, limit))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars]"


def _tokens(calls: Iterable[SubCall]) -> tuple[int, int, float | None, int]:
    prompt = completion = unknown = 0
    cost = 0.0
    count = 0
    for call in calls:
        count += 1
        prompt += call.prompt_tokens
        completion += call.completion_tokens
        if call.cost is None:
            unknown += 1
        else:
            cost += call.cost
    return prompt, completion, (cost if count and unknown < count else None), unknown


def _selected(iterations: list[Iteration], args: argparse.Namespace) -> list[Iteration]:
    chosen = iterations
    if args.iter is not None:
        chosen = [it for it in chosen if it.iteration == args.iter]
    if args.errors:
        chosen = [it for it in chosen if it.has_error]
    if args.search:
        needle = args.search.lower()
        chosen = [it for it in chosen if needle in _searchable(it)]
    return chosen


def _searchable(it: Iteration) -> str:
    parts = [it.response]
    for block in it.code_blocks:
        parts += [block.code, block.stdout, block.stderr]
    parts += [call.error for call in it.calls if call.error]
    return "\n".join(parts).lower()


def _header(meta: Metadata | None, path: Path, out: TextIO, paint: Paint) -> None:
    out.write(paint(BOLD, f"RLM trace {escape(str(path))}") + "\n")
    if meta is None:
        out.write("  (no metadata line)\n")
        return
    out.write(f"  model {escape(meta.root_model)} · backend {escape(meta.backend)}")
    if meta.max_iterations > 0:
        out.write(f" · max {_plural(meta.max_iterations, 'iteration')}")
    if meta.timestamp:
        out.write(f" · started {escape(meta.timestamp)}")
    out.write("\n")
    if meta.query:
        out.write(f"  query: {escape(_cut(meta.query, 80))}\n")


def _call_line(call: SubCall, compact: bool, paint: Paint) -> str:
    line = (
        f"{escape(call.model or 'llm')} {call.execution_time:.3f}s "
        f"({call.prompt_tokens}→{call.completion_tokens} tokens)"
    )
    if call.cost is not None:
        line += f" {format_cost(call.cost)}"
    if call.error:
        line += " " + paint(RED, f"error: {escape(call.error)}")
    if not compact:
        line += f"\n        prompt: {escape(_cut(call.prompt, 100))}\n        response: {escape(_cut(call.response, 100))}"
    return line


def _render(it: Iteration, args: argparse.Namespace, out: TextIO, paint: Paint) -> None:
    marks = []
    if it.final_answer is not None:
        marks.append(paint(GREEN, "[FINAL]"))
    if it.has_error:
        marks.append(paint(RED, "[ERROR]"))
    seconds = f"{it.iteration_time:.2f}s" if it.iteration_time is not None else "-"
    out.write(
        "\n" + paint(BOLD, f"━━ Iteration {it.iteration}") + f" · {seconds} {' '.join(marks)}\n"
    )

    def show(text: str, limit: int) -> str:
        shown = escape_lines(_cut(text, limit))
        if args.search:
            shown = re.sub(
                re.escape(escape(args.search)),
                lambda m: paint(YELLOW, m.group(0)),
                shown,
                flags=re.IGNORECASE,
            )
        return shown.replace("\n", "\n    ")

    if it.root_call is not None:
        out.write("  " + paint(CYAN, _call_line(it.root_call, True, paint)) + "\n")
    if not args.compact and it.response:
        out.write(f"  response:\n    {show(it.response, 500)}\n")
    for index, block in enumerate(it.code_blocks, start=1):
        out.write(f"  code block {index} ({block.execution_time:.3f}s):\n")
        lines = block.code.splitlines()
        for line in lines[:15]:
            out.write(f"    {paint(DIM, '│')} {show(line, 200)}\n")
        if len(lines) > 15:
            out.write(f"    {paint(DIM, f'│ … {len(lines) - 15} more lines')}\n")
        if block.stdout:
            out.write(f"    output: {show(block.stdout.rstrip(), 300)}\n")
        if block.stderr:
            out.write(f"    {paint(RED, 'stderr:')} {show(block.stderr.rstrip(), 300)}\n")
        if block.locals and not args.compact:
            shown = ", ".join(
                f"{_value(k, 80)} = {_value(v, 80)}" for k, v in list(block.locals.items())[:10]
            )
            out.write(f"    locals: {shown}\n")
        if block.calls:
            out.write(f"    sub-LLM calls: {len(block.calls)}\n")
            for call in block.calls:
                out.write(f"      → {paint(CYAN, _call_line(call, args.compact, paint))}\n")
    answer = answer_text(it.final_answer)
    if answer is not None:
        out.write(f"  {paint(GREEN, 'final answer:')} {show(answer, 2000)}\n")


def _summary(iterations: list[Iteration], skipped: int, out: TextIO) -> None:
    calls = [c for it in iterations for c in it.calls]
    prompt, completion, cost, unknown = _tokens(calls)
    blocks = sum(len(it.code_blocks) for it in iterations)
    line = (
        f"\n{_plural(len(iterations), 'iteration')}, {_plural(blocks, 'code block')}, "
        f"{_plural(len(calls), 'LLM call')}, {_plural(prompt + completion, 'token')} "
        f"({prompt}→{completion})"
    )
    if cost is not None:
        line += f", {format_cost(cost)}"
        if unknown:
            line += f" (+ {_plural(unknown, 'call')} of unknown price)"
    elif calls:
        line += ", cost unknown"
    if any(it.has_error for it in iterations):
        line += f", {sum(1 for it in iterations if it.has_error)} with errors"
    if skipped:
        line += f"; {_plural(skipped, 'unreadable line')} skipped"
    out.write(line + "\n")


def view(path: Path, args: argparse.Namespace, out: TextIO) -> int:
    """Print the RLM file at ``path`` as the flags ask; returns the exit status."""
    paint = paint_for(args, out)
    export = export_target(args)
    if args.stats:
        return _stats(path, args, out, paint)
    if args.watch:
        return _watch(path, args, out, paint)
    problems: list[str] = []
    run = read_rlm(path, skipped=problems if args.lenient else None)
    chosen = _selected(run.iterations, args)
    if export is not None:
        try:
            write_private_text(export, _markdown(path, run.metadata, chosen))
        except OSError as exc:
            raise ViewError(f"--export: cannot write {export}: {exc.strerror or exc}") from None
        out.write(
            f"{escape(str(export))}: {_plural(len(chosen), 'iteration')} written as Markdown\n"
        )
        return 0
    if args.final:
        for it in chosen:
            answer = answer_text(it.final_answer)
            if answer is not None:
                out.write(escape_lines(answer) + "\n")
                return 0
        out.write("no final answer in this trace\n")
        return 1
    _header(run.metadata, path, out, paint)
    for it in chosen:
        _render(it, args, out, paint)
    if not chosen and (args.iter is not None or args.errors or args.search):
        out.write("\nno iteration matches\n")
    _summary(run.iterations, len(problems), out)
    return 0


def _watch(path: Path, args: argparse.Namespace, out: TextIO, paint: Paint) -> int:
    state = {"shown": 0, "header": False}

    def refresh() -> None:
        problems: list[str] = []  # a line being written is incomplete: skip it until it is whole
        run = read_rlm(path, skipped=problems)
        if not state["header"]:
            _header(run.metadata, path, out, paint)
            state["header"] = True
        fresh = run.iterations[int(state["shown"]) :]
        state["shown"] = len(run.iterations)
        for it in _selected(fresh, args):
            _render(it, args, out, paint)
        out.flush()

    out.write(f"watching {escape(str(path))} (Ctrl-C to stop)\n")
    return follow(path, refresh)


@attrs.define
class _Row:
    number: int
    seconds: float | None
    blocks: int
    calls: int
    prompt: int
    completion: int
    final: bool


def _stats(path: Path, args: argparse.Namespace, out: TextIO, paint: Paint) -> int:
    # One pass in bounded memory, whatever the file's size: running sums, the timings'
    # bounded summaries (Distribution), and the per-iteration table spooled to a temporary file
    # past 1 MiB (it is printed after the totals, which need the whole file).
    meta: Metadata | None = None
    first: list[_Row] = []  # for the timeline, drawn for short runs only
    times, sub_times = Distribution(), Distribution()
    iterations = blocks = sub_calls = calls_total = unknown_price = prompt = completion = 0
    cost = 0.0
    details: dict[str, int] = {}
    problems: list[str] = []
    with tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8") as table:
        for item in iter_rlm(path, skipped=problems if args.lenient else None):
            if isinstance(item, Metadata):
                meta = item
                continue
            calls = item.calls
            p, c, call_cost, unknown = _tokens(calls)
            calls_total += len(calls)
            unknown_price += unknown
            cost += call_cost or 0.0
            prompt += p
            completion += c
            for call in calls:
                for name, value in call.details.items():
                    details[name] = details.get(name, 0) + value
            for block in item.code_blocks:
                for call in block.calls:
                    sub_times.add(call.execution_time)
            row = _Row(
                item.iteration,
                item.iteration_time,
                len(item.code_blocks),
                sum(len(b.calls) for b in item.code_blocks),
                p,
                c,
                item.final_answer is not None,
            )
            iterations += 1
            blocks += row.blocks
            sub_calls += row.calls
            if row.seconds is not None:
                times.add(row.seconds)
            if len(first) <= _TIMELINE_ROWS:
                first.append(row)
            table.write(_table_line(row))
        _header(meta, path, out, paint)
        out.write(
            f"\n  iterations {iterations} · code blocks {blocks} · "
            f"sub-LLM calls {sub_calls} · total time {times.total:.2f}s\n"
        )
        if prompt + completion:
            out.write(
                f"  tokens: prompt {prompt} · completion {completion} · total {prompt + completion}"
                f" · {(prompt + completion) / max(calls_total, 1):.1f} per call\n"
            )
        shown = [
            f"{USAGE_DETAIL_LABELS[name]} {details[name]}"
            for name in USAGE_DETAIL_FIELDS
            if details.get(name)
        ]
        if shown:
            out.write(f"  of which: {' · '.join(shown)}\n")
        if calls_total and unknown_price == calls_total:
            out.write("  cost: unknown (no call reported a price)\n")
        elif calls_total:
            note = f" ({_plural(unknown_price, 'call')} of unknown price)" if unknown_price else ""
            out.write(f"  cost: {format_cost(cost)}{note}\n")
        if times.count:
            out.write(f"  iteration time: {_timing(times, 2)}\n")
        if sub_times.count:
            out.write(f"  sub-call time: {_timing(sub_times, 3)}\n")
        out.write(f"\n  {'iter':>4} {'time':>8} {'code':>4} {'calls':>5} {'tokens':>15}  final\n")
        table.seek(0)
        shutil.copyfileobj(table, out)
    longest = times.maximum
    if 0 < iterations <= _TIMELINE_ROWS and times.count and 0 < longest < math.inf:
        out.write("\n  timeline\n")
        for r in first:
            width = max(1, round(40 * ((r.seconds or 0.0) / longest)))
            bar = paint(GREEN if r.final else CYAN, "█" * width)
            out.write(f"  {r.number:>4} {bar}\n")
    if problems:
        out.write(f"\n  {_plural(len(problems), 'unreadable line')} skipped\n")
    return 0


#: Runs of at most this many iterations get a timeline under the table.
_TIMELINE_ROWS = 20


def _table_line(r: _Row) -> str:
    seconds = f"{r.seconds:.2f}s" if r.seconds is not None else "-"
    tokens = f"{r.prompt}→{r.completion}"
    final = "✓" if r.final else ""
    return f"  {r.number:>4} {seconds:>8} {r.blocks:>4} {r.calls:>5} {tokens:>15}  {final}\n"


def _timing(values: Distribution, places: int) -> str:
    """``min 0.10s · median 0.20s · max 0.90s · average 0.30s`` (``≈`` before a median taken
    from the bounded summary)."""
    median = values.median or 0.0
    about = "≈" if values.approximate else ""
    return (
        f"min {values.minimum:.{places}f}s · median {about}{median:.{places}f}s · "
        f"max {values.maximum:.{places}f}s · average {values.mean or 0.0:.{places}f}s"
    )


def _fence(text: str, lang: str = "text") -> str:
    body = escape_lines(text.rstrip())
    ticks = "```"
    while ticks in body:
        ticks += "`"
    return f"{ticks}{lang}\n{body}\n{ticks}\n"


def _code(text: str) -> str:
    """``text`` as an inline code span: escaped, on one line, fenced by enough backticks."""
    body = escape(text)
    ticks = "`"
    while ticks in body:
        ticks += "`"
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def _markdown(path: Path, meta: Metadata | None, iterations: list[Iteration]) -> str:
    """The iterations as Markdown; every text from the file is escaped and fenced or in a code
    span, so neither a terminal showing the file nor a Markdown renderer acts on it."""
    parts = [f"# RLM trace {_code(path.name)}\n\n"]
    if meta is not None:
        parts.append(f"- model: {_code(meta.root_model)}\n- backend: {_code(meta.backend)}\n")
        if meta.query:
            parts.append(f"- query: {_code(meta.query)}\n")
        if meta.timestamp:
            parts.append(f"- started: {_code(meta.timestamp)}\n")
    calls = [c for it in iterations for c in it.calls]
    prompt, completion, cost, _ = _tokens(calls)
    parts.append(
        f"- iterations: {len(iterations)}; LLM calls: {len(calls)}; tokens: {prompt}→{completion}"
        + (f"; cost: {format_cost(cost)}" if cost is not None else "")
        + "\n"
    )
    for it in iterations:
        seconds = f"{it.iteration_time:.2f}s" if it.iteration_time is not None else "-"
        answer = answer_text(it.final_answer)
        title = f"\n## Iteration {it.iteration} ({seconds})" + (" — final" if answer else "")
        parts.append(title + "\n\n")
        if it.response:
            parts.append("**Response**\n\n" + _fence(it.response))
        for index, block in enumerate(it.code_blocks, start=1):
            parts.append(f"\n### Code block {index} ({block.execution_time:.3f}s)\n\n")
            parts.append(_fence(block.code, "python"))
            if block.stdout:
                parts.append("\n**Output**\n\n" + _fence(block.stdout))
            if block.stderr:
                parts.append("\n**Errors**\n\n" + _fence(block.stderr))
            for call in block.calls:
                parts.append(
                    f"\n- sub-call {_code(call.model or 'llm')} {call.execution_time:.3f}s, "
                    f"{call.prompt_tokens}→{call.completion_tokens} tokens\n"
                    f"  - prompt: {_code(_cut(call.prompt, 300))}\n"
                    f"  - response: {_code(_cut(call.response, 300))}\n"
                )
                if call.error:
                    parts.append(f"  - error: {_code(_cut(call.error, 300))}\n")
        if answer is not None:
            parts.append("\n**Final answer**\n\n" + _fence(answer))
    return "".join(parts)
