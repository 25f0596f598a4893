"""``llmlog report``: how fast a report is written, how big it is, and how soon the page is
usable in headless Chromium.

Traces are written through a real trace session (the ``dspy`` format):

* a *typical* run: examples of ``evaluate > Predict:qa`` (an LLM call with a ~1.5 KB prompt of
  varied text as chat messages, a response) and a ``Tool:search`` span, until the file reaches the
  target size; the report keeps every content;
* runs of 1,000 and 100,000 spans (a root and its children, short contents).

Figures: generation in MB of input per second (``load_run`` + ``write_report`` in a fresh process,
after the plugin host is loaded, which every command pays once whatever its input: reported
apart; with the process's peak RSS, and the CPU seconds it and the child it forks for a large
run spent), the HTML's size over the input's, and the time to interactive: from the
navigation's start to the page's tree drawn and answering (``window.llmlogReady``), in Debian's
Chromium driven by Playwright, opened from ``file://``. Several samples of each, with their range,
and the load average while measuring. Run::

    .venv/bin/python bench/bench_report.py            # 50 MB typical; bench/results/report.json
    .venv/bin/python bench/bench_report.py --quick    # a smoke run: 5 MB, 10,000 spans
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import llmlog
from llmlog_report_html.screenshots import CHROMIUM, CHROMIUM_ARGS

_VOCABULARY = (
    "the a of to and in is it that for on with as was at by an be this which from or have not are "
    "model answer question context retrieve document passage score capital city river country "
    "population year paris rome berlin madrid london tokyo summary reason step evidence claim "
    "source search result tool call json field value output input user system assistant"
)
WORDS = _VOCABULARY.split()


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def typical_trace(path: Path, target_bytes: int) -> Path:
    rng = random.Random(17)
    system = "You are a careful assistant. " + text(rng, 60)
    with llmlog.new_trace_session(path, format="dspy") as session:
        n = 0
        while True:
            with llmlog.span("evaluate", inputs={"example": n}) as root:
                question = text(rng, 20) + "?"
                with llmlog.span("Predict:qa", inputs={"question": question}):
                    llmlog.record_llm_call(
                        model=rng.choice(["gpt-4o-mini", "gpt-4o", "claude-3-haiku"]),
                        provider="openai",
                        prompt=[
                            {"role": "system", "content": system},
                            {"role": "user", "content": text(rng, 180)},
                        ],
                        response=text(rng, 40),
                        usage={
                            "prompt_tokens": rng.randint(300, 500),
                            "completion_tokens": rng.randint(10, 60),
                            "cost": rng.random() / 1000,
                        },
                        latency_ms=rng.randint(100, 900),
                    )
                with llmlog.span("Tool:search", inputs={"query": question}) as tool:
                    tool.set_outputs(results=[text(rng, 12) for _ in range(3)])
                root.set_outputs(score=rng.random())
            n += 1
            if n % 100 == 0 and path.stat().st_size >= target_bytes:
                break
    assert session.path is not None
    return session.path


def many_spans(path: Path, spans: int) -> Path:
    """``spans`` spans: roots of 10 children each, every fifth child with an LLM call."""
    with llmlog.new_trace_session(path, format="dspy") as session:
        n = 0
        while n < spans:
            with llmlog.span(f"example {n // 11}"):
                n += 1
                for k in range(10):
                    with llmlog.span(f"step {k}", inputs={"k": k}):
                        if k % 5 == 0:
                            llmlog.record_llm_call(
                                model="gpt-4o-mini",
                                prompt=f"prompt {n} {k}",
                                response="ok",
                                usage={"prompt_tokens": 20, "completion_tokens": 2},
                                latency_ms=50,
                            )
                    n += 1
    assert session.path is not None
    return session.path


def generate(trace: Path, out: Path) -> dict[str, float]:
    """Seconds to read ``trace`` and write the report, in a fresh process, and its peak RSS."""
    script = (
        "import resource, sys, time\n"
        "from llmlog.ext import plugin_host\n"
        "from llmlog_report_html import load_run, write_report\n"
        "def cpu(who):\n"
        "    u = resource.getrusage(who)\n"
        "    return u.ru_utime + u.ru_stime\n"
        "s = time.perf_counter()\n"
        "plugin_host()\n"  # loading the plugins: once per command, whatever the input
        "t = time.perf_counter()\n"
        "c = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)\n"
        "run = load_run([sys.argv[1]])\n"
        "r = time.perf_counter()\n"
        "write_report(run, sys.argv[2])\n"
        "e = time.perf_counter()\n"
        "own = cpu(resource.RUSAGE_SELF) - c[0]\n"
        "children = cpu(resource.RUSAGE_CHILDREN) - c[1]\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(r - t, e - t, t - s, rss, own, children)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(trace), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    read, total, start, rss, own, children = (float(x) for x in done.stdout.split())
    return {
        "read_s": read,
        "total_s": total,
        "plugins_s": start,
        "peak_rss_mib": rss,
        # CPU seconds of this process and of the children it forked (a large run is read and
        # packed in two processes): what the machine's load does not change much.
        "cpu_s": own,
        "children_cpu_s": children,
    }


def time_to_interactive(page_path: Path, samples: int) -> list[float]:
    """Seconds from navigation start to the tree drawn, per sample (a fresh tab each)."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(samples):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.route(
                "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
            )
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            ready_ms = page.evaluate("window.llmlogReady")
            assert page.locator("#tree .row").count() > 0
            out.append(ready_ms / 1000)
            page.close()
        browser.close()
    return out


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "samples": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=50.0, help="size of the typical trace")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "report.json"))
    args = parser.parse_args()
    llmlog.configure({"outputs": {}})
    mb = 5.0 if args.quick else args.mb
    samples = 2 if args.quick else args.samples
    big = 10_000 if args.quick else 100_000
    results: dict[str, object] = {"load_before": os.getloadavg()}
    print(f"Python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f}\n")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cases = {
            f"typical {mb:.0f} MB": typical_trace(directory / "typical.jsonl", int(mb * 1e6)),
            "1,000 spans": many_spans(directory / "small.jsonl", 1_000),
            f"{big:,} spans": many_spans(directory / "big.jsonl", big),
        }
        for name, trace in cases.items():
            out = directory / (trace.stem + ".html")
            runs = [generate(trace, out) for _ in range(1 if args.quick else 3)]
            size_in = trace.stat().st_size
            size_out = out.stat().st_size
            total = [r["total_s"] for r in runs]
            rate = [size_in / 1e6 / t for t in total]
            figures: dict[str, object] = {
                "input_mb": size_in / 1e6,
                "html_mb": size_out / 1e6,
                "html_over_input": size_out / size_in,
                "generation_s": summary(total),
                "generation_mb_per_s": summary(rate),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                "cpu_s": summary([r["cpu_s"] for r in runs]),
                "children_cpu_s": summary([r["children_cpu_s"] for r in runs]),
                "plugins_s": statistics.median(r["plugins_s"] for r in runs),
            }
            line = (
                f"  {name:16} {size_in / 1e6:7.1f} MB in, HTML {size_out / size_in:5.1%} of it; "
                f"written in {statistics.median(total):5.2f} s ({statistics.median(rate):5.1f} MB/s, "
                f"{min(rate):.1f}-{max(rate):.1f}), peak RSS {figures['peak_rss_mib']:.0f} MiB, "
                f"CPU {statistics.median(r['cpu_s'] for r in runs):.2f} s + "
                f"{statistics.median(r['children_cpu_s'] for r in runs):.2f} s in a child"
            )
            if Path(CHROMIUM).exists():
                tti = time_to_interactive(out, samples)
                figures["time_to_interactive_s"] = summary(tti)
                line += (
                    f"; interactive in {statistics.median(tti):.2f} s "
                    f"({min(tti):.2f}-{max(tti):.2f}, {len(tti)} samples)"
                )
            results[name] = figures
            print(line)
    results["load_after"] = os.getloadavg()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
