"""The report page: one HTML file holding the run's data and the viewer.

The data is JSON, compressed with zlib (``deflate``) and embedded as base64 text in inert
``<script type="application/octet-stream">`` elements, which the page decodes with the browser's
``DecompressionStream`` (Chromium, Firefox 113+, Safari 16.4+): base64 holds no ``<``, so no text
of the run can close an element or start markup. The skeleton (the tree: names, times, tokens,
cost, errors, as columns) is one blob, read when the page opens; the content of the nodes
(prompts, responses, inputs, outputs, code, fields) is split into chunks of about
:data:`CHUNK_BYTES`, each decoded only when a node in it is opened or searched.

Before anything is embedded, every text goes through llmlog's :class:`~llmlog.ext.Sanitizer`:
secrets redacted (by key and by value) and each string capped at ``max_field`` characters with
an explicit ``…[truncated N chars]`` marker. ``no_content`` leaves the content out altogether
(names, times, tokens, cost and errors stay). ``max_size`` bounds the file: the largest contents
are cut first, and what was cut is said in the page and returned.

The page's Content-Security-Policy is ``default-src 'none'``, with the viewer's own script and
style allowed by their SHA-256 hashes and ``data:`` images: it cannot load or send anything, and
no other script or inline handler would run.
"""

from __future__ import annotations

import base64
import contextlib
import html
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import orjson

from llmlog.ext import Sanitizer, serializer
from llmlog_report_html.model import KINDS, Node, Run, gc_paused
from llmlog_report_html.processes import Child, parallel_ok

__all__ = [
    "CHUNK_BYTES",
    "CSP",
    "ReportOptions",
    "ReportResult",
    "csp",
    "render_html",
    "report_data",
    "write_report",
]

#: About how many bytes of JSON content go into one lazily decoded chunk.
CHUNK_BYTES = 256 * 1024
#: The page's Content-Security-Policy: nothing can be fetched, sent or framed, and only the
#: page's own script and style element run (by their hashes, filled in by :func:`csp`): a script
#: or inline handler that text of the run could ever smuggle into the page would not.
CSP = (
    "default-src 'none'; script-src '{script}'; style-src '{style}'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _hash(text: str) -> str:
    import hashlib

    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def csp() -> str:
    """The page's Content-Security-Policy, with the hashes of the viewer's script and style."""
    return CSP.format(script=_hash(_asset("report.js")), style=_hash(_asset("report.css")))


#: zlib level: 1 compresses a typical trace's content JSON to 24.6% in 0.26 s for 23 MB, level 4
#: to 21.6% in 0.36 s and zlib's default 6 to 19% in over 1 s (bench/bench_report.py's typical
#: run, 2026-12-06): the page stays near 17% of the input, well under its 40%.
_LEVEL = 1


@attrs.frozen(kw_only=True)
class ReportOptions:
    """How a report is written.

    :param title: the page's title (default: the first input's name).
    :param no_content: leave out prompts, responses, messages, inputs, outputs, code, locals and
        fields; names, times, tokens, cost and errors are kept (safe to attach to a CI run).
    :param max_field: longest string kept, in characters; longer ones are cut with a marker.
    :param max_size: the largest HTML file wanted, in bytes (``None``: no limit); the largest
        contents are left out first, and what was cut is said.
    :param redact: redact secrets (by key and by value) before embedding.
    """

    title: str = ""
    no_content: bool = False
    max_field: int = 65_536
    max_size: int | None = None
    redact: bool = True


@attrs.frozen
class ReportResult:
    """What :func:`write_report` wrote: the path, its size and what was cut to fit."""

    path: Path | None
    size: int
    nodes: int
    #: Contents left out to meet ``max_size`` (0 when none), and their JSON size in bytes.
    cut_contents: int = 0
    cut_bytes: int = 0
    #: True when the page is larger than ``max_size`` even with every content left out.
    over_budget: bool = False


def _asset(name: str) -> str:
    return resources.files("llmlog_report_html").joinpath("assets", name).read_text("utf-8")


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        # A lone surrogate, an integer past 64 bits, a value orjson cannot encode: the slow path
        # writes each as text and never fails.
        return serializer.dumps(value)


def _pack(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw, _LEVEL)).decode("ascii")


