"""Write the benchmark tables of ``docs/performance.md`` from the results files, so the page cannot
drift from what the benchmarks measured.

The page holds marked blocks::

    <!-- begin generated: core (bench/render.py; do not edit) -->
    ...
    <!-- end generated: core -->

and this script replaces what is between the markers of each block with the tables it renders
from ``bench/published/<results>.json`` (what ``nox -s perfdoc`` writes: the four hot-path
benchmarks run, then this script). Everything outside the markers is left as it is. Every block
says when, on what and under what load its figures were measured. Run::

    .venv/bin/python bench/render.py            # rewrite the page from bench/published/
    .venv/bin/python bench/render.py --check    # exit 1 if the page is not what it would write

Only the standard library is used: ``tests/test_perfdoc.py`` imports this module.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "performance.md"
PUBLISHED = ROOT / "bench" / "published"

Results = Mapping[str, Any]

_BLOCK = re.compile(
    r"(?P<begin><!-- begin generated: (?P<name>[\w-]+) [^\n]*-->\n)"
    r"(?P<body>.*?)"
    r"(?P<end><!-- end generated: (?P=name) -->)",
    re.S,
)


# -- numbers -------------------------------------------------------------------------------------


def ns(figure: Mapping[str, Any]) -> str:
    """``1,234 [1,180–1,300]``: a figure's median and p10–p90, whole units."""
    return f"{figure['median']:,.0f} [{figure['p10']:,.0f}–{figure['p90']:,.0f}]"


def ms(figure: Mapping[str, Any]) -> str:
    """``95.2 [90.1–99.8]``: a figure in milliseconds, median and p10–p90, one decimal."""
    return f"{figure['median']:,.1f} [{figure['p10']:,.1f}–{figure['p90']:,.1f}]"


def times(ratio: Mapping[str, Any]) -> str:
    """``2.05× [1.98–2.10]``: a per-round ratio's median and min–max."""
    return f"{ratio['median']:.2f}× [{ratio['min']:.2f}–{ratio['max']:.2f}]"


def bold(text: str) -> str:
    return f"**{text}**"


def table(header: list[str], align: str, rows: list[list[str]]) -> str:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    marks = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


#: The count each benchmark runs per sample, and its name.
_PER_SAMPLE = {"calls": "calls", "events": "events", "pairs": "span pairs"}


def _load(values: list[float] | None) -> str:
    return f"{values[0]:.2f}" if values else "unknown"


def measured(results: Results, unit: str) -> str:
    """The sentence saying when, on what and under what load a results file was measured."""
    env, config = results["environment"], results["config"]
    count = next((f"{config[k]:,} {name}" for k, name in _PER_SAMPLE.items() if k in config), "")
    extra = ""
    if config.get("ring_mib"):
        extra += f", a ring of {config['ring_mib']} MiB"
    if config.get("distinct"):
        extra += f", {config['distinct']:,} distinct events repeated"
    return (
        f"Measured {env['date']} by `bench/{results['benchmark']}` ({config['rounds']} rounds × "
        f"{config['samples']} samples × {count}{extra}), {env['implementation']} {env['python']}, "
        f"{env['machine']}, {env['cpus']} CPUs, load {_load(env.get('load_before'))} before and "
        f"{_load(env.get('load_after'))} after (1-minute average). Figures ({unit}) are medians "
        f'with [p10–p90] over all samples; a ratio ("÷ X") is a figure divided by X\'s in the '
        f"same round (both measured under the same load), as median [min–max] over the rounds."
    )


# -- the blocks ----------------------------------------------------------------------------------


PEERS = ("json.stdlib", "json.structlog", "json.loguru")


def render_core(core: Results) -> str:
    f, r = core["ns_per_call"], core["ratios"]
    filtered = [
        ("empty Python function, same arguments", "baseline"),
        (bold("llmlog"), "llmlog"),
        ('stdlib `logging`, `logger.debug("cache miss %s %d %s", a, b, c)`', "stdlib"),
        ("structlog, `make_filtering_bound_logger(INFO)`, cached", "structlog"),
        ("loguru", "loguru"),
    ]
    first = table(
        ["filtered call (DEBUG at level INFO, three values)", "ns/call", "÷ structlog", "÷ stdlib"],
        "lrrr",
        [
            [
                label,
                ns(f[f"filtered.{key}"]),
                times(r[f"filtered.{key}/structlog"]),
                times(r[f"filtered.{key}/stdlib"]),
            ]
            for label, key in filtered
        ],
    )
    memory = [
        ("bare `orjson.dumps` of a prebuilt dict (encoding only)", "json.baseline", True),
        ("floor: the same record built by hand", "floor.baseline", False),
        (bold("llmlog"), "json.llmlog", True),
        ("stdlib `logging`", "json.stdlib", True),
        ("structlog", "json.structlog", True),
        ("loguru", "json.loguru", True),
    ]
    second = table(
        ["enabled JSON entry to an in-memory sink", "ns/entry", "÷ floor", "÷ llmlog"],
        "lrrr",
        [
            [
                label,
                ns(f[key]),
                times(r[f"{key}/floor"]) if has_ratio else "1",
                "1" if key == "json.llmlog" else times(r[key + "/llmlog"]) if key in PEERS else "–",
            ]
            for label, key, has_ratio in memory
        ],
    )
    return "\n\n".join([measured(core, "ns per call"), first, second])


