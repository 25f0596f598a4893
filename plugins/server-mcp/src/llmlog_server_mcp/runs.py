"""What the MCP server reads, and how: local runs confined to the configured directories.

Every tool of the server is a function here returning the JSON text of an ``llmlog.view/1``
document, the one the CLI's ``--json`` prints (the same functions build both: ``llmlog view
--json``, ``--stats``, ``--errors``, ``llmlog diff --json``), so an agent and a script see the
same rows. :class:`Library` is read-only and confined:

- a path is taken relative to a configured directory, or absolute inside one; a ``..``
  component is refused outright, and the real path (symbolic links resolved) must still be
  inside a configured directory: a link pointing out is refused;
- content is redacted as configured (``redact``, ``redact_keys``, ``redact_values``,
  ``redact_patterns``), strings are cut at ``max_field`` characters with the sanitizer's marker,
  and a document longer than ``max_output`` characters loses its last rows, says so in
  ``truncated`` and points ``next_offset`` at the first row left out.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from llmlog.ext import ComponentKind, PluginHost, Sanitizer, dumps_json, json_page

__all__ = ["Library", "OutsideError"]

#: Files a listing looks at, at most (a huge tree is cut, and the listing says so).
MAX_SCAN = 20_000
#: Directory levels a listing descends below a configured directory.
MAX_DEPTH = 6
#: Runs kept read between questions.
RUNS_CACHED = 4


class OutsideError(ValueError):
    """A path that is not inside the configured directories (or names no file there)."""


@attrs.define
class Library:
    """The configured directories and the limits of what the server returns.

    :param roots: the directories served (made absolute and resolved once).
    :param sanitizer: redaction as configured, strings cut at ``max_field``.
    :param max_output: the most characters one answer holds.
    """

    roots: list[Path]
    sanitizer: Sanitizer
    host: PluginHost
    max_output: int = 100_000
    #: Runs read lately, by (real path, modification time, size): an agent asks several
    #: questions of one run; a file that changed is read again.
    _cache: dict[tuple[str, int, int], Any] = attrs.Factory(dict)

    @classmethod
    def of(
        cls,
        directories: Sequence[str | os.PathLike[str]],
        *,
        sanitizer: Sanitizer,
        host: PluginHost,
        max_output: int = 100_000,
    ) -> Library:
        roots = []
        for directory in directories:
            root = Path(directory).expanduser().resolve()
            if not root.is_dir():
                raise OutsideError(f"{directory}: not a directory")
            roots.append(root)
        if not roots:
            raise OutsideError("no directory to serve")
        return cls(roots, sanitizer, host, max_output)

    # -- confinement ------------------------------------------------------------------------------

    def _inside(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def resolve(self, raw: str) -> Path:
        """The file or directory ``raw`` names, inside the configured directories.

        :raises OutsideError: for ``..``, a path outside them (a symbolic link pointing out
            included) or one that does not exist.
        """
        if not isinstance(raw, str) or not raw or "\x00" in raw:
            raise OutsideError("expected a path (as list_runs gives it)")
        given = Path(raw)
        if ".." in given.parts:
            raise OutsideError(f"{raw}: '..' is not allowed; give a path list_runs returned")
        candidates = [given] if given.is_absolute() else [root / given for root in self.roots]
        for candidate in candidates:
            # Lexically inside first (an absolute path elsewhere is refused without a look at
            # the file system), then really inside once every link is resolved.
            if not self._inside(Path(os.path.abspath(candidate))):
                continue
            try:
                real = candidate.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if not self._inside(real):
                raise OutsideError(f"{raw}: a link out of the configured directories")
            return real
        if given.is_absolute() and not self._inside(Path(os.path.abspath(given))):
            raise OutsideError(f"{raw}: outside the configured directories")
        raise OutsideError(f"{raw}: no such file in the configured directories")

    def run(self, path: Path) -> Any:
        """The run in ``path`` (a resolved file or directory), read leniently, from the cache
        while the file is unchanged."""
        from llmlog_report_html.load import load_run

        status = path.stat()
        key = (str(path), status.st_mtime_ns, status.st_size)
        run = self._cache.pop(key, None)
        if run is None:
            run = load_run([path], host=self.host, lenient=True)
        self._cache[key] = run  # the most recent last
        while len(self._cache) > RUNS_CACHED:
            del self._cache[next(iter(self._cache))]
        return run

    # -- answers ----------------------------------------------------------------------------------

    def capped(self, document: dict[str, Any]) -> str:
        """``document`` as JSON text of at most :attr:`max_output` characters: the last rows
        dropped until it fits, ``truncated`` saying how many and ``next_offset`` pointing at the
        first one dropped."""
        text = dumps_json(document, indent=True)
        if len(text) <= self.max_output:
            return text
        items = list(document.get("items") or ())
        kept = len(items)
        while kept > 0 and len(text) > self.max_output:
            # Drop in proportion to the excess, at least one row a round.
            kept = max(0, min(kept - 1, int(kept * self.max_output / len(text))))
            document = {
                **document,
                "items": items[:kept],
                "next_offset": int(document.get("offset") or 0) + kept,
                "truncated": {
                    "rows_left_out": len(items) - kept,
                    "reason": f"answer capped at {self.max_output} characters; ask again "
                    "with offset = next_offset, a smaller limit, or no_content",
                },
            }
            text = dumps_json(document, indent=True)
        if len(text) > self.max_output:
            # Even no row fits (a huge summary): the summary goes too.
            document = {**document, "summary": None}
            document["truncated"] = {
                "rows_left_out": len(items),
                "reason": f"answer capped at {self.max_output} characters; the summary left out",
            }
            text = dumps_json(document, indent=True)
        return text

    def _files(self) -> Iterator[tuple[Path, Path]]:
        """Every visible regular file under the roots (depth-limited, links that point out
        skipped), with its root."""
        seen = 0
        for root in self.roots:
            for directory, dirs, files in os.walk(root, followlinks=False):
                depth = len(Path(directory).relative_to(root).parts)
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and depth < MAX_DEPTH)
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    path = Path(directory) / name
                    try:
                        real = path.resolve(strict=True)
                        mode = real.stat().st_mode
                    except (OSError, RuntimeError):
                        continue
                    if not self._inside(real) or not stat.S_ISREG(mode):
                        continue
                    seen += 1
                    if seen > MAX_SCAN:
                        return
                    yield path, root

    def list_runs(self, search: str = "", limit: int = 100, offset: int = 0) -> str:
        """The traces, flight snapshots and JSON logs under the configured directories, newest
        first: path, what it is (its format), size and modification time."""
        from llmlog_command_export.rows import utc_time
        from llmlog_server_mcp.kinds import kind_of

        formats = self.host.components(ComponentKind.TRACE_FORMAT)
        rows: list[dict[str, Any]] = []
        for path, root in self._files():
            kind = kind_of(path, formats)
            if kind is None:
                continue
            status = path.stat()
            rows.append(
                {
                    "path": str(path),
                    "relative": str(path.relative_to(root)),
                    "kind": kind,
                    "size_bytes": status.st_size,
                    "modified": utc_time(status.st_mtime_ns),
                    "modified_ns": status.st_mtime_ns,
                }
            )
        rows.sort(key=lambda row: row["modified_ns"], reverse=True)
        summary = {"directories": [str(root) for root in self.roots], "runs": len(rows)}
        return self.capped(
            json_page(
                "list_runs",
                rows,
                source=[str(root) for root in self.roots],
                search=search or None,
                limit=limit,
                offset=offset,
                summary=summary,
                sanitizer=self.sanitizer,
            )
        )

    def _document(self, path: str, **options: Any) -> dict[str, Any]:
        from llmlog_command_export.commands import document_of

        return document_of(self.run(self.resolve(path)), {**options, "sanitizer": self.sanitizer})

    def show_trace(
        self, path: str, limit: int = 200, offset: int = 0, no_content: bool = False
    ) -> str:
        """The rows of one run (``llmlog view FILE --json``)."""
        return self.capped(self._document(path, limit=limit, offset=offset, no_content=no_content))

    def show_span(self, path: str, span_id: str) -> str:
        """One row of a run with its whole content (messages, inputs, outputs, code...) and the
        ids of its children."""
        from llmlog_command_export.rows import node_depths, row_of, trace_ids

        run = self.run(self.resolve(path))
        index = next((i for i, n in enumerate(run.nodes) if n.id == span_id), None)
        if index is None:
            raise OutsideError(f"{path}: no span {span_id!r} in this run")
        row = row_of(run, index, trace_ids(run)[index], node_depths(run)[index])
        row["content"] = run.nodes[index].content
        row["children"] = [n.id for n in run.nodes if n.parent == index]
        return self.capped(
            json_page("show_span", [row], source=run.sources, sanitizer=self.sanitizer)
        )

    def stats(self, path: str) -> str:
        """Tokens, cost, latency and errors per model, and the run's totals (``--stats``)."""
        return self.capped(self._document(path, view="stats"))

    def errors(self, path: str, limit: int = 100, offset: int = 0) -> str:
        """The rows of one run that failed (``--errors``)."""
        return self.capped(self._document(path, errors=True, limit=limit, offset=offset))

    def search(self, text: str, path: str = "", limit: int = 100, offset: int = 0) -> str:
        """The rows that mention ``text`` in one run (``path``) or in every run of the
        configured directories, each with its ``run``."""
        if not text:
            raise OutsideError("search: give the text to look for")
        if path:
            return self.capped(self._document(path, search=text, limit=limit, offset=offset))
        from llmlog_command_export.rows import run_rows
        from llmlog_report_html.load import ReportInputError
        from llmlog_server_mcp.kinds import kind_of

        formats = self.host.components(ComponentKind.TRACE_FORMAT)
        problems: list[str] = []

        def rows() -> Iterator[dict[str, Any]]:
            for file, _ in self._files():
                if kind_of(file, formats) is None:
                    continue
                try:
                    run = self.run(file.resolve())
                except ReportInputError as exc:
                    problems.append(str(exc))
                    continue
                for row in run_rows(run, rows="span"):
                    yield {"run": str(file), **row}

        document = json_page(
            "search",
            rows(),
            source=[str(root) for root in self.roots],
            search=text,
            limit=limit,
            offset=offset,
            sanitizer=self.sanitizer,
        )
        document["problems"] = [self.sanitizer.text(p) for p in problems]
        return self.capped(document)

    def diff(
        self, a: str, b: str, all_spans: bool = False, limit: int = 100, offset: int = 0
    ) -> str:
        """Two runs compared span by span (``llmlog diff A B --json``)."""
        from llmlog_report_html.commands import diff_document
        from llmlog_report_html.diff import diff_runs

        first, second = self.resolve(a), self.resolve(b)
        run_a, run_b = self.run(first), self.run(second)
        diff = diff_runs(run_a, run_b, str(first), str(second))
        return self.capped(
            diff_document(
                diff,
                show_same=all_spans,
                limit=limit,
                offset=offset,
                sanitizer=self.sanitizer,
                problems=[*run_a.problems, *run_b.problems],
            )
        )