@attrs.define
class _Cleaned:
    """The nodes' texts as the page gets them: names, errors and contents redacted and capped
    (the run itself is left as it was). ``contents`` is changed in place to meet ``max_size``;
    a content cleaned by another process is missing from it (``None``, or past its end): see
    :meth:`content`."""

    names: list[str]
    errors: list[str | None]
    contents: list[dict[str, Any] | None]

    def content(self, run: Run, index: int, sanitizer: Sanitizer) -> dict[str, Any]:
        """Node ``index``'s content as cleaned, cleaning it here if another process did."""
        found = self.contents[index] if index < len(self.contents) else None
        if found is None:
            raw = run.nodes[index].content
            found = dict(sanitizer.fields(raw)) if raw else {}
        return found


def _sanitizer(options: ReportOptions) -> Sanitizer:
    return Sanitizer(redact=options.redact, max_string_length=options.max_field)


def _clean_nodes(
    run: Run, options: ReportOptions, *, contents: bool = True
) -> tuple[_Cleaned, Sanitizer]:
    """Names, errors and (unless ``contents`` is false: :func:`_cleaned_chunks` does them)
    contents, cleaned."""
    sanitizer = _sanitizer(options)
    text = sanitizer.text
    fields = sanitizer.fields
    cap = options.max_field * 2
    nodes = run.nodes
    # A name cleans the same every time (names repeat: "step 3", a model's): once per name.
    seen: dict[str, str] = {}
    names = [
        seen[name] if (name := n.name) in seen else seen.setdefault(name, text(name[:cap]))
        for n in nodes
    ]
    errors = [text(n.error[:cap]) if n.error else None for n in nodes]
    if not contents:
        return _Cleaned(names, errors, []), sanitizer
    if options.no_content:
        cleaned: list[dict[str, Any] | None] = [{} for _ in nodes]
    else:
        cleaned = [dict(fields(n.content)) if n.content else {} for n in nodes]
    return _Cleaned(names, errors, cleaned), sanitizer


def _skeleton(
    run: Run, cleaned: _Cleaned, options: ReportOptions, sanitizer: Sanitizer
) -> dict[str, Any]:
    # The interned string table: each text's index is its place in first sight (in the order
    # of the columns below). Per column, its distinct texts in first-seen order are added, then
    # every value looked up: both loops in C (dict.fromkeys, map), for columns of 100,000 values
    # that hold a few distinct texts.
    table: dict[str, int] = {"": 0}

    def indexed(values: list[str]) -> list[int]:
        for value in dict.fromkeys(values):
            if value not in table:
                table[value] = len(table)
        return list(map(table.__getitem__, values))

    nodes = run.nodes
    starts = [n.start_ns for n in nodes]
    t0 = min((s for s in starts if s is not None), default=0)
    kinds = {kind: i for i, kind in enumerate(KINDS)}
    other = kinds["event"]
    # Milliseconds to the microsecond: round() to a whole number and a division, not round(x, 3),
    # which goes through decimal text (a third of the skeleton's time for 100,000 nodes).
    columns: dict[str, list[Any]] = {
        "id": [n.id for n in nodes],
        "parent": [n.parent for n in nodes],
        "kind": [kinds.get(n.kind, other) for n in nodes],
        "name": indexed(cleaned.names),
        "start": [round((s - t0) / 1000) / 1000 if s is not None else None for s in starts],
        "dur": [
            round(d * 1000) / 1000 if (d := n.duration_ms) is not None else None for n in nodes
        ],
        "err": cleaned.errors,
        "model": indexed([n.model for n in nodes]),
        "provider": indexed([n.provider for n in nodes]),
        "tin": [n.input_tokens for n in nodes],
        "tout": [n.output_tokens for n in nodes],
        "tcache": [n.cached_tokens for n in nodes],
        "treason": [n.reasoning_tokens for n in nodes],
        "cost": [n.cost for n in nodes],
        "csrc": indexed([n.cost_source for n in nodes]),
        "trace": [n.trace for n in nodes],
        "sev": indexed([n.severity for n in nodes]),
        "has": [],  # from each node's content size, once known: _has()
    }
    import llmlog

    final = run.final_answer
    final = sanitizer.value(final) if final is not None and not options.no_content else None
    flight = [_flight_header(h, sanitizer) for h in run.flight]
    return {
        "v": 1,
        "title": sanitizer.text(options.title or _default_title(run)),
        "tool": f"llmlog {llmlog.__version__}",
        "sources": [sanitizer.text(s) for s in run.sources],
        "formats": [sanitizer.text(f) for f in run.formats],
        "problems": [sanitizer.text(p) for p in run.problems[:50]],
        "problemCount": len(run.problems),
        "noContent": options.no_content,
        "maxField": options.max_field,
        "t0": t0,
        "traces": list(run.traces),
        "sessions": {} if options.no_content else dict(sanitizer.fields(run.sessions)),
        "flight": flight,
        "final": final,
        "hasFinal": run.final_answer is not None,
        "stats": [s.to_json() for s in run.model_stats()],
        "evals": _evaluations(run, cleaned, sanitizer),
        "kinds": list(KINDS),
        "strings": list(table),
        "nodes": columns,
    }


