"""``llmlog report`` and ``llmlog diff``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmlog.ext import PluginHost, Sanitizer, ViewError, add_json_flags, escape, parse_size

__all__ = [
    "diff_arguments",
    "diff_document",
    "report_arguments",
    "run_diff",
    "run_files_argument",
    "run_report",
]


def _say(message: str) -> None:
    print(f"llmlog: {escape(message)}", file=sys.stderr)


def run_files_argument(parser: argparse.ArgumentParser) -> None:
    """The ``FILE...`` of a command that reads one run as the report does (``llmlog export``)."""
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="trace files (any installed format), flight snapshots, llmlog JSON log files or "
        "directories of them: one run",
    )


def report_arguments(parser: argparse.ArgumentParser) -> None:
    run_files_argument(parser)
    parser.add_argument("-o", "--output", metavar="HTML", help="the report (default: run.html)")
    parser.add_argument("--open", action="store_true", help="open the report in a browser")
    parser.add_argument(
        "--compare", metavar="FILE", action="append", help="a second run to compare with"
    )
    parser.add_argument("--title", default="", help="the page's title")
    parser.add_argument(
        "--no-content",
        action="store_true",
        help="leave out prompts, responses, inputs, outputs, code and fields "
        "(tokens, cost, latency and errors kept)",
    )
    parser.add_argument(
        "--max-size", metavar="SIZE", help="largest report wanted (20MB, 500KiB...)"
    )
    parser.add_argument(
        "--max-field",
        type=int,
        default=65_536,
        metavar="CHARS",
        help="longest string kept; longer ones are cut with a marker (default 65536)",
    )
    parser.add_argument("--lenient", action="store_true", help="skip unreadable lines (counted)")
    parser.add_argument("--force", action="store_true", help="replace an existing report")


def diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="the first run (a file or directory)")
    parser.add_argument("b", metavar="B", help="the second run")
    parser.add_argument("--all", action="store_true", help="list unchanged spans too")
    parser.add_argument("--exit-code", action="store_true", help="exit with 3 when the runs differ")
    parser.add_argument("--lenient", action="store_true", help="skip unreadable lines (counted)")
    add_json_flags(parser, what="matched spans")


def run_report(host: PluginHost, args: argparse.Namespace) -> int:
    """``llmlog report FILE... [-o run.html]``."""
    from llmlog_report_html.diff import diff_runs
    from llmlog_report_html.load import ReportInputError, load_run
    from llmlog_report_html.page import ReportOptions, write_report

    max_size = None
    if args.max_size:
        try:
            max_size = int(parse_size(args.max_size))
        except (ValueError, TypeError) as exc:
            _say(f"--max-size: {exc}")
            return 2
    if args.max_field < 100:
        _say("--max-field: at least 100 characters")
        return 2
    output = Path(args.output or "run.html")
    if output.is_dir():
        _say(f"{output}: is a directory; name the report file")
        return 2
    if output.exists() and not args.force and args.output is not None:
        _say(f"{output} exists; pass --force to replace it")
        return 1
    try:
        run = load_run(args.files, host=host, lenient=args.lenient)
        compare = None
        if args.compare:
            other = load_run(args.compare, host=host, lenient=args.lenient)
            names = (", ".join(args.files), ", ".join(args.compare))
            compare = diff_runs(run, other, *names).to_json()
    except ReportInputError as exc:
        _say(str(exc))
        return 1
    options = ReportOptions(
        title=args.title,
        no_content=args.no_content,
        max_field=args.max_field,
        max_size=max_size,
    )
    try:
        result = write_report(run, output, options, compare)
    except OSError as exc:
        _say(f"{output}: cannot write: {exc.strerror or exc}")  # not the temporary file
        return 1
    spans = sum(1 for n in run.nodes if n.kind in ("span", "iteration", "code"))
    calls = sum(1 for n in run.nodes if n.kind == "llm")
    note = ""
    if result.cut_contents:
        note = (
            f"; to meet --max-size, {result.cut_contents} contents "
            f"({result.cut_bytes} bytes of JSON) were left out"
        )
    print(
        escape(
            f"{output}: {result.size} bytes, {spans} spans, {calls} LLM calls, "
            f"{len(run.nodes)} rows from {len(run.sources)} file"
            f"{'' if len(run.sources) == 1 else 's'}{note}"
        )
    )
    for problem in run.problems[:5]:
        _say(problem)
    if len(run.problems) > 5:
        _say(f"... and {len(run.problems) - 5} more skipped")
    if result.over_budget:
        _say(f"{output}: {result.size} bytes: over --max-size even with every content left out")
    if args.open:
        import webbrowser

        webbrowser.open(output.resolve().as_uri())
    return 0


def run_diff(host: PluginHost, args: argparse.Namespace) -> int:
    """``llmlog diff A B``."""
    from llmlog_report_html.diff import diff_runs, format_diff
    from llmlog_report_html.load import ReportInputError, load_run

    try:
        a = load_run([args.a], host=host, lenient=args.lenient)
        b = load_run([args.b], host=host, lenient=args.lenient)
    except ReportInputError as exc:
        _say(str(exc))
        return 1
    except ViewError as exc:
        _say(str(exc))
        return 2
    diff = diff_runs(a, b, args.a, args.b)
    if args.json:
        from llmlog.ext import configured_sanitizer, paging, print_json

        sanitizer, problem = configured_sanitizer()
        if problem is not None:
            _say(f"warning: {problem}; the default redaction applies")
        print_json(
            diff_document(
                diff,
                show_same=args.all,
                **paging(args),
                sanitizer=sanitizer,
                problems=[*a.problems, *b.problems],
            )
        )
        return 3 if args.exit_code and diff.changed else 0
    if args.search or args.errors or args.limit is not None or args.offset:
        _say("--search, --errors, --limit and --offset go with --json")
        return 2
    for line in format_diff(diff, show_same=args.all):
        print(escape(line))
    return 3 if args.exit_code and diff.changed else 0


def _failed(row: Any) -> bool:
    return any(
        isinstance(side, dict) and side.get("error") for side in (row.get("a"), row.get("b"))
    )


def diff_document(
    diff: Any,
    *,
    show_same: bool = False,
    search: str | None = None,
    errors: bool = False,
    limit: int | None = None,
    offset: int = 0,
    sanitizer: Sanitizer | None = None,
    problems: list[str] | None = None,
) -> dict[str, Any]:
    """``llmlog diff --json`` (schema ``llmlog.view/1``): a row per matched, added or removed
    span (``path``, ``kind``, ``status``, each side's numbers and error, the prompt and output
    line diffs); the unchanged ones only with ``show_same``. ``errors`` keeps the rows where
    either side failed. The totals of both runs are the summary."""
    from llmlog.ext import json_page

    rows = (n.to_json() for n in diff.nodes if show_same or n.status != "same")
    counts: dict[str, int] = {"same": 0, "changed": 0, "added": 0, "removed": 0}
    for node in diff.nodes:
        counts[node.status] = counts.get(node.status, 0) + 1
    summary = {
        "a": diff.a_name,
        "b": diff.b_name,
        "a_totals": diff.a_totals.to_json(),
        "b_totals": diff.b_totals.to_json(),
        **counts,
    }
    return json_page(
        "diff",
        rows,
        source=[diff.a_name, diff.b_name],
        search=search,
        errors=errors,
        limit=limit,
        offset=offset,
        summary=summary,
        problems=problems or [],
        sanitizer=sanitizer,
        keep=_failed if errors else None,
    )
