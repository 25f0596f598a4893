"""What tracing an OpenAI SDK call costs on the application thread: llmlog's OpenAI integration
against OpenInference's ``openinference-instrumentation-openai``, in the same run; with
``--sdk anthropic``, the same for an Anthropic SDK call: llmlog's Anthropic integration against
``openinference-instrumentation-anthropic``; with ``--sdk litellm``, a ``litellm.completion``
call: llmlog's LiteLLM integration against ``openinference-instrumentation-litellm``.

The fake provider (``tools/fake-provider``) runs in a process of its own, so its work is not on
the measured thread. Each round runs every variant in a fresh process (instrumentors patch the
SDK process-wide), in an order that rotates per round. A process warms up, then makes ``--calls``
passes of: one chat completion, one streamed chat completion read to its end, one tool-calling
completion (Anthropic: one ``messages.create``, one ``create(stream=True)`` read to its end, one
tool-calling ``messages.create``; LiteLLM: one ``litellm.completion``, one streamed completion read
to its end, usage asked for, one tool-calling completion); it checks afterwards that its variant recorded every call, so
no variant wins by dropping work.

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
default; for Anthropic ``AnthropicInstrumentor``, the same way; llmlog's Anthropic variant is
``instrument()`` with the same trace file, and has no ``no-stream-usage`` twin: Anthropic always
streams the usage). For LiteLLM: ``none`` (no callback), ``empty`` (an empty ``CustomLogger`` in
``litellm.callbacks``: LiteLLM's own callback machinery, which any callback switches on, llmlog's
included), ``llmlog`` and ``openinference`` (``LiteLLMInstrumentor``, set up the same way). Where
the work runs differs there: OpenInference wraps ``litellm.completion`` and does its span work on
the calling thread; llmlog opens the call in LiteLLM's pre-call hook (calling thread) and writes
it when LiteLLM reports the result, from LiteLLM's logging thread (not counted in CPU, as
OpenTelemetry's batch thread is not); LiteLLM runs 5 rounds of 1 sample and 60 passes by
default (``--quick``: 20). The ratio is llmlog's added CPU beyond ``none`` over OpenInference's beyond ``none``,
per round (both measured under the same load), as a median and range. The issue's target: at most
0.5. Run::

    .venv/bin/uv sync --all-packages --group bench --inexact     # OpenInference
    .venv/bin/python bench/bench_integrations.py                   # bench/results/integrations.json
    .venv/bin/python bench/bench_integrations.py --quick
    .venv/bin/python bench/bench_integrations.py --sdk anthropic   # bench/results/integrations_anthropic.json
    .venv/bin/python bench/bench_integrations.py --sdk litellm     # bench/results/integrations_litellm.json
    .venv/bin/python bench/bench_integrations.py --count   # instructions, bench/results/integrations-count.json

``--interleaved BLOCKS`` runs every variant in one process instead, switching each on and off
(``instrument()``/``uninstrument()``) block by block in an order that rotates, ``--passes`` per
block (default 30), and takes each block's added CPU against the uninstrumented block beside it:
separate processes of the same variant differ by more than llmlog costs (how the SDK's HTTP
client reads the answers changes from one process to the next), and pairing blocks removes that.
``bench/results/integrations[_SDK]-interleaved.json``; not for LiteLLM.

``--count`` gives a figure that does not move with the machine's load: each variant's process runs
under valgrind's callgrind (``--separate-threads=yes``) twice, with ``--count-passes`` and twice as
many passes, and the calling thread's instruction difference divided by the calls is its
instructions per call (setup, imports and warm-up cancel out; OpenTelemetry's export thread is not
the calling thread). Needs valgrind. With ``--sdk anthropic``:
``bench/results/integrations_anthropic-count.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Run, fmt_range, summary

VARIANTS = ["none", "llmlog", "llmlog-no-stream-usage", "openinference"]
#: The variants per SDK (``--sdk``).
SDK_VARIANTS = {
    "openai": VARIANTS,
    "anthropic": ["none", "llmlog", "openinference"],
    "litellm": ["none", "empty", "llmlog", "openinference"],
}
#: The run's length per SDK: rounds, samples, passes, warm-up passes, ``--quick``'s passes
#: (a LiteLLM call costs several times an SDK call's CPU, so fewer of them).
SDK_LENGTH = {
    "openai": (7, 3, 150, 20, 40),
    "anthropic": (7, 3, 150, 20, 40),
    "litellm": (5, 1, 60, 10, 20),
}
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


def _trace_calls(workdir: Path) -> Any:
    """``recorded()`` for an llmlog variant: the ``llm_call`` events in its trace file."""

    def calls() -> int:
        (path,) = workdir.glob("*.jsonl")
        return sum(b'"type":"llm_call"' in line for line in path.open("rb"))

    return calls


def _openinference(instrumentor: Any) -> tuple[Any, Any]:
    """The ``openinference`` variant: ``instrumentor`` with the OpenTelemetry SDK as its docs
    recommend for production, a ``BatchSpanProcessor`` (here to an in-memory exporter)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrumentor.instrument(tracer_provider=provider)
    return provider.force_flush, (lambda: len(exporter.get_finished_spans()))