#: What the page shows of an evaluation run's ``evaluation`` (nothing else a file may hold).
_COUNTS = ("metric", "score", "examples", "passed", "failed", "errors")
#: Characters of an input, prediction or feedback excerpt in the evaluation table.
_EXCERPT = 160


def _excerpt(value: Any) -> str | None:
    """A value on one line (``k: v`` pairs for a mapping, whitespace folded), cut short; the
    page shows it through ``text()``, which makes control characters visible."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        text = ", ".join(
            f"{k}: {v if isinstance(v, str) else _json_text(v)}" for k, v in value.items()
        )
    else:
        text = value if isinstance(value, str) else _json_text(value)
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def _json_text(value: Any) -> str:
    return _dumps(value).decode("utf-8", "replace")


def _evaluations(run: Run, cleaned: _Cleaned, sanitizer: Sanitizer) -> list[dict[str, Any]]:
    """Each DSPy ``Evaluate`` run: its score and counts, and a row per example (its node, devset
    index, result, metric value, error, and excerpts of its inputs, prediction and feedback:
    ``None`` without content), for the page's Evaluation tab."""
    found = []
    for evaluation in run.evaluations():
        rows = []
        for index in evaluation.examples:
            node = run.nodes[index]
            result = node.evaluation or {}
            content = cleaned.content(run, index, sanitizer)
            outputs = content.get("outputs")
            outputs = outputs if isinstance(outputs, Mapping) else {}
            rows.append(
                {
                    "node": index,
                    "index": result.get("index"),
                    "passed": result.get("passed"),
                    "score": result.get("score"),
                    "error": result.get("error"),
                    "input": _excerpt(content.get("inputs")),
                    "prediction": _excerpt(outputs.get("prediction")),
                    "expected": _excerpt(outputs.get("expected")),
                    "feedback": _excerpt(outputs.get("feedback")),
                }
            )
        summary = evaluation.summary
        found.append(
            {
                **{key: _texts_cleaned(summary.get(key), sanitizer) for key in _COUNTS},
                "node": evaluation.node,
                "name": cleaned.names[evaluation.node],
                "rows": _texts_cleaned(rows, sanitizer),
            }
        )
    return found


def _flight_header(header: Mapping[str, Any], sanitizer: Sanitizer) -> dict[str, Any]:
    keys = ("reason", "created_ns", "pid", "host", "window", "drops", "config")
    return dict(sanitizer.fields({k: header[k] for k in keys if k in header}))


def _default_title(run: Run) -> str:
    if not run.sources:
        return "llmlog report"
    first = Path(run.sources[0]).name
    more = len(run.sources) - 1
    return f"{first} (+{more} more)" if more else first


#: From this many nodes a run's contents are cleaned in two parts, the second by a forked child
#: when a CPU is free (:func:`~llmlog_report_html.processes.parallel_ok`; below it, starting a
#: process costs more than it saves). A chunk always begins at the second part's first node, so
#: the page is the same bytes whichever process cleaned it.
PARALLEL_MIN_NODES = 8_000
#: Where the second part starts, as a fraction of the nodes: this process also builds the
#: skeleton while the child cleans.
_CONTENT_SPLIT_AT = 0.45


def content_split(count: int) -> int | None:
    """The node a run of ``count`` nodes is cleaned in two parts from (``None``: one part)."""
    return int(count * _CONTENT_SPLIT_AT) if count >= PARALLEL_MIN_NODES else None


