"""``llmlog export FILE... --to dspy-examples|jsonl|otlp-json -o OUT``, and the ``--json``
document of a run (``llmlog view --json``, the MCP server)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmlog.ext import (
    PluginHost,
    Sanitizer,
    configured_sanitizer,
    dumps_json,
    escape,
    json_page,
    plural,
    written_atomically,
)

if TYPE_CHECKING:
    from llmlog_report_html.model import Run

__all__ = ["EXPORT_FORMATS", "document_of", "export_arguments", "run_document", "run_export"]

EXPORT_FORMATS = ("dspy-examples", "jsonl", "otlp-json")


def _say(message: str) -> None:
    print(f"llmlog: {escape(message)}", file=sys.stderr)


def export_arguments(parser: argparse.ArgumentParser) -> None:
    from llmlog_report_html.commands import run_files_argument  # read as the report reads

    run_files_argument(parser)
    parser.add_argument("--to", required=True, choices=EXPORT_FORMATS, help="what to write")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="the file to write (- for stdout)"
    )
    parser.add_argument(
        "--rows",
        choices=("llm", "span"),
        default="llm",
        help="jsonl: one row per LLM call (default) or per span (every node of the run)",
    )
    parser.add_argument(
        "--module",
        metavar="NAME",
        help="dspy-examples: the calls of this module (Predict:qa, Predict or qa) instead of "
        "the top-level ones",
    )
    parser.add_argument(
        "--no-content",
        action="store_true",
        help="leave out prompts, responses, inputs and outputs (tokens, cost, latency and "
        "errors kept); not with dspy-examples",
    )
    parser.add_argument(
        "--max-field",
        type=int,
        default=0,
        metavar="CHARS",
        help="cut strings longer than this, with a marker (default 0: no cut)",
    )
    parser.add_argument(
        "--service-name", default="llmlog", help="otlp-json: the resource's service.name"
    )
    parser.add_argument("--lenient", action="store_true", help="skip unreadable lines (counted)")
    parser.add_argument("--force", action="store_true", help="replace an existing file")


def _sanitizer(max_field: int) -> Sanitizer:
    sanitizer, problem = configured_sanitizer(max_string_length=max_field)
    if problem is not None:
        _say(f"warning: {problem}; the default redaction applies")
    return sanitizer


def run_export(host: PluginHost, args: argparse.Namespace) -> int:
    """``llmlog export``: see :func:`export_arguments`."""
    from llmlog_report_html.load import ReportInputError

    if args.no_content and args.to == "dspy-examples":
        _say("--no-content: DSPy examples are their inputs and outputs; export jsonl instead")
        return 2
    if args.max_field and args.max_field < 100:
        _say("--max-field: at least 100 characters (or 0 for no cut)")
        return 2
    to_stdout = args.output == "-"
    output = Path(args.output)
    if not to_stdout:
        if output.is_dir():
            _say(f"{output}: is a directory; name the file to write")
            return 2
        if output.exists() and not args.force:
            _say(f"{output} exists; pass --force to replace it")
            return 1
    sanitizer = _sanitizer(args.max_field)
    try:
        if args.to == "otlp-json":
            return _export_otlp(host, args, output, to_stdout, sanitizer)
        payload, summary, problems = _export_run(host, args, sanitizer)
    except ReportInputError as exc:
        _say(str(exc))
        return 1
    if not _write(output, to_stdout, payload):
        return 1
    _report(output, to_stdout, summary, problems)
    return 0


def _export_run(
    host: PluginHost, args: argparse.Namespace, sanitizer: Sanitizer
) -> tuple[bytes, str, list[str]]:
    from llmlog_command_export.examples import EXAMPLES_SCHEMA, run_examples
    from llmlog_command_export.rows import run_rows
    from llmlog_report_html.load import load_run

    run = load_run(args.files, host=host, lenient=args.lenient)
    if args.to == "jsonl":
        lines = [
            dumps_json(sanitizer.fields(row))
            for row in run_rows(run, rows=args.rows, no_content=args.no_content)
        ]
        what = "LLM call" if args.rows == "llm" else "row"
        payload = "".join(line + "\n" for line in lines).encode("utf-8", "backslashreplace")
        return payload, plural(len(lines), what), run.problems
    examples, failed = run_examples(run, args.module)
    if not examples and not failed:
        which = f"of module {args.module!r}" if args.module else "(a span with inputs and outputs)"
        raise_input(f"{', '.join(args.files)}: no module call {which} in this run")
    document = {
        "schema": EXAMPLES_SCHEMA,
        "source": run.sources,
        "module": args.module,
        "examples": [sanitizer.fields(example) for example in examples],
    }
    note = f" ({plural(failed, 'failed call')} left out)" if failed else ""
    payload = (dumps_json(document, indent=True) + "\n").encode("utf-8", "backslashreplace")
    return payload, plural(len(examples), "example") + note, run.problems


def raise_input(message: str) -> None:
    from llmlog_report_html.load import ReportInputError

    raise ReportInputError(message)


def _export_otlp(
    host: PluginHost,
    args: argparse.Namespace,
    output: Path,
    to_stdout: bool,
    sanitizer: Sanitizer,
) -> int:
    import io

    from llmlog_command_export.otlpjson import OtlpUnavailable, trace_events, write_otlp_json

    notes: list[str] = []
    buffer = io.BytesIO()
    try:
        spans = write_otlp_json(
            trace_events(args.files, host, lenient=args.lenient, notes=notes),
            buffer,
            sanitizer=sanitizer,
            capture_content=not args.no_content,
            service_name=args.service_name,
        )
    except OtlpUnavailable:
        _say(
            "--to otlp-json needs the OTLP exporter: pip install "
            '"llmlog-command-export[otlp]" (or llmlog-exporter-otlp)'
        )
        return 2
    if not _write(output, to_stdout, buffer.getvalue()):
        return 1
    _report(output, to_stdout, plural(spans, "span"), notes)
    return 0


def _write(output: Path, to_stdout: bool, payload: bytes) -> bool:
    if to_stdout:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
        return True
    try:
        with written_atomically(output) as fh:
            fh.write(payload)
    except OSError as exc:
        _say(f"{output}: cannot write: {exc.strerror or exc}")
        return False
    return True


def _report(output: Path, to_stdout: bool, summary: str, problems: Sequence[str]) -> None:
    message = f"{'stdout' if to_stdout else output}: {summary}"
    if to_stdout:
        _say(message)
    else:
        print(escape(message))
    for problem in problems[:5]:
        _say(problem)
    if len(problems) > 5:
        _say(f"... and {len(problems) - 5} more skipped")


def run_document(
    paths: Sequence[str], options: dict[str, Any], host: PluginHost | None = None
) -> dict[str, Any]:
    """The ``--json`` document (schema ``llmlog.view/1``) of the run in ``paths``: its rows
    (``view="spans"``: every node; ``"llm"``: the LLM calls) or its statistics
    (``view="stats"``: a row per model, the totals as ``summary``).

    :param options: ``view``, ``search``, ``errors``, ``limit``, ``offset``, ``lenient``,
        ``no_content``, ``max_field`` (default 65536), ``sanitizer`` (default: as configured).
    :raises ValueError: (a ``ReportInputError``) naming ``file:line``.
    """
    from llmlog_report_html.load import load_run

    run = load_run(list(paths), host=host, lenient=bool(options.get("lenient")))
    return document_of(run, options)


def document_of(run: Run, options: dict[str, Any]) -> dict[str, Any]:
    """:func:`run_document` of a run already read (``options`` as there, ``lenient`` aside)."""
    from llmlog_command_export.rows import run_rows, run_stats

    view = str(options.get("view") or "spans")
    sanitizer = options.get("sanitizer")
    if sanitizer is None:
        sanitizer = _sanitizer(int(options.get("max_field") or 65_536))
    common: dict[str, Any] = {
        "source": run.sources,
        "search": options.get("search"),
        "errors": bool(options.get("errors")),
        "limit": options.get("limit"),
        "offset": int(options.get("offset") or 0),
        "problems": run.problems,
        "sanitizer": sanitizer,
    }
    if view == "stats":
        models, summary = run_stats(run)
        return json_page(
            "view --stats",
            models,
            summary=summary,
            keep=(lambda row: bool(row.get("errors"))) if options.get("errors") else None,
            **common,
        )
    rows = run_rows(
        run, rows="llm" if view == "llm" else "span", no_content=bool(options.get("no_content"))
    )
    _, summary = run_stats(run)
    return json_page("view", rows, summary=summary, **common)
