"""What tracing an OpenAI SDK call costs on the application thread: llmlog's OpenAI integration
against OpenInference's ``openinference-instrumentation-openai``, in the same run.

The fake provider (``tools/fake-provider``) runs in a process of its own, so its work is not on
the measured thread. Each round runs every variant in a fresh process (instrumentors patch the
SDK process-wide), in an order that rotates per round. A process warms up, then makes ``--calls``
passes of: one chat completion, one streamed chat completion read to its end, one tool-calling
completion; it checks afterwards that its variant recorded every call, so no variant wins by
dropping work.

Two figures per call, both on the calling thread:

- **CPU** (``time.thread_time_ns``): the CPU the application's thread spends per call. Waiting for
  the server is not CPU, so this leaves out the network and most of the load's noise: the
  issue's ratio is taken from it. A tracer's background threads (OpenTelemetry's batch
  processor) are not on the application's thread and not counted; llmlog writes its trace file on
  the calling thread (buffered), and that is counted.
- **wall** (``time.perf_counter_ns``): the whole call, server round trip included (noisier).

Variants: ``none`` (the SDK uninstrumented, the baseline); ``llmlog`` (``instrument()``, a
``dspy``-format trace file, content kept, redaction on, pricing by the cost chain);
``llmlog-no-stream-usage`` (the same with ``stream_usage = false``: the streamed call is not asked
for its usage, so the SDK parses no extra chunk, as with OpenInference, which does not ask);
``openinference`` (``OpenAIInstrumentor`` with the OpenTelemetry SDK as its docs recommend for
production: a ``BatchSpanProcessor``, here to an in-memory exporter; content captured, its
default). The ratio is llmlog's added CPU beyond ``none`` over OpenInference's beyond ``none``,
per round (both measured under the same load), as a median and range. The issue's target: at most
0.5. Run::

    .venv/bin/uv sync --all-packages --group bench --inexact     # OpenInference
    .venv/bin/python bench/bench_integrations.py                   # bench/results/integrations.json
    .venv/bin/python bench/bench_integrations.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Run, fmt_range, summary

VARIANTS = ["none", "llmlog", "llmlog-no-stream-usage", "openinference"]
CALLS_PER_PASS = 3
USER = [{"role": "user", "content": "what is the weather in Paris today"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

# -- the fake provider's process ---------------------------------------------------------------


def serve() -> None:
    """The fake provider, until stdin closes: prints its base URL first."""
    from llmlog_fake_provider import Answer, FakeOpenAI, ToolCall

    def reply(request: dict[str, Any]) -> Any:
        if request.get("tools"):
            return Answer(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
        return "It is sunny and warm in Paris today, with a light breeze from the west."

    with FakeOpenAI(reply, cached_tokens=4, reasoning_tokens=2) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


# -- the measured process -----------------------------------------------------------------------


def _setup(variant: str, workdir: Path) -> tuple[Any, Any]:
    """Instrument for ``variant``; returns (finish, recorded): ``finish()`` writes or exports what
    is pending, ``recorded()`` says how many calls were recorded."""
    if variant == "none":
        return (lambda: None), (lambda: None)
    if variant.startswith("llmlog"):
        import llmlog
        import llmlog_integration_openai

        llmlog.configure({"trace": {"format": "dspy", "dir": str(workdir)}, "outputs": {}})
        # llmlog-no-stream-usage: streams are not asked for their usage (no extra chunk for the
        # SDK to parse, and no tokens or cost for them): how much of llmlog's figure that is.
        usage = variant == "llmlog"
        llmlog_integration_openai.instrument(
            llmlog_integration_openai.OpenAIOptions(stream_usage=usage)
        )

        def calls() -> int:
            (path,) = workdir.glob("*.jsonl")
            return sum(b'"type":"llm_call"' in line for line in path.open("rb"))

        return llmlog_integration_openai.uninstrument, calls  # closes (flushes) the session
    if variant == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        OpenAIInstrumentor().instrument(tracer_provider=provider)
        return provider.force_flush, (lambda: len(exporter.get_finished_spans()))
    raise SystemExit(f"unknown variant {variant}")


def child(variant: str, base_url: str, passes: int, warmup: int) -> None:
    import openai

    with tempfile.TemporaryDirectory() as tmp:
        finish, recorded = _setup(variant, Path(tmp))
        client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
        create = client.chat.completions.create

        def one_pass() -> None:
            create(model="gpt-4o-mini", messages=USER, temperature=0.2)
            for _ in create(model="gpt-4o-mini", messages=USER, stream=True):
                pass
            create(model="gpt-4o-mini", messages=USER, tools=TOOLS)

        for _ in range(warmup):
            one_pass()
        cpu, wall = time.thread_time_ns, time.perf_counter_ns
        cpu_start, wall_start = cpu(), wall()
        for _ in range(passes):
            one_pass()
        finish()  # the timed part ends when the records are written or exported
        cpu_ns, wall_ns = cpu() - cpu_start, wall() - wall_start
        calls = passes * CALLS_PER_PASS
        count = recorded()
        expected = (passes + warmup) * CALLS_PER_PASS
        if count is not None and count < expected:
            raise SystemExit(f"{variant}: {count} calls recorded of {expected}")
        print(
            json.dumps(
                {
                    "cpu_us": cpu_ns / 1000 / calls,
                    "wall_us": wall_ns / 1000 / calls,
                    "recorded": count,
                }
            )
        )


# -- the parent ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--samples", type=int, default=3, help="processes per variant per round")
    parser.add_argument("--passes", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 rounds, 1 sample, 40 passes")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "integrations.json")
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.child:
        child(args.child, args.base_url, args.passes, args.warmup)
        return
    if args.quick:
        args.rounds, args.samples, args.passes = 3, 1, 40
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        run = Run(
            "integrations",
            rounds=args.rounds,
            samples=args.samples,
            passes=args.passes,
            calls_per_pass=CALLS_PER_PASS,
        )
        for r in range(args.rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for variant in order:
                for _ in range(args.samples):
                    done = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--child",
                            variant,
                            "--base-url",
                            base_url,
                            "--passes",
                            str(args.passes),
                            "--warmup",
                            str(args.warmup),
                        ],
                        capture_output=True,
                        text=True,
                        timeout=600,
                        env=dict(os.environ, PYTHONHASHSEED="0"),
                    )
                    if done.returncode != 0:
                        raise SystemExit(f"{variant} failed:\n{done.stderr}")
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    run.add(f"{variant} cpu", r, result["cpu_us"])
                    run.add(f"{variant} wall", r, result["wall_us"])
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(30)

    def added(variant: str, clock: str) -> list[float]:
        """Per round: the variant's median beyond none's median, in microseconds."""
        rounds = zip(run.samples[f"{variant} {clock}"], run.samples[f"none {clock}"], strict=True)
        return [statistics.median(a) - statistics.median(b) for a, b in rounds]

    figures = {f"{v} {c}": run.figure(f"{v} {c}") for v in VARIANTS for c in ("cpu", "wall")}
    added_figures = {
        f"{v} added {c}": summary(added(v, c))
        for v in ("llmlog", "openinference")
        for c in ("cpu", "wall")
    }
    ratios = {}
    for clock in ("cpu", "wall"):
        ours, theirs = added("llmlog", clock), added("openinference", clock)
        ratios[f"llmlog added / openinference added ({clock})"] = summary(
            [a / b for a, b in zip(ours, theirs, strict=True) if b > 0], 3
        )
    print(run.describe())
    for name, figure in {**figures, **added_figures}.items():
        print(f"  {name:32} {fmt_range(figure, 1)} µs per call")
    for name, figure in ratios.items():
        print(f"  {name:48} {fmt_range(figure, 3)}  (target ≤ 0.5)")
    run.write(args.out, per_call_us=figures, added_us=added_figures, ratios=ratios)


if __name__ == "__main__":
    main()