_Chunked = tuple[list[int], list[bytes], list[int], list[Any]]


def _chunk_range(
    encoded: Iterable[bytes | None], first: int, pack: Callable[[bytes], Any]
) -> _Chunked:
    """The JSON of consecutive nodes' contents (``None``: no content) from node ``first`` on, in
    chunks of about :data:`CHUNK_BYTES`, each handed to ``pack`` as soon as it is complete:
    each chunk's first node, each chunk (an array with ``null`` for nodes without content),
    each node's content size and what ``pack`` returned for each chunk."""
    starts: list[int] = []
    chunks: list[bytes] = []
    sizes: list[int] = []
    packed: list[Any] = []
    parts: list[bytes] = []
    size = 0
    for index, data in enumerate(encoded, first):
        if not parts:
            starts.append(index)
        if data is None:
            sizes.append(0)
            data = b"null"
        else:
            sizes.append(len(data))
        parts.append(data)
        size += len(data)
        if size >= CHUNK_BYTES:
            chunks.append(b"[" + b",".join(parts) + b"]")
            packed.append(pack(chunks[-1]))
            parts, size = [], 0
    if parts:
        chunks.append(b"[" + b",".join(parts) + b"]")
        packed.append(pack(chunks[-1]))
    return starts, chunks, sizes, packed


def _joined(*parts: _Chunked) -> _Chunked:
    starts: list[int] = []
    chunks: list[bytes] = []
    sizes: list[int] = []
    packed: list[Any] = []
    for part in parts:
        starts += part[0]
        chunks += part[1]
        sizes += part[2]
        packed += part[3]
    return starts, chunks, sizes, packed


def _chunks(
    contents: Sequence[dict[str, Any] | None],
) -> tuple[list[int], list[bytes], list[int]]:
    """Cleaned contents split into chunks as the page holds them: each chunk's first node, each
    chunk's JSON and each node's content size."""
    encoded = [_dumps(content) if content else None for content in contents]
    split = content_split(len(contents))
    if split is None:
        parts = [_chunk_range(encoded, 0, bytes)]
    else:
        parts = [
            _chunk_range(encoded[:split], 0, bytes),
            _chunk_range(encoded[split:], split, bytes),
        ]
    starts, chunks, sizes, _ = _joined(*parts)
    return starts, chunks, sizes


def _cleaned_json(
    nodes: Sequence[Node], fields: Callable[[Any], Any], out: list[Any] | None
) -> Iterator[bytes | None]:
    """Each node's content cleaned (appended to ``out`` as a new dict, when given), as JSON."""
    for node in nodes:
        if node.content:
            content = fields(node.content)
            if out is not None:
                content = dict(content)
                out.append(content)
            yield _dumps(content) if content else None
        else:
            if out is not None:
                out.append({})
            yield None


def _second_part(run: Run, options: ReportOptions, split: int) -> tuple[Any, ...]:
    """What a forked child sends back: the contents from node ``split`` on, cleaned, chunked
    and packed (the chunks' first nodes, the nodes' content sizes, the packed chunks)."""
    fields = _sanitizer(options).fields
    starts, _, sizes, packed = _chunk_range(
        _cleaned_json(run.nodes[split:], fields, None), split, _pack
    )
    return starts, sizes, packed


