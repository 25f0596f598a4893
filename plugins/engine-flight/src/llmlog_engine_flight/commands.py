"""``llmlog flight list|view|convert``: the engine's commands, registered through
``llmlog_register_commands``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmlog.ext import ConfigError, add_json_flags

__all__ = ["arguments", "run"]


def config_relative(raw: str, config_path: Path | None, default: Path) -> Path:
    """A path from configuration: ``default`` when empty, ``~`` expanded, a relative path taken
    from the configuration file's directory."""
    from llmlog.ext import TableContext

    return TableContext("flight_recorder", config_path).resolve(raw, default)


def arguments(parser: argparse.ArgumentParser) -> None:
    """The actions of ``llmlog flight`` and their flags."""
    flight_sub = parser.add_subparsers(dest="flight_command", metavar="ACTION", required=True)
    listing = flight_sub.add_parser(
        "list", help="the snapshots in the configured snapshot directory, newest first"
    )
    listing.add_argument(
        "dir", nargs="?", help="a directory (default: [flight_recorder] snapshot_dir)"
    )
    listing.add_argument("--config", help="the configuration file (default: discovered)")
    add_json_flags(listing, what="snapshots")
    listing.set_defaults(flight_run=_cmd_flight_list)
    view = flight_sub.add_parser("view", help="summary and timeline of a snapshot, errors first")
    view.add_argument("file", help="a snapshot (.jsonl or .jsonl.zst)")
    view.add_argument(
        "--last", type=int, default=50, help="timeline events to show (default 50; 0: all)"
    )
    view.add_argument(
        "--kind",
        action="append",
        help="only events of this kind in the timeline (log, span, llm_call, region, ...); repeat",
    )
    view.add_argument("--level", help="only log entries at or above this severity in the timeline")
    view.add_argument("--grep", help="only timeline events containing this text (any case)")
    view.add_argument("--no-color", action="store_true", help="no colours (also: NO_COLOR)")
    view.add_argument(
        "--lenient", action="store_true", help="skip unreadable lines (counted) instead of failing"
    )
    view.add_argument(
        "--max-events",
        type=int,
        help="most events read, the newest kept (default 1,000,000: bounds memory)",
    )
    # --json: the events (after --kind, --level, --grep; --last does not apply: page with
    # --limit/--offset), the header and counts as the summary.
    add_json_flags(view, what="events")
    view.set_defaults(flight_run=_cmd_flight_view)
    convert = flight_sub.add_parser("convert", help="convert a snapshot for a trace viewer")
    convert.add_argument("file", help="a snapshot (.jsonl or .jsonl.zst)")
    convert.add_argument("--to", choices=["chrome"], default="chrome", help="output format")
    convert.add_argument("-o", "--output", help="output file (default: next to the snapshot)")
    convert.add_argument(
        "--lenient", action="store_true", help="skip unreadable lines (counted) instead of failing"
    )
    convert.add_argument(
        "--max-events",
        type=int,
        help="most events read, the newest kept (default 1,000,000: bounds memory)",
    )
    convert.set_defaults(flight_run=_cmd_flight_convert)


def _snapshot_or_report(path: str, lenient: bool = False, max_events: int | None = None) -> Any:
    """The snapshot at ``path``, or ``None`` after saying on stderr (escaped) why it cannot be
    read."""
    import gc

    from llmlog.ext import escape
    from llmlog_engine_flight.snapshot import SnapshotError, UnreadableLine, read_snapshot

    # Loading builds one dict per event and keeps them all: the cyclic garbage collector would
    # traverse them again and again (two thirds of the time for 100,000 events) to find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if max_events is None:
            return read_snapshot(path, lenient=lenient)
        return read_snapshot(path, lenient=lenient, max_events=max_events)
    except SnapshotError as exc:
        hint = " (--lenient skips unreadable lines)" if isinstance(exc, UnreadableLine) else ""
        print(f"llmlog: {escape(str(exc))}{hint}", file=sys.stderr)
        return None
    finally:
        if collecting:
            gc.enable()