#: Issue 18's targets for llmlog / floor, by how entries are written.
FLOOR_TARGETS = {"write": "≤ 1.3×", "buffered": "≤ 1.4×"}


def render_floors(core: Results) -> str:
    f, r = core["ns_per_call"], core["ratios"]
    rows = []
    for fmt in ("json", "text", "logfmt"):
        for mode, label in (("write", "one write per entry"), ("buffered", "buffered, 64 KiB")):
            key = f"file.{fmt}.{mode}"
            rows.append(
                [
                    f"`{fmt}`, {label}",
                    ns(f[f"{key}.floor"]),
                    ns(f[f"{key}.llmlog"]),
                    bold(times(r[f"{key}.llmlog/floor"])),
                    FLOOR_TARGETS[mode],
                ]
            )
    return "\n\n".join(
        [
            measured(core, "ns per entry"),
            table(
                [
                    "entry to a file",
                    "floor (by hand), ns/entry",
                    "llmlog, ns/entry",
                    "llmlog ÷ floor",
                    "issue 18 target",
                ],
                "lrrrr",
                rows,
            ),
        ]
    )


def render_file(results: Results) -> str:
    f, r = results["ns_per_entry"], results["ratios"]

    def rows(group: str, names: list[tuple[str, str]], floor: str) -> list[list[str]]:
        out = [["floor: the same record built by hand", ns(f[floor]), "1", "–"]]
        for label, name in names:
            out.append(
                [
                    label,
                    ns(f[name]),
                    times(r[f"{group}.{name}/floor"]),
                    "1" if name.startswith("llmlog") else times(r[f"{group}.{name}/llmlog"]),
                ]
            )
        return out

    header = ["", "ns/entry", "÷ floor", "÷ llmlog"]
    write = table(
        ["one write per entry", *header[1:]],
        "lrrr",
        rows(
            "write",
            [
                (
                    "bare `orjson.dumps` of a prebuilt dict + `os.write` (reference)",
                    "bare dumps + os.write",
                ),
                (bold("llmlog"), "llmlog, write per entry"),
                ("structlog, `BytesLogger`, unbuffered file", "structlog, write per entry"),
                ("stdlib `FileHandler` + orjson formatter", "stdlib FileHandler JSON"),
                ("loguru `serialize=True`", "loguru serialize=True"),
            ],
            "floor, write per entry",
        ),
    )
    rotation = table(
        ["rotation on", "ns/entry", "÷ llmlog without rotation"],
        "lrr",
        [
            [label, ns(f[name]), times(r[f"rotation.{name}/llmlog"])]
            for label, name in (
                (bold("llmlog") + ", `max_bytes = 10 MiB`", "llmlog, rotation on"),
                ("stdlib `RotatingFileHandler`, text", "stdlib RotatingFileHandler text"),
                ("stdlib `RotatingFileHandler`, JSON", "stdlib RotatingFileHandler JSON"),
            )
        ],
    )
    buffered = table(
        ["buffered (64 KiB)", *header[1:]],
        "lrrr",
        rows(
            "buffered",
            [
                (
                    "bare `orjson.dumps` of a prebuilt dict + buffered `write` (reference)",
                    "bare dumps + buffered write",
                ),
                (bold("llmlog") + ", `buffer_size = 65536`", "llmlog, buffered 64 KiB"),
                ("structlog, buffered file, a writer that does not flush", "structlog, buffered"),
            ],
            "floor, buffered",
        ),
    )
    t = results["threads_lines_per_s"]
    threads = table(
        ["4 threads, one file", "lines/s", "÷ structlog"],
        "lrr",
        [
            [bold("llmlog"), ns(t["llmlog"]), times(r["threads.llmlog/structlog"])],
            [
                "structlog (same processors), `BytesLogger`, unbuffered file",
                ns(t["structlog"]),
                "1",
            ],
        ],
    )
    return "\n\n".join(
        [measured(results, "ns per entry and lines per second"), write, rotation, buffered, threads]
    )