def _setup_anthropic(variant: str, workdir: Path) -> tuple[Any, Any]:
    """:func:`_setup` for the Anthropic SDK."""
    if variant == "llmlog":
        import llmlog
        import llmlog_integration_anthropic

        llmlog.configure({"trace": {"format": "dspy", "dir": str(workdir)}, "outputs": {}})
        llmlog_integration_anthropic.instrument()

        def finish() -> None:
            import llmlog_engine_genai

            llmlog_integration_anthropic.uninstrument()
            llmlog_engine_genai.close_shared_session()  # writes what is buffered

        return finish, _trace_calls(workdir)
    if variant == "openinference":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor

        return _openinference(AnthropicInstrumentor())
    raise SystemExit(f"unknown variant {variant}")


def _setup_litellm(variant: str, workdir: Path) -> tuple[Any, Any]:
    """:func:`_setup` for LiteLLM."""
    import litellm

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

        return finish, _trace_calls(workdir)
    if variant == "openinference":
        from openinference.instrumentation.litellm import LiteLLMInstrumentor

        return _openinference(LiteLLMInstrumentor())
    raise SystemExit(f"unknown variant {variant}")


def _setup(variant: str, workdir: Path, sdk: str = "openai") -> tuple[Any, Any]:
    """Instrument for ``variant``; returns (finish, recorded): ``finish()`` writes or exports what
    is pending, ``recorded()`` says how many calls were recorded."""
    if variant == "none":
        return (lambda: None), (lambda: None)
    if sdk == "anthropic":
        return _setup_anthropic(variant, workdir)
    if sdk == "litellm":
        return _setup_litellm(variant, workdir)
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

        return llmlog_integration_openai.uninstrument, _trace_calls(
            workdir
        )  # closes (flushes) the session
    if variant == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        return _openinference(OpenAIInstrumentor())
    raise SystemExit(f"unknown variant {variant}")