def _cmd_flight_view(args: argparse.Namespace) -> int:
    from llmlog.ext import SEVERITY_NAMES, escape, paint_for, severity_from_name
    from llmlog_engine_flight.schema import KNOWN_KINDS
    from llmlog_engine_flight.view import render_view

    level = None
    if args.level is not None:
        level = severity_from_name(args.level)
        if level is None:
            print(
                f"llmlog: --level: unknown severity {escape(repr(args.level))}; expected one of "
                f"{', '.join(SEVERITY_NAMES)}",
                file=sys.stderr,
            )
            return 2
    if args.last < 0:
        print("llmlog: --last: expected 0 (all) or more", file=sys.stderr)
        return 2
    if args.max_events is not None and args.max_events < 1:
        print("llmlog: --max-events: expected 1 or more", file=sys.stderr)
        return 2
    snapshot = _snapshot_or_report(args.file, args.lenient, args.max_events)
    if snapshot is None:
        return 1
    # Kinds the recorder writes, and any other this snapshot holds (FlightRecorder.record).
    present = {event["kind"] for event in snapshot.events}
    unknown = [k for k in args.kind or () if k not in KNOWN_KINDS and k not in present]
    if unknown:
        others = sorted(present - set(KNOWN_KINDS))
        extra = f"; in this snapshot also: {', '.join(escape(k) for k in others)}" if others else ""
        print(
            f"llmlog: --kind: unknown kind {escape(repr(unknown[0]))}; known kinds: "
            f"{', '.join(KNOWN_KINDS)}{extra}",
            file=sys.stderr,
        )
        return 2
    if args.json:
        return _flight_view_json(snapshot, args, level)
    if args.search or args.errors or args.limit is not None or args.offset:
        print(
            "llmlog: --search, --errors, --limit and --offset go with --json "
            "(the timeline has --grep and --last)",
            file=sys.stderr,
        )
        return 2
    render_view(
        snapshot,
        sys.stdout,
        last=args.last,
        kinds=args.kind or (),
        level=level,
        grep=args.grep,
        paint=paint_for(args, sys.stdout),
    )
    return 0


def _flight_view_json(snapshot: Any, args: argparse.Namespace, level: Any) -> int:
    from collections import Counter

    from llmlog.ext import configured_sanitizer, json_page, paging, print_json
    from llmlog_engine_flight.view import _filter, _is_error

    sanitizer, problem = configured_sanitizer()
    events = _filter(snapshot.events, args.kind or (), level, args.grep)
    kinds = Counter(str(event.get("kind")) for event in snapshot.events)
    summary = {
        "header": snapshot.header,
        "events": len(snapshot.events),
        "kinds": dict(sorted(kinds.items())),
        "errors": sum(1 for event in snapshot.events if _is_error(event)),
        "skipped": snapshot.skipped,
        "dropped": snapshot.dropped,
        "missing_events": snapshot.missing_events,
    }
    print_json(
        json_page(
            "flight view",
            events,
            source=[str(args.file)],
            **paging(args),
            summary=summary,
            problems=[*snapshot.problems, *([problem] if problem else [])],
            sanitizer=sanitizer,
            keep=_is_error if args.errors else None,
        )
    )
    return 0


