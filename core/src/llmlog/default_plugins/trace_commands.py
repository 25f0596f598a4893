"""The ``llmlog view`` and ``llmlog convert`` commands: a trace file shown, or rewritten in
another trace format, whichever installed format wrote it.

A default plugin: registered through ``llmlog_register_commands`` as any other command. Each trace
format recognises (``detect``), reads (``read``) and draws (``view``) its own files and declares
its own ``llmlog view`` flags (``view_arguments``); this module only finds the format and runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from llmlog.hookspecs import hookimpl
from llmlog.plugins import PluginHost
from llmlog.registry import CommandRegister, ComponentKind
from llmlog.render import escape
from llmlog.traceinput import (
    Compression,
    TraceInputError,
    compression_of,
    decompressed_copy,
    first_line,
    is_snapshot_header,
    recognising_format,
    shown_as,
    spooled,
)
from llmlog.tracing import STANDARD_FORMATS, open_trace_writer

# Every plugin host (each configure()) imports this module to register the commands: what only
# running them needs (the viewing helpers, file creation, shutil, tempfile) is imported there.

__all__ = ["run_convert", "run_view"]


@hookimpl
def llmlog_register_commands(register: CommandRegister, host: PluginHost) -> None:
    register(
        "view",
        partial(run_view, host),
        help="show a trace file (the format is detected)",
        arguments=partial(_view_arguments, host),
    )
    register(
        "convert",
        partial(run_convert, host),
        help="rewrite a trace file in another trace format (the source is detected)",
        arguments=_convert_arguments,
    )


def _view_arguments(host: PluginHost, parser: argparse.ArgumentParser) -> None:
    from llmlog.jsonout import add_json_flags
    from llmlog.viewing import add_view_flags

    parser.add_argument("file", help="a trace file")
    add_view_flags(parser, host.components(ComponentKind.TRACE_FORMAT))
    add_json_flags(parser, filters=False, what="spans (--stats: models)")
    parser.add_argument(
        "--no-content",
        action="store_true",
        help="with --json: leave out prompts, responses, inputs and outputs",
    )


def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a trace file")
    parser.add_argument(
        "--to", required=True, metavar="FORMAT", help="target trace format (dspy, rlm, ...)"
    )
    parser.add_argument(
        "-o", "--output", help="output file or directory (default: a new file beside the input)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.add_argument("--lenient", action="store_true", help="skip unreadable lines (counted)")


def _first_line(path: Path, compression: Compression | None) -> tuple[bytes | None, str | None]:
    """The file's first line (decompressed), or the message saying why it is not a trace."""
    try:
        first = first_line(path, compression)
    except TraceInputError as exc:
        return None, str(exc)
    if not first.strip():
        return None, f"{path}:1: empty file"
    if b"\x00" in first:
        return None, f"{path}:1: a binary file, not a trace"
    return first, None


def _say(message: str) -> None:
    """``llmlog: message`` on stderr, escaped: a message can name a file whose name, or quote a
    value whose text, holds control characters."""
    print(f"llmlog: {escape(message)}", file=sys.stderr)


def _await_first_line(path: Path, interval: float = 0.2) -> bool:
    """``view --watch`` on a file that does not exist yet or is still empty (a program has just
    opened its trace, and buffers): wait for its first whole line. False if interrupted."""
    said = False
    try:
        while True:
            try:
                with path.open("rb") as fh:
                    first = fh.readline(1 << 20)
                if first.endswith(b"\n") or len(first) >= 1 << 20:
                    return True
            except FileNotFoundError:
                pass
            except OSError:
                return True  # let the format detection name the problem
            if not said:
                _say(f"waiting for {path} to get its first line")
                said = True
            time.sleep(interval)
    except KeyboardInterrupt:
        return False


def _formats_hint(formats: dict[str, Any]) -> tuple[str, str]:
    """The installed trace formats (``dspy, rlm``, or ``""``) and, for the standard ones that are
    missing, what to install (``"; more with: pip install llmlog-trace-rlm"``)."""
    missing = [dist for name, dist in STANDARD_FORMATS.items() if name not in formats]
    if not formats:
        hint = f'; install them with: pip install {" ".join(missing)} (or "llmlog[standard]")'
    else:
        hint = f"; more with: pip install {' '.join(missing)}" if missing else ""
    return ", ".join(sorted(formats)), hint


def _detect_format(
    path: Path, formats: dict[str, Any], compression: Compression | None
) -> tuple[Any, str | None]:
    """The trace-format component that recognises ``path``, or the message saying none does."""
    first, problem = _first_line(path, compression)
    if first is None:
        return None, problem
    found = recognising_format(first, formats)
    if found is not None:
        return found[1], None
    if is_snapshot_header(first):
        return (
            None,
            f"{path}:1: a flight-recorder snapshot, not a trace; show it with: llmlog flight view",
        )
    known, hint = _formats_hint(formats)
    return (
        None,
        f"{path}:1: not a trace in any installed format ({known or 'none installed'}){hint}",
    )