def _cleaned_chunks(
    run: Run, options: ReportOptions, sanitizer: Sanitizer, pack: Callable[[bytes], Any]
) -> tuple[list[dict[str, Any] | None], Callable[[], _Chunked]]:
    """The contents cleaned and split into chunks as :func:`_chunks` splits them, each chunk
    handed to ``pack`` (a thread pool's ``submit``) as soon as it is complete: zlib lets go of
    the GIL, so the chunks are compressed on other threads while this one cleans the next
    contents.

    A large run's second part (:func:`content_split`) is cleaned, chunked and packed by a
    forked child, when a CPU is free, while this process cleans the first and then goes on
    (building the skeleton). Returns the contents cleaned so far (a node the child cleaned has
    none here) and a function that waits for the rest and returns the chunks' first nodes,
    the raw chunks (only those made here), each node's content size and, for each chunk, what
    ``pack`` returned or its packed text.
    """
    nodes = run.nodes
    fields = sanitizer.fields
    contents: list[dict[str, Any] | None] = []

    def part(lo: int, hi: int | None) -> _Chunked:
        chosen = nodes[lo:hi]
        if options.no_content:
            contents.extend({} for _ in chosen)
            return _chunk_range([None] * len(chosen), lo, pack)
        return _chunk_range(_cleaned_json(chosen, fields, contents), lo, pack)

    split = content_split(len(nodes))
    if split is None:
        whole = part(0, None)
        return contents, lambda: whole
    child = None
    # Under max_size any content may be cut afterwards: this process needs them all then.
    if options.max_size is None and not options.no_content and parallel_ok():
        with contextlib.suppress(OSError):  # no process to be had: this one cleans it all
            child = Child(lambda: _second_part(run, options, split))
    first = part(0, split)

    def rest() -> _Chunked:
        result = child.result() if child is not None else None
        if result is None:  # one process, or the child failed: this one cleans the rest
            return _joined(first, part(split, None))
        contents.extend([None] * (len(nodes) - split))
        return _joined(first, (result[0], [], result[1], result[2]))

    return contents, rest


def report_data(
    run: Run, options: ReportOptions | None = None, compare: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[bytes], list[int]]:
    """The page's data before packing: the skeleton, the content chunks (JSON) and each chunk's
    first node. For tests and the JSON download's shape."""
    options = options or ReportOptions()
    cleaned, sanitizer = _clean_nodes(run, options)
    skeleton = _skeleton(run, cleaned, options, sanitizer)
    starts, chunks, sizes = _chunks(cleaned.contents)
    skeleton["chunkStarts"] = starts
    skeleton["nodes"]["has"] = _has(sizes)
    if compare is not None:
        skeleton["compare"] = _compare_data(compare, options, sanitizer)
    return skeleton, chunks, starts


def _compare_data(
    compare: Mapping[str, Any], options: ReportOptions, sanitizer: Sanitizer
) -> dict[str, Any]:
    """A diff's page data, cleaned; without its prompt and output diffs under ``no_content``."""
    data = dict(compare)
    if options.no_content:
        data["nodes"] = [{**node, "prompt": [], "output": []} for node in compare.get("nodes", [])]
    return _texts_cleaned(data, sanitizer)  # type: ignore[no-any-return]


def render_html(
    run: Run, options: ReportOptions | None = None, compare: Mapping[str, Any] | None = None
) -> tuple[str, ReportResult]:
    """The report as one HTML document, and what was cut to meet ``max_size``.

    :param compare: a run diff's page data (:meth:`llmlog_report_html.diff.RunDiff.to_json`),
        shown in the page's Compare view.
    """
    with gc_paused():
        return _render_html(run, options or ReportOptions(), compare)


def _render_html(
    run: Run, options: ReportOptions, compare: Mapping[str, Any] | None
) -> tuple[str, ReportResult]:
    cleaned, sanitizer = _clean_nodes(run, options, contents=False)
    cut_contents = cut_bytes = 0
    over = False
    # zlib lets go of the GIL: each chunk is compressed on another thread as soon as it is
    # complete, while this one cleans the next contents and then builds the skeleton (the same
    # bytes, in order, as one thread would write).
    pool = ThreadPoolExecutor(2, thread_name_prefix="llmlog-report")
    try:
        contents, rest = _cleaned_chunks(
            run, options, sanitizer, lambda chunk: pool.submit(_pack, chunk)
        )
        cleaned.contents = contents
        skeleton = _skeleton(run, cleaned, options, sanitizer)
        if compare is not None:
            skeleton["compare"] = _compare_data(compare, options, sanitizer)
        chrome = _chrome(run, options)
        starts, chunks, sizes, packing = rest()
        skeleton["nodes"]["has"] = _has(sizes)
        # The child's chunks come packed already; this process's are being packed.
        packed_chunks = [p if isinstance(p, str) else p.result() for p in packing]
    finally:
        pool.shutdown(cancel_futures=True)
    for attempt in range(6):
        if attempt:
            starts, chunks, sizes = _chunks(contents)
            packed_chunks = [_pack(c) for c in chunks]
        skeleton["chunkStarts"] = starts
        skeleton["cut"] = (
            {"contents": cut_contents, "bytes": cut_bytes, "maxSize": options.max_size}
            if cut_contents
            else None
        )
        document = _document(skeleton, packed_chunks, chrome)
        # isascii() is a flag of the string: no encoding to count bytes of an ASCII page.
        size = len(document) if document.isascii() else len(document.encode("utf-8"))
        if options.max_size is None or size <= options.max_size:
            break
        # Leave out the largest contents until the estimate fits, then measure again.
        raw_total = sum(len(c) for c in chunks) or 1
        ratio = sum(len(p) for p in packed_chunks) / raw_total
        excess = size - options.max_size
        saved = 0.0
        order = sorted(range(len(contents)), key=lambda i: sizes[i], reverse=True)
        progress = False
        for index in order:
            if saved >= excess * 1.05 or sizes[index] == 0:
                break
            content = contents[index]
            if content is None or "_cut" in content:  # None: cleaned by a child, never here
                continue
            marker = {"_cut": f"{sizes[index]} bytes of content left out to meet --max-size"}
            contents[index] = marker
            saved += (sizes[index] - 70) * ratio
            cut_contents += 1
            cut_bytes += sizes[index]
            progress = True
        if not progress:
            over = True
            break
    else:
        over = options.max_size is not None and size > options.max_size
    return document, ReportResult(None, size, len(contents), cut_contents, cut_bytes, over)