def render_flight(results: Results) -> str:
    f, r = results["figures"], results["ratios"]
    stored = results["stored_bytes_per_event"]["zstd"]
    snapshots = results["snapshots"]
    rows = [
        [
            "ordinary event, `zstd`, background sealing",
            ns(f["zstd writer ns/event"]) + " ns",
            "≤ 2,000 ns",
        ],
        ["ordinary event, `memory`", ns(f["memory writer ns/event"]) + " ns", "≤ 1,500 ns"],
        [
            "stored bytes per ordinary event, `zstd` (synthetic text compresses very well)",
            f"{stored['median']:.1f} B",
            "≤ 250 B",
        ],
        [
            "`trace_region` with no recorder, minus an empty `with` block",
            ns(f["trace_region off minus empty with ns"]) + " ns",
            "≤ 100 ns",
        ],
        [
            "`trace_region` with the recorder running",
            ns(f["trace_region on ns"]) + " ns",
            "≤ 2,000 ns",
        ],
        [
            "DEBUG log call that only the recorder takes (every output at INFO), `zstd`",
            ns(f["DEBUG log to recorder, outputs INFO ns"]) + " ns",
            "",
        ],
        [
            "the same, `memory` (the default backend)",
            ns(f["DEBUG log to recorder (memory), outputs INFO ns"]) + " ns",
            "",
        ],
        [
            "its floor: the same event built, encoded and appended by hand",
            ns(f["DEBUG floor: event by hand ns"]) + " ns",
            "",
        ],
        [
            bold("DEBUG to the recorder ÷ its floor, `zstd`"),
            bold(times(r["DEBUG to recorder/floor"])),
            "≤ 1.2× (issue 18)",
        ],
        [
            bold("DEBUG to the recorder ÷ its floor, `memory`"),
            bold(times(r["DEBUG to recorder (memory)/floor"])),
            "≤ 1.2× (issue 18)",
        ],
        *(
            row
            for backend, snap in snapshots.items()
            for row in (
                [
                    f"native snapshot of {snap['raw_bytes'] / 1e6:,.0f} MB raw history, "
                    f"`{backend}` ({snap['file_bytes'] / 1e6:,.1f} MB file, written and synced)",
                    f"{ms(snap['ms'])} ms",
                    "< 100 ms" + (" (issue 18)" if backend == "memory" else ""),
                ],
                [
                    "its floor: the same bytes written, synced and renamed by hand",
                    f"{ms(snap['floor_ms'])} ms",
                    "",
                ],
            )
        ),
        [
            "reference: `orjson.dumps` of the event / deque append of a tuple",
            f"{ns(f['orjson.dumps ns/event'])} / {ns(f['deque.append tuple ns/event'])} ns",
            "",
        ],
    ]
    return "\n\n".join(
        [measured(results, "times"), table(["case", "measured", "target"], "lrr", rows)]
    )


def render_trace(results: Results) -> str:
    rate, cost = results["events_per_second"], results["ns_per_event"]
    labels = {
        "emit_span_start/end": "`session.emit_span_start/emit_span_end`",
        "llmlog.span": "`with llmlog.span(...)`",
        "emit, buffer_size=0": "`session.emit_span_start/emit_span_end`, `buffer_size = 0`",
    }
    return "\n\n".join(
        [
            measured(results, "rates and times"),
            table(
                ["path", "events/s", "ns/event"],
                "lrr",
                [[label, ns(rate[key]), ns(cost[key])] for key, label in labels.items()],
            ),
        ]
    )


#: Block name -> (results file, renderer).
BLOCKS: dict[str, tuple[str, Callable[[Results], str]]] = {
    "core": ("core.json", render_core),
    "floors": ("core.json", render_floors),
    "file": ("file.json", render_file),
    "flight": ("flight.json", render_flight),
    "trace": ("trace.json", render_trace),
}


# -- the page ------------------------------------------------------------------------------------


def load(directory: Path) -> dict[str, Results]:
    """The results files of ``directory`` that the blocks need, by file name."""
    out = {}
    for name in sorted({file for file, _ in BLOCKS.values()}):
        path = directory / name
        if path.exists():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def render(page: str, results: Mapping[str, Results]) -> str:
    """``page`` with every generated block rewritten from ``results`` (file name -> results).

    :raises KeyError: on a block this script does not know, or whose results file is missing.
    """

    def block(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise KeyError(f"unknown generated block {name!r} (known: {', '.join(BLOCKS)})")
        file, renderer = BLOCKS[name]
        if file not in results:
            raise KeyError(f"block {name!r} needs {file}, which is missing")
        return f"{match['begin']}{renderer(results[file])}\n{match['end']}"

    return _BLOCK.sub(block, page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=PUBLISHED, help="the results directory")
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page would change")
    args = parser.parse_args(argv)
    page = args.page.read_text(encoding="utf-8")
    new = render(page, load(args.results))
    if args.check:
        if new != page:
            print(f"{args.page} is not what bench/render.py writes: run it", file=sys.stderr)
            return 1
        return 0
    if new != page:
        args.page.write_text(new, encoding="utf-8")
        print(f"wrote {args.page}")
    else:
        print(f"{args.page} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