def _openai_pass(base_url: str) -> Any:
    """One pass of OpenAI SDK calls against the fake provider."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    create = client.chat.completions.create

    def one_pass() -> None:
        create(model="gpt-4o-mini", messages=USER, temperature=0.2)
        for _ in create(model="gpt-4o-mini", messages=USER, stream=True):
            pass
        create(model="gpt-4o-mini", messages=USER, tools=TOOLS)

    return one_pass


def _anthropic_pass(base_url: str) -> Any:
    """One pass of Anthropic calls against the fake provider (its root, not ``/v1``)."""
    import anthropic

    client = anthropic.Anthropic(
        base_url=base_url.removesuffix("/v1"), api_key="sk-ant-bench", max_retries=0
    )
    create = client.messages.create
    # Flat prices, as gpt-4o-mini has (a model with prices by context length, such as
    # claude-sonnet-4-5, is priced by genai-prices per call: slower, see the report).
    model = "claude-haiku-4-5"
    tools = [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]

    def one_pass() -> None:
        create(model=model, max_tokens=200, system="Be brief.", messages=USER)
        for _ in create(model=model, max_tokens=200, messages=USER, stream=True):
            pass
        create(model=model, max_tokens=200, messages=USER, tools=tools)

    return one_pass


def _litellm_pass(base_url: str) -> Any:
    """One pass of ``litellm.completion`` calls against the fake provider."""
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

    return one_pass


def child(variant: str, base_url: str, passes: int, warmup: int, sdk: str = "openai") -> None:
    if sdk == "litellm":
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with tempfile.TemporaryDirectory() as tmp:
        finish, recorded = _setup(variant, Path(tmp), sdk)
        if sdk == "anthropic":
            one_pass = _anthropic_pass(base_url)
        elif sdk == "litellm":
            one_pass = _litellm_pass(base_url)
        else:
            one_pass = _openai_pass(base_url)

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


def interleaved(base_url: str, blocks: int, passes: int, out: str, sdk: str = "openai") -> None:
    """``--interleaved``: every variant in this one process, switched on and off block by block
    (``instrument()``/``uninstrument()``, both tracers support it), in an order that rotates per
    block; each block's added CPU per call is taken against the uninstrumented block beside it.
    Separate processes differ by more than llmlog costs (the SDK's HTTP reads change from one
    process to the next); pairing blocks inside one process removes that difference."""
    import importlib

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import llmlog

    integration = importlib.import_module(f"llmlog_integration_{sdk}")
    if sdk == "anthropic":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as Instrumentor
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor as Instrumentor
    make_pass = _anthropic_pass if sdk == "anthropic" else _openai_pass
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrumentor = Instrumentor()

    def close_llmlog() -> None:
        integration.uninstrument()  # closes the shared session: its file is written

    switches = {
        "none": (lambda: None, lambda: None),
        "llmlog": (integration.instrument, close_llmlog),
        "openinference": (
            lambda: instrumentor.instrument(tracer_provider=provider),
            lambda: (instrumentor.uninstrument(), provider.force_flush()),
        ),
    }
    per_call: dict[str, list[float]] = {v: [] for v in switches}
    spans = 0
    with tempfile.TemporaryDirectory() as tmp:
        llmlog.configure({"trace": {"format": "dspy", "dir": tmp}, "outputs": {}})
        make_pass(base_url)()  # imports, connections
        order = list(switches)
        for block in range(blocks):
            order = order[1:] + order[:1]
            for variant in order:
                start, stop = switches[variant]
                start()
                one_pass = make_pass(base_url)  # after instrumenting: bound methods are looked up
                one_pass()
                cpu_start = time.thread_time_ns()
                for _ in range(passes):
                    one_pass()
                stop()  # the records written or exported, as in the per-process runs
                per_call[variant].append(
                    (time.thread_time_ns() - cpu_start) / 1000 / (passes * CALLS_PER_PASS)
                )
                spans += len(exporter.get_finished_spans())
                exporter.clear()
            print(f"block {block + 1}/{blocks} done", flush=True)
        llmlog.shutdown()  # nothing left to write into the directory about to go
        written = sum(
            sum(b'"type":"llm_call"' in line for line in path.open("rb"))
            for path in Path(tmp).glob("*.jsonl")
        )
    expected = blocks * (passes + 1) * CALLS_PER_PASS
    if written != expected or spans < expected:
        raise SystemExit(f"recorded {written} llm_call events and {spans} spans of {expected}")
    added = {
        v: [x - n for x, n in zip(per_call[v], per_call["none"], strict=True)]
        for v in ("llmlog", "openinference")
    }
    ratios = [
        llm / oi for llm, oi in zip(added["llmlog"], added["openinference"], strict=True) if oi > 0
    ]
    for variant, values in per_call.items():
        print(f"  {variant:26} {fmt_range(summary(values))} µs per call (CPU)")
    for variant, values in added.items():
        print(f"  {variant + ' added':26} {fmt_range(summary(values))} µs per call")
    overall = statistics.median(added["llmlog"]) / statistics.median(added["openinference"])
    print(
        f"  llmlog added / openinference added, per block: {fmt_range(summary(ratios, 3), 3)}; "
        f"of the medians: {overall:.3f} (target ≤ 0.5)"
    )
    document = {
        "benchmark": f"integrations-interleaved-{sdk}",
        "config": {"sdk": sdk, "blocks": blocks, "passes": passes, "load": os.getloadavg()},
        "cpu_us_per_call": {v: summary(x) for v, x in per_call.items()},
        "added_us_per_call": {v: summary(x) for v, x in added.items()},
        "ratio per block": summary(ratios, 3),
        "ratio of the medians": round(overall, 3),
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


# -- the parent ------------------------------------------------------------------------------


def _child_command(variant: str, base_url: str, passes: int, warmup: int, sdk: str) -> list[str]:
    """The command line of one measured process."""
    return [
        sys.executable,
        __file__,
        "--child",
        variant,
        "--base-url",
        base_url,
        "--passes",
        str(passes),
        "--warmup",
        str(warmup),
        "--sdk",
        sdk,
    ]


def _instructions(
    variant: str, base_url: str, passes: int, warmup: int, work: Path, sdk: str = "openai"
) -> int:
    """The calling thread's instructions of one child process, counted by callgrind."""
    out = work / f"callgrind.{variant}.{passes}"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}.%p",
            *_child_command(variant, base_url, passes, warmup, sdk),
        ],
        check=True,
        capture_output=True,
        timeout=3600,
        env=dict(os.environ, PYTHONHASHSEED="0"),
    )
    (main,) = list(work.glob(f"callgrind.{variant}.{passes}.*-01"))
    found = re.search(r"^summary: (\d+)", main.read_text(errors="replace"), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no summary line in {main}")
    return int(found.group(1))


def count(base_url: str, passes: int, out: str, sdk: str = "openai") -> None:
    """``--count``: instructions per call on the calling thread, per variant."""
    variants = SDK_VARIANTS[sdk]
    per_call: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            once = _instructions(variant, base_url, passes, 5, Path(tmp), sdk)
            twice = _instructions(variant, base_url, 2 * passes, 5, Path(tmp), sdk)
            per_call[variant] = (twice - once) / (passes * CALLS_PER_PASS)
            print(f"  {variant:26} {per_call[variant]:>12,.0f} instructions per call", flush=True)
    added = {v: per_call[v] - per_call["none"] for v in variants[1:]}
    for variant, value in added.items():
        print(f"  {variant:26} {value:>12,.0f} added per call")
    ratio = added["llmlog"] / added["openinference"]
    print(f"  llmlog added / openinference added: {ratio:.3f} (target ≤ 0.5)")
    document = {
        "benchmark": "integrations-count",
        "config": {"sdk": sdk, "passes": passes, "calls_per_pass": CALLS_PER_PASS},
        "instructions_per_call": per_call,
        "added_per_call": added,
        "ratio llmlog added / openinference added": round(ratio, 3),
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="default 7 (litellm: 5)")
    parser.add_argument(
        "--samples", type=int, help="processes per variant per round (3; litellm: 1)"
    )
    parser.add_argument("--passes", type=int, help="default 150 (litellm: 60)")
    parser.add_argument("--warmup", type=int, help="default 20 (litellm: 10)")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 1 sample, 40 (20) passes")
    parser.add_argument("--sdk", choices=sorted(SDK_VARIANTS), default="openai")
    parser.add_argument("--out", help="default: bench/results/integrations[_SDK].json")
    parser.add_argument("--count", action="store_true", help="instructions under callgrind")
    parser.add_argument("--count-passes", type=int, default=10)
    parser.add_argument(
        "--interleaved",
        type=int,
        metavar="BLOCKS",
        help="all variants in one process, switched on and off per block (paired with the "
        "uninstrumented block beside them); --passes per block (default 30)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if (args.count or args.interleaved) and args.sdk == "litellm":
        # llmlog writes LiteLLM's calls from LiteLLM's logging thread, not the counted one
        parser.error("--count measures the calling thread only: not for --sdk litellm")
    rounds, samples, passes, warmup, quick_passes = SDK_LENGTH[args.sdk]
    args.rounds = args.rounds or rounds
    args.samples = args.samples or samples
    args.passes = args.passes or passes
    args.warmup = warmup if args.warmup is None else args.warmup
    if args.child:
        child(args.child, args.base_url, args.passes, args.warmup, args.sdk)
        return
    variants = SDK_VARIANTS[args.sdk]
    suffix = "" if args.sdk == "openai" else f"_{args.sdk}"
    args.out = args.out or str(Path(__file__).parent / "results" / f"integrations{suffix}.json")
    if args.quick:
        args.rounds, args.samples, args.passes = 3, 1, quick_passes
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        if args.interleaved:
            out = str(Path(args.out).with_name(f"integrations{suffix}-interleaved.json"))
            block_passes = args.passes if args.passes != passes else 30
            interleaved(base_url, args.interleaved, block_passes, out, args.sdk)
            return
        if args.count:
            out = str(Path(args.out).with_name(f"integrations{suffix}-count.json"))
            count(base_url, args.count_passes, out, args.sdk)
            return
        run = Run(
            f"integrations{suffix}",
            rounds=args.rounds,
            samples=args.samples,
            passes=args.passes,
            calls_per_pass=CALLS_PER_PASS,
        )
        for r in range(args.rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for variant in order:
                for _ in range(args.samples):
                    done = subprocess.run(
                        _child_command(variant, base_url, args.passes, args.warmup, args.sdk),
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

    figures = {f"{v} {c}": run.figure(f"{v} {c}") for v in variants for c in ("cpu", "wall")}
    added_figures = {
        f"{v} added {c}": summary(added(v, c))
        for v in variants
        if v in ("empty", "llmlog", "openinference")
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