def _renamed(text: str, path: Path, *copies: Path) -> str:
    """``text`` a viewer wrote naming ``path`` where it named a copy (viewers write paths
    escaped; messages raw)."""
    for copy in copies:
        if copy != path:
            text = text.replace(escape(str(copy)), escape(str(path)))
    return shown_as(text, path, *copies)


class _ShownAs:
    """The output stream of a viewer reading a copy (a pipe's, a decompressed one): every
    mention of a copy becomes the file given."""

    def __init__(self, out: TextIO, path: Path, *copies: Path) -> None:
        self._out = out
        self._path = path
        self._copies = copies

    def write(self, text: str) -> int:
        return self._out.write(_renamed(text, self._path, *self._copies))

    def __getattr__(self, name: str) -> Any:  # isatty, flush, encoding...: the stream's own
        return getattr(self._out, name)


def _show_copy(
    component: Any, source: Path, path: Path, args: argparse.Namespace, *more: Path
) -> int:
    """:func:`_show` of ``source``, a copy of ``path`` (a pipe's, a decompressed one; ``more``:
    the copies it was made from): its output, and the file ``--export`` wrote, name ``path``."""
    copies = (source, *more)
    status = _show(component, source, path, args, _ShownAs(sys.stdout, path, *copies))
    export = getattr(args, "export", None)
    if export and status == 0:
        from llmlog.viewing import write_private_text

        target = Path(export)
        try:
            text = target.read_text(encoding="utf-8")
            renamed = _renamed(text, path, *copies)
            if renamed != text:
                write_private_text(target, renamed)
        except OSError as exc:
            _say(f"{target}: {exc.strerror or exc}")
            return 1
    return status


def run_view(host: PluginHost, args: argparse.Namespace) -> int:
    """``llmlog view FILE``: the trace format that recognises the file shows it (a pipe through
    a private copy, a rotated part the file output compressed through a decompressed one)."""
    path = Path(args.file)
    if getattr(args, "json", False):
        return _view_json(host, path, args)
    paged: bool = getattr(args, "limit", None) is not None or bool(getattr(args, "offset", 0))
    if paged or getattr(args, "no_content", False):
        _say("--limit, --offset and --no-content go with --json")
        return 2
    if args.watch and path.is_fifo():
        _say(f"{path}: a pipe; --watch follows a file being written")
        return 2
    return _through_spool(path, lambda source: _view_file(host, path, source, args))


def _view_file(host: PluginHost, path: Path, source: Path, args: argparse.Namespace) -> int:
    """``llmlog view`` of ``source``: ``path`` itself or its copy (messages name ``path``)."""
    compression: Compression | None = None
    if source.exists() or not args.watch:
        compression = compression_of(source)
    if compression is not None and args.watch:
        _say(f"{path}: a {compression} file, finished; --watch follows a file being written")
        return 2
    if args.watch and not _await_first_line(path):
        return 0
    formats = host.components(ComponentKind.TRACE_FORMAT)
    component, problem = _detect_format(source, formats, compression)
    if component is None or component.support.view is None:
        _say(shown_as(problem or f"{source}: the format cannot be shown", path, source))
        return 1
    if compression is None:
        if source == path:
            return _show(component, path, path, args, sys.stdout)
        return _show_copy(component, source, path, args)
    damage: list[str] | None = [] if args.lenient else None
    with decompressed_copy(source, compression, damage=damage) as plain:
        for problem in damage or ():  # a truncated part: what came before it is shown
            _say(shown_as(problem, path, source))
        return _show_copy(component, plain, path, args, source)


def _show(component: Any, source: Path, path: Path, args: argparse.Namespace, out: Any) -> int:
    """Run the format's viewer on ``source`` (``path`` or a copy of it); its messages name
    ``path``."""
    from llmlog.viewing import ViewError

    try:
        return int(component.support.view(source, args, out) or 0)
    except ViewError as exc:
        _say(shown_as(str(exc), path, source))
        return 2
    except ValueError as exc:  # the readers' errors name file:line
        _say(shown_as(str(exc), path, source))
        return 1
    except BrokenPipeError:
        raise  # `llmlog view FILE | head`: main() ends quietly
    except OSError as exc:  # the file vanished or became unreadable, an export cannot be written
        where = exc.filename if exc.filename is not None else source
        _say(shown_as(f"{where}: {exc.strerror or exc}", path, source))
        return 1


#: What answers llmlog_trace_json (the run model behind view --json), for the message.
JSON_DISTRIBUTION = "llmlog-command-export"


def _view_json(host: PluginHost, path: Path, args: argparse.Namespace) -> int:
    """``llmlog view FILE --json``: the document of the plugin answering ``llmlog_trace_json``
    (schema ``llmlog.view/1``), printed without a terminal escape."""
    from llmlog.jsonout import print_json

    if args.watch or args.export:
        _say("--json prints one document: not with --watch or --export")
        return 2
    options = {
        "view": "stats" if args.stats else "spans",
        "search": args.search,
        "errors": args.errors,
        "limit": args.limit,
        "offset": args.offset,
        "lenient": args.lenient,
        "no_content": getattr(args, "no_content", False),
        "host": host,
    }
    try:
        document = host.pm.hook.llmlog_trace_json(paths=[str(path)], options=options)
    except ValueError as exc:  # the readers' errors name file:line
        _say(str(exc))
        return 1
    except OSError as exc:
        _say(f"{exc.filename or path}: {exc.strerror or exc}")
        return 1
    if document is None:
        _say(
            f"--json needs a plugin that models runs; install {JSON_DISTRIBUTION} "
            f'(pip install {JSON_DISTRIBUTION}, or "llmlog[standard]")'
        )
        return 2
    print_json(document)
    return 0