def _cmd_flight_list(args: argparse.Namespace) -> int:
    import stat

    from llmlog.ext import escape, local_timestamp, validate_configuration
    from llmlog_engine_flight.recorder import default_snapshot_dir
    from llmlog_engine_flight.snapshot import (
        NotASnapshot,
        SnapshotError,
        read_header,
        recorder_backends,
    )

    triggers: list[str] | None = None
    if args.dir:
        directory = Path(args.dir)
    else:
        # Where this project's configuration sends snapshots, else the platformdirs default.
        try:
            config, _ = validate_configuration(args.config)
        except ConfigError as exc:
            print(f"llmlog: {exc}", file=sys.stderr)
            return 1
        table = config.table("flight_recorder")
        directory = config_relative(
            table.options.snapshot_dir if table else "", config.source.path, default_snapshot_dir()
        )
        if table is not None and table.options.enabled:
            from llmlog_engine_flight.options import describe_triggers

            options = table.options
            triggers = describe_triggers(
                options.triggers,
                options.slow_spans,
                options.call_cost,
                options.call_tokens,
                options.error_burst,
                options.error_window,
            )
    shown_dir = escape(str(directory))
    if triggers is not None:
        # What snapshots automatically, as configured (triggers registered in code are the
        # program's own: named in the snapshots they take).
        print(f"Triggers: {escape(', '.join(triggers)) or 'none'}")
    backends = recorder_backends()
    # Every backend's snapshots, a third party's too (and .jsonl.zst, to say what reads them).
    suffixes = tuple({".jsonl", ".jsonl.zst", *(b.suffix for b in backends)})
    if not directory.is_dir():
        if args.json:
            return _flight_list_json(args, directory, [], 0)
        print(f"No snapshots: {shown_dir} does not exist.")
        return 0
    try:
        names = [p for p in directory.iterdir() if p.name.endswith(suffixes)]
    except OSError as exc:
        print(f"llmlog: {shown_dir}: cannot list: {exc.strerror or exc}", file=sys.stderr)
        return 1
    found = []
    for path in names:
        if path.name.startswith("."):  # a snapshot still being written (temporary name)
            continue
        try:
            status = path.stat()
        except OSError:  # gone meanwhile, or a dangling link
            continue
        if not stat.S_ISREG(status.st_mode):  # a directory, or a FIFO that would block a read
            continue
        found.append((status.st_mtime, status.st_size, path))
    found.sort(key=lambda item: item[0], reverse=True)
    items: list[dict[str, Any]] = []
    others = 0
    for _, size, path in found:
        try:
            header = read_header(path, backends=backends)
        except NotASnapshot:
            others += 1
            continue
        except SnapshotError as exc:  # a snapshot that cannot be read: listed with the reason
            items.append({"path": str(path), "name": path.name, "error": str(exc)})
            continue
        created = header.get("created_ns")
        window = header.get("window") or {}
        events = window.get("events")
        detail = header.get("trigger_detail")
        items.append(
            {
                "path": str(path),
                "name": path.name,
                "created_ns": created if isinstance(created, int) else None,
                "reason": str(header.get("reason") or "") or None,
                "backend": str((header.get("config") or {}).get("backend") or "") or None,
                "events": events if isinstance(events, int) else None,
                "size_bytes": size,
                "trigger_detail": detail if isinstance(detail, str) and detail else None,
                "error": None,
            }
        )
    if args.json:
        return _flight_list_json(args, directory, items, others)
    rows, unreadable, listed = [], [], 0
    for item in items:
        if item["error"]:
            unreadable.append(escape(item["error"]))
            continue
        created = item["created_ns"]
        when = local_timestamp(created) if created is not None else "?"
        events = item["events"]
        listed += 1
        rows.append(
            f"  {when}  {escape((item['reason'] or '?')[:40]):<10} "
            f"{escape((item['backend'] or '?')[:20]):<7} "
            f"{events if events is not None else '?':>8} events "
            f"{item['size_bytes'] / 1024:>9.1f} KiB  {escape(item['name'])}"
        )
        if item["trigger_detail"]:  # why the trigger fired
            rows.append(f"      {escape(item['trigger_detail'][:160])}")
    print(f"Snapshots in {shown_dir} ({listed}, newest first):")
    for row in rows:
        print(row)
    for message in unreadable:
        print(f"  unreadable: {message}")
    if others:
        print(f"  ({others} other .jsonl files that are not snapshots)")
    if rows:
        print("Open one with: llmlog flight view FILE")
    return 0


def _flight_list_json(
    args: argparse.Namespace, directory: Path, items: list[dict[str, Any]], others: int
) -> int:
    from llmlog.ext import configured_sanitizer, json_page, paging, print_json

    sanitizer, problem = configured_sanitizer()
    summary = {
        "directory": str(directory),
        "snapshots": sum(1 for item in items if not item["error"]),
        "unreadable": sum(1 for item in items if item["error"]),
        "other_files": others,
    }
    print_json(
        json_page(
            "flight list",
            items,
            source=[str(directory)],
            **paging(args),
            summary=summary,
            problems=[problem] if problem else [],
            sanitizer=sanitizer,
        )
    )
    return 0


def _cmd_flight_convert(args: argparse.Namespace) -> int:
    from llmlog.ext import escape, written_atomically
    from llmlog_engine_flight.chrome import write_chrome

    if args.max_events is not None and args.max_events < 1:
        print("llmlog: --max-events: expected 1 or more", file=sys.stderr)
        return 2
    snapshot = _snapshot_or_report(args.file, args.lenient, args.max_events)
    if snapshot is None:
        return 1
    target = Path(
        args.output or str(args.file).removesuffix(".zst").removesuffix(".jsonl") + ".chrome.json"
    )
    try:
        with written_atomically(target) as fh:  # 0600 from the first byte; no half file
            size = write_chrome(snapshot, fh)
    except OSError as exc:
        print(
            f"llmlog: {escape(str(target))}: cannot write: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    skipped = ""
    if snapshot.skipped:
        skipped = (
            f"; {snapshot.skipped} unreadable line{'s' if snapshot.skipped > 1 else ''} skipped"
        )
    if snapshot.missing_events:
        skipped += f"; {snapshot.missing_events} events missing (the file is damaged or cut short)"
    if snapshot.dropped:
        skipped += f"; the oldest {snapshot.dropped} events left out (--max-events)"
    print(
        f"{escape(str(target))}: {size} bytes of Chrome Trace Event JSON "
        f"(open it in ui.perfetto.dev or chrome://tracing){skipped}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the action ``llmlog flight`` was given."""
    return int(args.flight_run(args))
