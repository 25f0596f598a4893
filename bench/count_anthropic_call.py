"""Instructions the application thread spends per Anthropic SDK call on tracing, counted by
valgrind's callgrind (a figure that does not move with the machine's load): llmlog's Anthropic
integration against OpenInference's instrumentor for the same SDK, in the same run.

Usage::

    .venv/bin/uv sync --all-packages --group bench      # openinference-instrumentation-anthropic
    .venv/bin/python bench/count_anthropic_call.py [--calls 60] [--check]

The loopback fake provider (``tools/fake-provider``) runs in this process; each variant's client
runs under callgrind twice, making ``calls`` and ``2 * calls`` calls after a fixed warm-up, in a
mix of one ``messages.create``, one ``create(stream=True)`` read to its end and one
``messages.stream()`` helper with ``get_final_message()`` (each answer 40 words, so a stream is
about 45 events), all to ``claude-haiku-4-5`` (flat prices in genai-prices, so llmlog's cost
chain prices it from rates; a model priced by context length, ``claude-sonnet-4-5``, is priced
by genai-prices' own per-call computation, several times dearer). The main thread's instruction difference divided by ``calls`` is the cost of
one call; a variant's overhead is its cost minus the uninstrumented client's. Variants: ``none``;
``llmlog`` (the ``dspy`` trace format to a file, flight recorder off, as ``llmlog.configure``
sets it up with a trace directory); ``openinference`` (``AnthropicInstrumentor`` with the
OpenTelemetry SDK, a ``BatchSpanProcessor`` and an in-memory exporter). Each process ends with
``os._exit`` after its calls, so neither side's shutdown (flushing a tail of buffered output) is
counted. ``--check`` first runs each variant once without valgrind and checks that it recorded
every call (no variant wins by dropping work). Needs valgrind (Debian's ``valgrind``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools" / "fake-provider" / "src"))

from llmlog_fake_provider import FakeOpenAI

VARIANTS = ("none", "llmlog", "openinference")
WARMUP = 30

#: What runs under callgrind: ``argv``: variant, calls, the server's URL, a work directory.
PROGRAM = r"""
import os, sys
from pathlib import Path
variant, calls, base, work = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
import anthropic
if variant == "llmlog":
    import llmlog, llmlog_integration_anthropic
    llmlog.configure({"trace": {"dir": str(work / "traces")}, "outputs": {}})
    assert llmlog_integration_anthropic.instrument()
elif variant == "openinference":
    from openinference.instrumentation.anthropic import AnthropicInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    AnthropicInstrumentor().instrument(tracer_provider=provider)
client = anthropic.Anthropic(base_url=base, api_key="k", max_retries=0)
MESSAGES = [{"role": "user", "content": "What is the weather in Paris today, and tomorrow?"}]
SYSTEM = "You are a weather assistant. Answer in one paragraph."
def one(i):
    k = i % 3
    if k == 0:
        client.messages.create(model="claude-haiku-4-5", max_tokens=100, system=SYSTEM, messages=MESSAGES)
    elif k == 1:
        for _ in client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, system=SYSTEM, messages=MESSAGES, stream=True
        ):
            pass
    else:
        with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=100, system=SYSTEM, messages=MESSAGES
        ) as stream:
            stream.get_final_message()
for i in range(WARMUP_CALLS):
    one(i)
for i in range(calls):
    one(i)
if os.environ.get("BENCH_CHECK"):
    if variant == "llmlog":
        llmlog.shutdown()
        import json, llmlog_engine_genai
        llmlog_engine_genai.close_shared_session()
        found = sum(
            1
            for path in (work / "traces").glob("*.jsonl")
            for line in path.read_text().splitlines()
            if json.loads(line).get("type") == "llm_call"
        )
    elif variant == "openinference":
        provider.force_flush()
        found = len(exporter.get_finished_spans())
    else:
        found = calls + WARMUP_CALLS
    print(found)
    sys.stdout.flush()
os._exit(0)
""".replace("WARMUP_CALLS", str(WARMUP))


def _answer(request: dict) -> str:
    return " ".join(f"word{i}" for i in range(40))


def run(python: str, variant: str, calls: int, base: str, work: Path, *, valgrind: bool) -> str:
    script = work / "program.py"
    script.write_text(PROGRAM)
    (work / variant).mkdir(exist_ok=True)
    command = [python, str(script), variant, str(calls), base, str(work / variant)]
    env = None
    if valgrind:
        out = work / f"callgrind.{variant}.{calls}"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}.%p",
            *command,
        ]
    else:
        import os

        env = {**os.environ, "BENCH_CHECK": "1"}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return done.stdout


def instructions(python: str, variant: str, calls: int, base: str, work: Path) -> int:
    """The main thread's instruction count of one run of ``calls`` calls (after the warm-up)."""
    run(python, variant, calls, base, work, valgrind=True)
    (main,) = list(work.glob(f"callgrind.{variant}.{calls}.*-01"))
    found = re.search(r"^summary: (\d+)", main.read_text(errors="replace"), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no summary line in {main}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--calls", type=int, default=60, help="a multiple of 3")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--out", default="bench/results/anthropic_calls.json")
    args = parser.parse_args()
    per_call: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(_answer) as server:
        work = Path(tmp)
        if args.check:
            for variant in VARIANTS:
                recorded = int(run(args.python, variant, 30, server.root_url, work, valgrind=False))
                assert recorded == 30 + WARMUP, f"{variant} recorded {recorded} calls"
                print(f"{variant}: recorded all {recorded} calls")
        for variant in VARIANTS:
            once = instructions(args.python, variant, args.calls, server.root_url, work)
            twice = instructions(args.python, variant, 2 * args.calls, server.root_url, work)
            per_call[variant] = (twice - once) / args.calls
            print(f"{variant}: {per_call[variant]:,.0f} instructions/call (main thread)")
    overhead = {v: per_call[v] - per_call["none"] for v in VARIANTS if v != "none"}
    ratio = overhead["llmlog"] / overhead["openinference"]
    print(
        f"tracing overhead/call: llmlog {overhead['llmlog']:,.0f}, "
        f"openinference {overhead['openinference']:,.0f}; llmlog/openinference = {ratio:.2f}"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"calls": args.calls, "per_call": per_call, "overhead": overhead, "ratio": ratio},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
