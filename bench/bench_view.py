"""``llmlog view --stats`` on big trace files: wall time and peak memory, dspy and rlm formats.

Writes a trace of realistic events (module spans, each with an LLM call carrying a ~1.5 KB prompt;
for rlm, iterations with a code block and a sub-call) through a real trace session until the file
reaches the target size, then runs the installed ``llmlog view --stats`` on it as a separate process,
at two sizes, so peak memory can be compared with file size. Run::

    .venv/bin/python bench/bench_view.py             # 100 MB and 25 MB; bench/results/view.json
    .venv/bin/python bench/bench_view.py --quick     # 10 MB and 2.5 MB
    .venv/bin/python bench/bench_view.py --small-mb 100 --mb 500   # issue 18's flatness check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import llmlog
from llmlog import TokenUsage

PROMPT = "You are a careful assistant. Answer with one word. " * 30  # ~1.5 KB


def write_trace(directory: Path, fmt: str, target_bytes: int) -> Path:
    session = llmlog.new_trace_session(directory, format=fmt)
    path = Path(session.writer.path)
    n = 0
    with session:
        while True:
            with llmlog.span(f"run {n}") as root:
                with llmlog.span("Predict:generate", inputs={"question": f"q{n}"}) as s:
                    session.emit_llm_call(
                        s.span_id,
                        "openai",
                        "gpt-4o-mini",
                        PROMPT,
                        f"```repl\nprint({n})\n```",
                        TokenUsage(400, 20, cost=0.0001),
                        350,
                    )
                with llmlog.span("execute", inputs={"code": f"print({n})"}) as ex:
                    with llmlog.span("llm_query") as q:
                        session.emit_llm_call(
                            q.span_id,
                            "openai",
                            "gpt-4o-mini",
                            "sub " + PROMPT[:300],
                            "ok",
                            TokenUsage(80, 2),
                            90,
                        )
                    session.emit_code_exec(ex.span_id, n, f"print({n})", f"{n}\n", "", {"n": n}, 3)
                root.set_outputs(answer=str(n))
            n += 1
            if n % 200 == 0 and path.stat().st_size >= target_bytes:
                break
    return path


def run_stats(path: Path) -> tuple[float, float, str]:
    """Seconds and peak RSS (MiB) of ``llmlog view --stats`` in a fresh process."""
    llmlog_bin = str(Path(sys.executable).with_name("llmlog"))
    script = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "elapsed = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(elapsed, rss, done.returncode)\n"
        "sys.stderr.write(done.stdout)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, llmlog_bin, "view", "--stats", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed, rss, code = done.stdout.split()
    assert code == "0", done.stderr
    return float(elapsed), float(rss), done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=100.0, help="the larger file's size")
    parser.add_argument(
        "--small-mb", type=float, default=None, help="the smaller file's size (default: a quarter)"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "view.json"))
    args = parser.parse_args()
    big = (10.0 if args.quick else args.mb) * 1e6
    results: dict[str, dict[str, float]] = {}
    print(f"Python {sys.version.split()[0]}; llmlog view --stats in a fresh process\n")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("dspy", "rlm"):
            small = big / 4 if args.small_mb is None or args.quick else args.small_mb * 1e6
            for size in (small, big):
                path = write_trace(Path(tmp), fmt, int(size))
                mb = path.stat().st_size / 1e6
                seconds, rss, stats = run_stats(path)
                assert ("spans:" in stats) if fmt == "dspy" else ("iterations" in stats), stats
                key = f"{fmt} {mb:.0f} MB"
                results[key] = {"seconds": seconds, "peak_rss_mib": rss, "file_mb": mb}
                print(f"  {key:14} {seconds:6.2f} s   peak RSS {rss:7.1f} MiB")
                os.unlink(path)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
