"""What tracing a LiteLLM call costs on the application thread: llmlog's LiteLLM integration
against OpenInference's ``openinference-instrumentation-litellm``, in the same run.

Built as ``bench_integrations.py`` (the OpenAI SDK's): the fake provider runs in a process of its
own; each round runs every variant in a fresh process, in an order that rotates per round; a
process warms up, then makes ``--passes`` passes of one ``litellm.completion``, one streamed
completion read to its end (usage asked for) and one tool-calling completion, and checks
afterwards that its variant recorded every call.

Two figures per call, both on the calling thread: **CPU** (``time.thread_time_ns``; the issue's
ratio is taken from it) and **wall** (``time.perf_counter_ns``, server round trip included).

Variants: ``none`` (no callback: the baseline); ``empty`` (an empty ``CustomLogger`` in
``litellm.callbacks``: LiteLLM's own callback machinery, which any callback switches on, llmlog's
included); ``llmlog`` (``instrument()``, a ``dspy``-format trace file, content kept, redaction on);
``openinference`` (``LiteLLMInstrumentor`` with the OpenTelemetry SDK, a ``BatchSpanProcessor`` to
an in-memory exporter, content captured). Where the work runs differs: OpenInference wraps
``litellm.completion`` and does its span work on the calling thread; llmlog opens the call in
LiteLLM's pre-call hook (calling thread) and writes it when LiteLLM reports the result, from
LiteLLM's logging thread (not counted in CPU, as OpenTelemetry's batch thread is not). The ratio
is llmlog's added CPU beyond ``none`` over OpenInference's beyond ``none``, per round, as a median
and range. Run::

    .venv/bin/uv sync --all-packages --group bench --inexact     # OpenInference
    .venv/bin/python bench/bench_litellm.py                        # bench/results/litellm.json
    .venv/bin/python bench/bench_litellm.py --quick
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

VARIANTS = ["none", "empty", "llmlog", "openinference"]
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


def _setup(variant: str, workdir: Path) -> tuple[Any, Any]:
    """Instrument for ``variant``; returns (finish, recorded)."""
    import litellm

    if variant == "none":
        return (lambda: None), (lambda: None)
    if variant == "empty":
        from litellm.integrations.custom_logger import CustomLogger

        litellm.callbacks.append(CustomLogger())
        return (lambda: None), (lambda: None)
    if variant == "llmlog":
        import llmlog
        import llmlog_integration_litellm
        from llmlog_engine_genai import close_shared_session

        llmlog.configure({"trace": {"format": "dspy", "dir": str(workdir)}, "outputs": {}})
        llmlog_integration_litellm.instrument()

        def finish() -> None:
            llmlog_integration_litellm.flush(60)
            llmlog_integration_litellm.uninstrument()
            close_shared_session()

        def calls() -> int:
            (path,) = workdir.glob("*.jsonl")
            return sum(b'"type":"llm_call"' in line for line in path.open("rb"))

        return finish, calls
    if variant == "openinference":
        from openinference.instrumentation.litellm import LiteLLMInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        LiteLLMInstrumentor().instrument(tracer_provider=provider)
        return provider.force_flush, (lambda: len(exporter.get_finished_spans()))
    raise SystemExit(f"unknown variant {variant}")


def child(variant: str, base_url: str, passes: int, warmup: int) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with tempfile.TemporaryDirectory() as tmp:
        finish, recorded = _setup(variant, Path(tmp))
        import litellm

        # OpenInference wraps the module's functions: look them up after instrumenting
        common = {"model": "openai/gpt-4o-mini", "api_base": base_url, "api_key": "sk-bench"}

        def one_pass() -> None:
            litellm.completion(messages=USER, temperature=0.2, **common)
            stream = litellm.completion(
                messages=USER, stream=True, stream_options={"include_usage": True}, **common
            )
            for _ in stream:
                pass
            litellm.completion(messages=USER, tools=TOOLS, **common)

        for _ in range(warmup):
            one_pass()
        cpu, wall = time.thread_time_ns, time.perf_counter_ns
        cpu_start, wall_start = cpu(), wall()
        for _ in range(passes):
            one_pass()
        finish()
        cpu_ns, wall_ns = cpu() - cpu_start, wall() - wall_start
        calls = passes * CALLS_PER_PASS
        count = recorded()
        expected = (passes + warmup) * CALLS_PER_PASS
        if count is not None and count < expected:
            raise SystemExit(f"{variant}: {count} calls recorded of {expected}")
        result = {"cpu_us": cpu_ns / 1000 / calls, "wall_us": wall_ns / 1000 / calls}
        print(json.dumps({**result, "recorded": count}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1, help="processes per variant per round")
    parser.add_argument("--passes", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 rounds, 1 sample, 20 passes")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "litellm.json"))
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
        args.rounds, args.samples, args.passes = 3, 1, 20
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
            "litellm",
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
                        timeout=900,
                        env=dict(os.environ, PYTHONHASHSEED="0"),
                    )
                    if done.returncode != 0:
                        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
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
        for v in ("empty", "llmlog", "openinference")
        for c in ("cpu", "wall")
    }
    ratios = {}
    for clock in ("cpu", "wall"):
        ours, theirs = added("llmlog", clock), added("openinference", clock)
        per_round = [a / b for a, b in zip(ours, theirs, strict=True) if b > 0]
        if per_round:  # none when OpenInference's added time drowned in the noise every round
            ratios[f"llmlog added / openinference added ({clock})"] = summary(per_round, 3)
    print(run.describe())
    for name, figure in {**figures, **added_figures}.items():
        print(f"  {name:32} {fmt_range(figure, 1)} µs per call")
    for name, figure in ratios.items():
        print(f"  {name:48} {fmt_range(figure, 3)}  (target ≤ 0.5)")
    run.write(args.out, per_call_us=figures, added_us=added_figures, ratios=ratios)


if __name__ == "__main__":
    main()