def run_convert(host: PluginHost, args: argparse.Namespace) -> int:
    """``llmlog convert FILE --to FORMAT``: the file rewritten by another trace format's writer
    (a pipe read through a private copy, a compressed part through a decompressed one; the new
    file is plain)."""
    path = Path(args.file)
    formats = host.components(ComponentKind.TRACE_FORMAT)
    target_format = formats.get(args.to)
    if target_format is None:
        known, hint = _formats_hint(formats)
        _say(f"unknown trace format {args.to!r}; installed: {known or 'none'}{hint}")
        return 2
    return _through_spool(
        path, lambda copy: _convert_file(path, copy, formats, target_format, args)
    )


def _through_spool(path: Path, run: Callable[[Path], int]) -> int:
    """``run`` on ``path``, or on a pipe's private copy (:func:`llmlog.traceinput.spooled`);
    a :class:`TraceInputError` is said (naming ``path``), and is exit status 1."""
    try:
        with spooled(path) as copy:
            try:
                return run(copy)
            except TraceInputError as exc:
                _say(shown_as(str(exc), path, copy))
                return 1
    except TraceInputError as exc:  # a pipe that could not be read whole
        _say(str(exc))
        return 1


def _convert_file(
    path: Path, copy: Path, formats: dict[str, Any], target_format: Any, args: argparse.Namespace
) -> int:
    """``llmlog convert`` of ``copy``: ``path`` itself or a pipe's copy (messages name
    ``path``)."""
    import shutil

    compression = compression_of(copy)
    source, problem = _detect_format(copy, formats, compression)
    if source is None or source.support.read is None:
        _say(shown_as(problem or f"{path}: its format cannot be read", path, copy))
        return 1
    # A directory (the input's by default; the current one for a pipe) lets the format name a
    # new file, as sessions do.
    output = Path(args.output) if args.output else (path.parent if copy == path else Path("."))
    into_directory = output.is_dir() or str(args.output or "").endswith(os.sep)
    directory = output if into_directory else output.parent
    if not into_directory and output.exists() and not args.force:
        _say(f"{output} exists; pass --force to replace it")
        return 1
    try:
        with contextlib.ExitStack() as stack:
            plain = copy
            if compression is not None:
                damage: list[str] | None = [] if args.lenient else None
                plain = stack.enter_context(decompressed_copy(copy, compression, damage=damage))
                for problem in damage or ():  # a truncated part: what came before it is read
                    _say(shown_as(problem, path, copy))
            try:
                written, count, skipped = _convert(plain, source, target_format, directory, args)
            except ValueError as exc:  # the reader's message names file:line
                raise TraceInputError(shown_as(str(exc), path, plain)) from None
    except OSError as exc:
        where = exc.filename if exc.filename is not None else directory
        _say(f"{where}: {exc.strerror or exc}")
        return 1
    try:
        final = written.parent.parent / written.name if into_directory else output
        if into_directory and final.exists():  # timestamped names: only by a clash of clocks
            raise FileExistsError(errno.EEXIST, "exists", str(final))
        os.replace(written, final)
    except OSError as exc:
        _say(f"{exc.filename or output}: cannot write: {exc.strerror or exc}")
        return 1
    finally:
        shutil.rmtree(written.parent, ignore_errors=True)
    note = f"; {len(skipped)} unreadable line{'' if len(skipped) == 1 else 's'} skipped"
    print(
        escape(
            f"{final}: {count} event{'' if count == 1 else 's'} from {path} ({source.name}) "
            f"written as {args.to}{note if skipped else ''}"
        )
    )
    return 0


def _convert(
    path: Path, source: Any, target: Any, directory: Path, args: argparse.Namespace
) -> tuple[Path, int, list[str]]:
    """Writes the converted file into a private temporary directory inside ``directory`` (so the
    file is the target format's, with its name and mode from the first byte, and the rename into
    place is atomic); returns its path, the events written and the lines skipped. On any failure
    the temporary directory is removed, so nothing partial is left."""
    import shutil
    import tempfile

    from llmlog.safefiles import make_private_dirs

    make_private_dirs(directory)
    scratch = Path(tempfile.mkdtemp(prefix=".llmlog-convert-", dir=directory))
    skipped: list[str] = []
    count = 0
    try:
        options = target.options() if target.options is not None else None
        writer = open_trace_writer(target, options, scratch)
        try:
            for event in source.support.read(path, skipped=skipped if args.lenient else None):
                writer.write(event)
                count += 1
        finally:
            writer.close()
        written = Path(getattr(writer, "path", ""))
        if written.parent != scratch or not written.is_file():
            raise OSError(errno.ENOENT, "the format wrote no file", str(directory))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return written, count, skipped