def _has(sizes: list[int]) -> list[int]:
    """The skeleton's column of which nodes have content (a node's content JSON is empty for
    none)."""
    return [1 if size else 0 for size in sizes]


def _chrome(run: Run, options: ReportOptions) -> str | None:
    """The flight snapshots' own Chrome export (one file; several merged), packed; ``None``
    without snapshots or with ``no_content`` (its events carry the snapshot's texts)."""
    if not run.chrome or options.no_content:
        return None
    if len(run.chrome) == 1:
        merged = run.chrome[0]
    else:
        merged = {"traceEvents": [e for c in run.chrome for e in c.get("traceEvents", [])]}
    sanitizer = Sanitizer(redact=options.redact, max_string_length=options.max_field)
    return _pack(_dumps(_texts_cleaned(merged, sanitizer)))


def _texts_cleaned(value: Any, sanitizer: Sanitizer, depth: int = 0) -> Any:
    """``value`` with every string (keys kept) redacted and capped: the Chrome export's whole
    structure kept, however many events it has (a sanitizer walk stops at a bounded count)."""
    if isinstance(value, str):
        return sanitizer.text(value)
    if depth > 50:
        return None
    if isinstance(value, Mapping):
        return {k: _texts_cleaned(v, sanitizer, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_texts_cleaned(v, sanitizer, depth + 1) for v in value]
    return value


def _document(skeleton: dict[str, Any], chunks: list[str], chrome: str | None) -> str:
    title = html.escape(str(skeleton["title"]))
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{csp()}">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="generator" content="',
        html.escape(str(skeleton["tool"])),
        '">\n',
        f"<title>{title}</title>\n<style>",
        _asset("report.css"),
        "</style></head><body>\n",
        '<div id="app"><noscript>This report needs JavaScript.</noscript>',
        '<p id="loading">Loading the report…</p></div>\n',
        '<script type="application/octet-stream" id="llmlog-skeleton">',
        _pack(_dumps(skeleton)),
        "</script>\n",
    ]
    for number, chunk in enumerate(chunks):
        parts += [
            f'<script type="application/octet-stream" class="llmlog-chunk" data-n="{number}">',
            chunk,
            "</script>\n",
        ]
    if chrome is not None:
        parts += [
            '<script type="application/octet-stream" id="llmlog-chrome">',
            chrome,
            "</script>\n",
        ]
    parts += ["<script>", _asset("report.js"), "</script>\n</body></html>\n"]
    return "".join(parts)


def write_report(
    run: Run,
    path: str | Path,
    options: ReportOptions | None = None,
    compare: Mapping[str, Any] | None = None,
) -> ReportResult:
    """Write the report to ``path`` (owner-only, replaced atomically)."""
    from llmlog.ext import written_atomically

    document, result = render_html(run, options, compare)
    target = Path(path)
    data = document.encode("utf-8")
    with written_atomically(target) as fh:
        fh.write(data)
    return attrs.evolve(result, path=target)
