"""What tracing a DSPy program costs, per LM call: llmlog against the peers, in the same run.

Each round runs every variant in a fresh process (so no instrumentation can leak into another:
OpenInference's uninstrument strips DSPy's own wrappers), in an order that rotates per round. A
process warms up, then times a mix of real DSPy programs on ``DummyLM`` (Predict, ChainOfThought,
and a ReAct agent with a tool: 5 LM calls per pass; questions and answers differ from pass to
pass, as a real program's do), and checks afterwards that its variant recorded
what it should, so no variant wins by dropping work.

Variants: no callback (the baseline); an empty ``BaseCallback`` (DSPy's own callback machinery); a
bare callback writing one orjson line per hook (the floor of a callback-based file tracer); llmlog
(``dspy`` and ``rlm`` formats, flight recorder on; ``dspy`` also unbuffered, one ``write()`` per
event); OpenInference's DSPy instrumentor with the OpenTelemetry SDK (batch processor, in-memory
exporter); MLflow ``mlflow.dspy.autolog`` with a local SQLite store, asynchronous and synchronous
trace logging. Each variant runs ``--samples`` processes per round; figures are medians with
p10–p90, and the issue's ratios (llmlog's cost beyond the empty callback against OpenInference's
and the floor's beyond the same callback) are taken per round and given as median and range, with
the load before and after in the results file (``common.py``). Run::

    .venv/bin/uv sync --all-packages --group bench     # the peers
    .venv/bin/python bench/bench_dspy.py               # bench/results/dspy.json
    .venv/bin/python bench/bench_dspy.py --quick
    .venv/bin/python bench/bench_dspy.py --hooks       # time inside the hooks only (steadier)
    .venv/bin/python bench/bench_dspy.py --hooks --without flight --without file,flight
    .venv/bin/python bench/bench_dspy.py --paired      # every variant in one process (steadiest)
    .venv/bin/python bench/bench_dspy.py --paired --without file,flight

``--paired`` runs every variant in one process, switched pass by pass (callbacks through
``dspy.context``, OpenInference's wrappers through OpenTelemetry's suppression key), and takes
each variant's cost beyond the empty callback from per-block differences: the machine's drift
between processes, larger on a shared machine than llmlog's whole cost, drops out. A block
(``--block`` rounds) ends with every variant's deferred work done and timed (llmlog's held
hooks handled, OpenInference's batch processor flushed, the floor's buffer written), so a
tracer that defers work is charged all of it. One thing pairing cannot place: a full garbage
collection runs in whichever variant's pass crosses the collector's threshold, whoever made the
objects. The whole-program mode (the default) keeps each variant in its own process and charges
it its collections.

``bench/count_dspy.py`` counts the issue's figure (instructions per LM call, callgrind) on the same
programs, without the machine's noise.
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

LM_CALLS_PER_PASS = 5
VARIANTS = [
    "none",
    "empty",
    "floor",
    "llmlog-dspy",
    "llmlog-dspy-unbuffered",
    "llmlog-rlm",
    "openinference",
    "mlflow-async",
    "mlflow-sync",
]
SLOW = {"mlflow-async", "mlflow-sync"}


# -- the child process ---------------------------------------------------------------------------


def _programs() -> Any:
    import dspy
    from dspy.utils import DummyLM

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}"

    predict = dspy.Predict("question -> answer")
    cot = dspy.ChainOfThought("question -> answer")
    react = dspy.ReAct("question -> answer", tools=[get_weather])
    passes = iter(range(1 << 62))

    def one_pass() -> None:
        # Questions and answers differ from pass to pass, as they do in a real program (only the
        # signatures' instructions come back): no tracer may win by remembering text it saw.
        i = next(passes)
        answers = [
            {"answer": f"Paris ({i})"},
            {"reasoning": f"2 and 2, pass {i}", "answer": "4"},
            {
                "next_thought": f"look up the weather for pass {i}",
                "next_tool_name": "get_weather",
                "next_tool_args": {"city": f"Paris {i}"},
            },
            {
                "next_thought": f"done with pass {i}",
                "next_tool_name": "finish",
                "next_tool_args": {},
            },
            {"reasoning": f"sunny in pass {i}", "answer": f"Sunny ({i})"},
        ]
        with dspy.context(lm=DummyLM(answers)):
            predict(question=f"Capital of France? ({i})")
            cot(question=f"2+2? ({i})")
            react(question=f"Weather in Paris? ({i})")

    return one_pass


def _setup(variant: str, workdir: Path) -> tuple[Any, Any]:
    """Install the variant; return ``finish`` (makes what it recorded durable or exported: timed)
    and ``count`` (says what was recorded: not timed)."""
    import dspy

    def nothing() -> None:
        pass

    if variant == "none":
        return nothing, lambda: {"ok": True}
    if variant == "empty":
        from dspy.utils.callback import BaseCallback

        dspy.settings.callbacks.append(BaseCallback())
        return nothing, lambda: {"ok": True}
    if variant == "floor":
        import orjson
        from dspy.utils.callback import BaseCallback

        sink = open(workdir / "floor.jsonl", "ab")  # noqa: SIM115 - lives as long as the process
        names = [n for n in dir(BaseCallback) if n.startswith("on_")]

        class Floor(BaseCallback):
            pass

        from dspy.utils.callback_context import ACTIVE_CALL_ID

        def plain(value: Any) -> Any:
            # A Prediction or Example as its fields; any other object by its type name. Not
            # str(): the repr of a DSPy signature class alone costs ~70 µs, which would make the
            # floor slower than tracers that record less of it (llmlog keeps the signature's
            # text once per module, not per adapter call).
            to_dict = getattr(value, "toDict", None)
            return to_dict() if callable(to_dict) else type(value).__name__

        def hook(name: str) -> Any:
            # What a bare tracer must keep: the hook, ids, parent, time, the instance's type and
            # the inputs or outputs.
            def record(self: Any, call_id: str, **kw: Any) -> None:
                instance = kw.pop("instance", None)
                line = {
                    "hook": name,
                    "call_id": call_id,
                    "parent": ACTIVE_CALL_ID.get(),
                    "t": time.time_ns(),
                    "type": type(instance).__name__,
                    **kw,
                }
                sink.write(orjson.dumps(line, default=plain) + b"\n")

            return record

        for name in names:
            setattr(Floor, name, hook(name))
        dspy.settings.callbacks.append(Floor())

        def lines() -> dict[str, Any]:
            return {"lines": sum(1 for _ in open(workdir / "floor.jsonl", "rb"))}

        return sink.flush, lines
    if variant.startswith("llmlog-"):
        import llmlog
        import llmlog_integration_dspy
        from llmlog_engine_flight import FlightRecorder
        from llmlog_engine_flight.recorder import set_global_flight_recorder

        fmt: Any = variant.split("-")[1]
        if variant.endswith("-unbuffered"):  # [trace] format = { type = "dspy", buffer_size = 0 }
            fmt = {"type": fmt, "buffer_size": 0}
        trace_dir = workdir / "trace"  # its own: --paired runs the floor's file beside it
        llmlog.configure({"trace": {"format": fmt, "dir": str(trace_dir)}, "outputs": {}})
        recorder = FlightRecorder(snapshot_dir=str(workdir / "flight"))
        if "flight" not in os.environ.get("BENCH_DSPY_WITHOUT", ""):
            recorder.start()
            set_global_flight_recorder(recorder)
        without = os.environ.get("BENCH_DSPY_WITHOUT", "").split(",")
        from llmlog_integration_dspy import DspyOptions

        llmlog_integration_dspy.instrument(
            DspyOptions(
                adapters="off" if "adapters" in without else "spans",
                batch=0 if "batching" in without else DspyOptions().batch,
                # Held hooks handled by the batch size and --paired's timed settles only: the
                # delay's thread would handle them during the other variants' passes.
                batch_delay=3600,
            )
        )

        def recorded() -> dict[str, Any]:
            # One file; none with --without file (its session line is not written either).
            lines = sum(1 for path in trace_dir.glob("*.jsonl") for _ in path.open("rb"))
            stats = recorder.stats()
            flight = stats["window_events"] + stats["evicted_events"]
            return {"lines": lines, "flight": flight}

        return llmlog_integration_dspy.uninstrument, recorded  # closes the session
    if variant == "openinference":
        from openinference.instrumentation.dspy import DSPyInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        DSPyInstrumentor().instrument(tracer_provider=provider)

        def spans() -> dict[str, Any]:
            return {"spans": len(exporter.get_finished_spans())}

        return provider.force_flush, spans
    if variant.startswith("mlflow-"):
        os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = (
            "true" if variant == "mlflow-async" else "false"
        )
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
        mlflow.set_experiment("bench")
        mlflow.dspy.autolog()

        def traces() -> dict[str, Any]:
            found = mlflow.search_traces(max_results=100_000, return_type="list")
            return {"traces": len(found), "spans": sum(len(t.data.spans) for t in found)}

        return mlflow.flush_trace_async_logging, traces
    raise SystemExit(f"unknown variant {variant}")


#: Parts of llmlog that ``--without`` turns off, for the breakdown of its hook time.
PARTS = ("flight", "file", "context", "redaction", "adapters", "batching")


def _turn_off(parts: list[str]) -> None:
    """Turn parts of llmlog off in this process (``--without``): an analysis of where its time goes,
    not a configuration anyone would run. ``flight``: no flight recorder; ``file``: trace events
    are not written; ``context``: DSPy calls do not enter llmlog's logging context;
    ``redaction``: span inputs, outputs and event data are not redacted or capped;
    ``adapters``: the integration's ``adapters = "off"`` (no span per adapter format and parse);
    ``batching``: the integration's ``batch = 0`` (every hook handled at once)."""
    if "file" in parts:
        import llmlog_trace_dspy.format as dspy_format

        dspy_format.DspyTraceWriter.write = lambda self, event: None  # type: ignore[method-assign]
    if "context" in parts:
        import llmlog_integration_dspy.callback as callback

        callback.enter_context = lambda **values: None  # type: ignore[assignment]
        callback.exit_context = lambda token: None  # type: ignore[assignment]
    if "redaction" in parts:
        from llmlog.tracing import TraceSession

        TraceSession._user_mapping = lambda self, values: dict(values)  # type: ignore[method-assign]
        TraceSession._clean = lambda self, data: data  # type: ignore[method-assign]


def _time_hooks(callback: Any) -> list[int]:
    """Wrap each ``on_*`` hook of ``callback`` with a clock; returns the running total (ns)."""
    total = [0]
    clock = time.perf_counter_ns
    for name in dir(type(callback)):
        if name.startswith("on_"):
            hook = getattr(callback, name)

            def timed(*args: Any, _hook: Any = hook, **kwargs: Any) -> Any:
                start = clock()
                try:
                    return _hook(*args, **kwargs)
                finally:
                    total[0] += clock() - start

            setattr(callback, name, timed)
    return total


def child(variant: str, passes: int, warmup: int, hooks: bool = False) -> None:
    _turn_off(os.environ.get("BENCH_DSPY_WITHOUT", "").split(","))
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # MLflow writes artifacts relative to the working directory
        one_pass = _programs()
        finish, count = _setup(variant, Path(tmp))
        if hooks:  # time spent inside the callback's own hooks only
            import dspy

            callback = dspy.settings.callbacks[-1]
            total = _time_hooks(callback)
            for _ in range(warmup):
                one_pass()
            held = getattr(callback, "flush", None)  # llmlog's hooks held, handled in batches
            if held is not None:
                held()
            total[0] = 0
            for _ in range(passes):
                one_pass()
            if held is not None:  # the hooks still held are handled in the timed part too
                start = time.perf_counter_ns()
                held()
                total[0] += time.perf_counter_ns() - start
            finish()
            print(
                json.dumps({"hook_us_per_lm_call": total[0] / 1000 / (passes * LM_CALLS_PER_PASS)})
            )
            return
        for _ in range(warmup):
            one_pass()
        # The timed part ends when the variant's records are written or exported: deferring the
        # work past the measurement must not count as being fast.
        start = time.perf_counter_ns()
        for _ in range(passes):
            one_pass()
        finish()
        elapsed = time.perf_counter_ns() - start
        result = {
            "us_per_lm_call": elapsed / 1000 / (passes * LM_CALLS_PER_PASS),
            "passes": passes + warmup,
            "recorded": count(),
        }
    print(json.dumps(result))


#: ``--paired``: the variants one process alternates pass by pass.
PAIRED = ["none", "empty", "floor", "llmlog-dspy", "openinference"]


def child_paired(passes: int, warmup: int, seed: int, block: int) -> None:
    """``--paired``: every variant installed in one process, switched pass by pass.

    The callbacks (the empty one, the floor's, llmlog's) are each given to DSPy for their own
    passes with ``dspy.context(callbacks=[...])``; OpenInference's wrappers stay installed
    throughout and are switched off with OpenTelemetry's suppression key (which each of them
    tests first) in every pass but its own. So every variant runs through the same suppressed
    wrappers and only the variant's own work differs. Each round runs one pass of each variant
    in a shuffled order; a pass is timed from after its switch to before its switch back.

    Every ``block`` rounds, each variant's deferred work is settled and timed too: llmlog's held
    hooks handled, OpenInference's batch processor flushed, the floor's file buffer written. A
    block's total per variant is thus all the work its passes caused, whenever a variant does
    it: a tracer that defers work cannot look faster than it is."""
    import random

    import dspy
    from opentelemetry import context as otel

    _turn_off(os.environ.get("BENCH_DSPY_WITHOUT", "").split(","))
    suppressed = otel.set_value(otel._SUPPRESS_INSTRUMENTATION_KEY, True)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        one_pass = _programs()
        finishes, counts, callbacks = {}, {}, {}
        for variant in PAIRED:
            before = list(dspy.settings.callbacks)
            finishes[variant], counts[variant] = _setup(variant, Path(tmp))
            added = [cb for cb in dspy.settings.callbacks if not any(cb is b for b in before)]
            for cb in added:  # given to DSPy per pass instead
                dspy.settings.callbacks.remove(cb)
            callbacks[variant] = added
        settles = {
            v: (callbacks[v][0].flush if v.startswith("llmlog") else finishes[v]) for v in PAIRED
        }
        clock = time.perf_counter_ns
        order = list(PAIRED)
        shuffle = random.Random(seed).shuffle
        times: dict[str, list[int]] = {v: [] for v in PAIRED}
        settled: dict[str, list[int]] = {v: [] for v in PAIRED}
        for n in range(warmup + passes):
            shuffle(order)
            for variant in order:
                token = None if variant == "openinference" else otel.attach(suppressed)
                with dspy.context(callbacks=callbacks[variant]):
                    start = clock()
                    one_pass()
                    elapsed = clock() - start
                if token is not None:
                    otel.detach(token)
                if n >= warmup:
                    times[variant].append(elapsed)
            if n + 1 == warmup or (n >= warmup and (n + 1 - warmup) % block == 0):
                shuffle(order)
                for variant in order:
                    start = clock()
                    settles[variant]()
                    if n >= warmup:
                        settled[variant].append(clock() - start)
        for variant in PAIRED:
            finishes[variant]()
        recorded = {v: counts[v]() for v in PAIRED}
    print(
        json.dumps(
            {
                "ns_per_pass": times,
                "settle_ns": settled,
                "block": block,
                "recorded": recorded,
                "passes": warmup + passes,
            }
        )
    )


def _trimmed_mean(values: list[float], cut: float = 0.1) -> float:
    """The mean of ``values`` without the lowest and highest ``cut`` of them."""
    ordered = sorted(values)
    k = int(len(ordered) * cut)
    return statistics.fmean(ordered[k : len(ordered) - k] if len(ordered) > 2 * k else ordered)


def _block_costs(result: dict[str, Any], variant: str) -> list[float]:
    """A process's blocks: each the variant's passes of the block plus its settle, in ns."""
    times, settles, block = (
        result["ns_per_pass"][variant],
        result["settle_ns"][variant],
        result["block"],
    )
    return [
        sum(times[b * block : (b + 1) * block]) + settles[b]
        for b in range(min(len(settles), len(times) // block))
    ]


def paired(args: argparse.Namespace) -> None:
    """``--paired``: the issue's ratio from differences taken block by block in one process.

    Whole-program times of separate processes move with the machine: on a shared one the empty
    callback alone has moved by more than llmlog's whole cost between two processes. Here every
    variant meets the same machine state, round by round. Rounds are grouped in blocks of
    ``--block``, each ending with every variant's deferred work settled and timed (see
    :func:`child_paired`). A variant's cost beyond the empty callback is taken from its
    per-block differences to the empty callback's: their median (the figure), and their mean
    without the highest and lowest tenth. Each process gives one ratio per variant; the figures
    are their median and range over ``--rounds`` processes."""
    if len(args.without) > 1:
        raise SystemExit("--paired takes one --without (comma-separated parts)")
    without = args.without[0] if args.without else ""
    unknown = set(filter(None, without.split(","))) - set(PARTS)
    if unknown:
        raise SystemExit(f"--without: unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    if args.passes < 2 * args.block:
        raise SystemExit(f"--passes must be at least twice --block ({args.block})")
    run = Run(
        "bench_dspy.py --paired",
        rounds=args.rounds,
        passes=args.passes,
        block=args.block,
        without=without,
    )
    per_call = 1000 * LM_CALLS_PER_PASS * args.block  # ns per block -> µs per LM call
    ways = {"median": statistics.median, "trimmed mean": _trimmed_mean}
    beyond: dict[str, dict[str, list[float]]] = {w: {v: [] for v in PAIRED} for w in ways}
    ratios: dict[str, dict[str, list[float]]] = {w: {v: [] for v in PAIRED} for w in ways}
    raw = []
    for r in range(args.rounds):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "paired",
                "--passes",
                str(args.passes),
                "--block",
                str(args.block),
                "--seed",
                str(r),
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, BENCH_DSPY_WITHOUT=without),
        )
        if done.returncode != 0:
            raise SystemExit(f"paired run failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        for variant in PAIRED:
            if without and variant.startswith("llmlog"):
                continue  # parts off: it records less, by design
            problem = expected_ok(variant, result["recorded"][variant], result["passes"])
            if problem:
                raise SystemExit(f"{variant} recorded too little: {problem}")
        raw.append({"ns_per_pass": result["ns_per_pass"], "settle_ns": result["settle_ns"]})
        blocks = {v: _block_costs(result, v) for v in PAIRED}
        for way, reduce in ways.items():
            diffs = {
                v: reduce(
                    [(a - b) / per_call for a, b in zip(blocks[v], blocks["empty"], strict=True)]
                )
                for v in PAIRED
            }
            for v in PAIRED:
                beyond[way][v].append(diffs[v])
                ratios[way][v].append(diffs[v] / diffs["openinference"])
        for v in PAIRED:
            run.add(v, r, statistics.median(blocks[v]) / per_call)
        print(
            f"  process {r + 1}: beyond the empty callback, median µs per LM call: "
            + ", ".join(f"{v} {beyond['median'][v][-1]:.1f}" for v in PAIRED if v != "empty")
        )
    print(f"\n{run.describe()}\n")
    print(f"  {'variant':16} {'µs/LM call':>24} {'beyond empty cb':>26} {'× OpenInference':>24}")
    for v in PAIRED:
        b, q = summary(beyond["median"][v]), summary(ratios["median"][v], 3)
        print(
            f"  {v:16} {fmt_range(run.figure(v), 1):>24} {fmt_range(b, 1):>26} "
            f"{q['median']:>9.3f} [{q['min']:.3f}–{q['max']:.3f}]"
        )
    print()
    for way in ways:
        q = summary(ratios[way]["llmlog-dspy"], 3)
        print(
            f"  llmlog beyond the empty callback ({way}s of the differences): "
            f"{q['median']:.3f}× OpenInference's [{q['min']:.3f}–{q['max']:.3f} over "
            f"{args.rounds} processes] (target ≤ 0.333×)"
        )
    run.write(
        args.output,
        figures={v: run.figure(v) for v in PAIRED},
        beyond_empty_us={w: {v: summary(beyond[w][v]) for v in PAIRED} for w in ways},
        ratio_to_openinference={w: {v: summary(ratios[w][v], 3) for v in PAIRED} for w in ways},
        raw=raw,
    )


# -- the parent: rounds, checks, ratios ----------------------------------------------------------


def expected_ok(variant: str, recorded: dict[str, Any], passes: int) -> str | None:
    """Why ``recorded`` is too little for ``passes`` program passes, or ``None``."""
    calls = passes * LM_CALLS_PER_PASS
    if variant == "floor" and recorded["lines"] < calls * 6:
        return f"{recorded['lines']} lines for {calls} LM calls"
    if variant.startswith("llmlog-dspy") and recorded["lines"] < calls * 8:
        return f"{recorded['lines']} lines for {calls} LM calls"
    if variant.startswith("llmlog-rlm") and recorded["lines"] < calls:  # one iteration per call
        return f"{recorded['lines']} iterations for {calls} LM calls"
    if variant.startswith("llmlog") and recorded["flight"] < calls * 8:
        return f"{recorded['flight']} flight-recorder events for {calls} LM calls"
    if variant == "openinference" and recorded["spans"] < calls * 2:
        return f"{recorded['spans']} spans for {calls} LM calls"
    if variant.startswith("mlflow") and recorded["traces"] < passes * 3:
        return f"{recorded['traces']} traces for {passes * 3} top-level calls"
    return None


HOOKED = ["empty", "floor", "llmlog-dspy", "llmlog-dspy-unbuffered", "llmlog-rlm"]


def _child_env(variant: str, base: str | None, without: str = "") -> tuple[str, dict[str, str]]:
    """The variant to run in the child and its environment: ``NAME@base`` runs ``NAME`` on the
    source tree ``--base`` (core and plugins' ``src`` directories put before the worktree's)."""
    env = dict(os.environ, BENCH_DSPY_WITHOUT=without)
    if variant.endswith("@base"):
        if not base:
            raise SystemExit(f"{variant}: needs --base")
        root = Path(base)
        paths = [str(root / "core" / "src")] + [
            str(d / "src") for d in (root / "plugins").iterdir()
        ]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        variant = variant.removesuffix("@base")
    return variant, env


def hook_times(args: argparse.Namespace) -> None:
    """``--hooks``: a companion figure far less sensitive to this machine's noise than whole-program
    time. Each hook is wrapped with a clock; the empty callback's figure is the wrapper's own cost
    and DSPy's call into it, subtracted from the others. It leaves out what a tracer costs outside
    its hooks (garbage collection of what it keeps, its background threads)."""
    variants = list(HOOKED) + [f"{v}@base" for v in args.base_variants]
    turned_off = {}  # variant -> the parts it runs without
    for parts in args.without:
        unknown = set(parts.split(",")) - set(PARTS)
        if unknown:
            raise SystemExit(f"--without: unknown part(s) {sorted(unknown)}; choose from {PARTS}")
        variants.append(f"llmlog-dspy without {parts}")
        turned_off[variants[-1]] = parts
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.rounds):
        for variant in variants[r % len(variants) :] + variants[: r % len(variants)]:
            name, env = _child_env(variant, args.base, turned_off.get(variant, ""))
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "llmlog-dspy" if variant in turned_off else name,
                    "--hooks",
                    "--passes",
                    f"{args.passes}",
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            if done.returncode != 0:
                raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
            samples[variant].append(
                json.loads(done.stdout.strip().splitlines()[-1])["hook_us_per_lm_call"]
            )
    med = {v: statistics.median(s) for v, s in samples.items()}
    floor = med["floor"] - med["empty"]
    print(
        f"\nPython {sys.version.split()[0]}; {args.rounds} rounds; medians, µs per LM call in the hooks\n"
    )
    for v in variants[1:]:
        own = med[v] - med["empty"]
        print(f"  {v:52} {own:8.1f} µs  = {own / floor:5.2f}× the floor's")
    print(f"  (the timing wrapper and DSPy's call into it: {med['empty']:.1f} µs, subtracted)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--passes", type=int, default=200, help="program passes per process (--paired: 400)"
    )
    parser.add_argument(
        "--samples", type=int, default=2, help="processes per variant and round (whole programs)"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=20, help=argparse.SUPPRESS)
    parser.add_argument(
        "--hooks",
        action="store_true",
        help="instead: the time spent inside each callback's own hooks, per LM call",
    )
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        help=f"with --hooks: also run llmlog-dspy with these parts off (comma-separated: "
        f"{', '.join(PARTS)}), to see where its time goes; repeat for more variants; with "
        "--paired (once): llmlog-dspy runs with these parts off",
    )
    parser.add_argument(
        "--base",
        help="a source tree (e.g. `git archive BASE core/src plugins | tar -x -C DIR`): also run "
        "llmlog-dspy on it, as llmlog-dspy@base, in the same rounds (a before/after comparison)",
    )
    parser.add_argument(
        "--only",
        help="whole programs: run only these variants (comma-separated; none, empty and "
        "openinference are always run, the ratios need them)",
    )
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "dspy.json"))
    parser.add_argument(
        "--paired",
        action="store_true",
        help="instead: every variant in one process, alternating pass by pass (steadiest)",
    )
    parser.add_argument(
        "--block",
        type=int,
        default=40,
        help="with --paired: rounds per block, each block ending with every variant's deferred "
        "work settled and timed",
    )
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "paired":
        child_paired(args.passes, args.warmup, args.seed, args.block)
        return
    if args.child:
        child(args.child, args.passes, args.warmup, args.hooks)
        return
    if args.quick:
        args.rounds, args.passes, args.samples = 2, 40, 1
    if args.paired:
        if args.output == parser.get_default("output"):
            args.output = str(Path(__file__).parent / "results" / "dspy-paired.json")
        if args.passes == parser.get_default("passes"):
            args.passes = 400  # ten blocks
        args.block = min(args.block, args.passes // 4)  # --quick: four blocks
        paired(args)
        return
    args.base_variants = ["llmlog-dspy"] if args.base else []
    if args.hooks:
        hook_times(args)
        return
    variants = list(VARIANTS)
    if args.only:
        keep = set(args.only.split(",")) | {"none", "empty", "openinference"}
        variants = [v for v in variants if v in keep]
    variants += [f"{v}@base" for v in args.base_variants]
    run = Run("bench_dspy.py", rounds=args.rounds, samples=args.samples, passes=args.passes)
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for variant in order:
            passes = max(10, args.passes // 10) if variant in SLOW else args.passes
            name, env = _child_env(variant, args.base)
            for _ in range(args.samples):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", name, "--passes", str(passes)],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                if done.returncode != 0:
                    raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                problem = expected_ok(name, result["recorded"], result["passes"])
                if problem:
                    raise SystemExit(f"{variant} recorded too little: {problem}")
                run.add(variant, r, result["us_per_lm_call"])
                print(
                    f"  round {r + 1} {variant:14} {result['us_per_lm_call']:9.1f} µs/LM call  {result['recorded']}"
                )
    med = {v: run.median(v) for v in variants}
    base, empty = med["none"], med["empty"]
    floor_extra = med["floor"] - empty if "floor" in med else float("nan")
    print(f"\n{run.describe()}; µs per LM call\n")
    print(f"  {'variant':24} {'µs/call':>24} {'added':>9} {'beyond empty cb':>16}")
    rows = {}
    for v in variants:
        added = med[v] - base
        beyond = med[v] - empty
        rows[v] = {"us_per_lm_call": med[v], "added_us": added, "beyond_empty_us": beyond}
        print(f"  {v:24} {fmt_range(run.figure(v), 1):>24} {added:9.1f} {beyond:16.1f}")

    def per_round(variant: str, against: str) -> dict[str, Any]:
        """(variant - empty) / (against - empty), round by round."""
        values = []
        for r in range(args.rounds):
            m = {v: statistics.median(run.samples[v][r]) for v in (variant, against, "empty")}
            if m[against] != m["empty"]:
                values.append((m[variant] - m["empty"]) / (m[against] - m["empty"]))
        return summary(values, 3) if values else {}

    ratios = {}
    print()
    for v in [v for v in variants if v.startswith("llmlog")]:
        oi = ratios[f"{v} beyond empty / openinference beyond empty"] = per_round(
            v, "openinference"
        )
        line = f"  {v}: beyond the empty callback {rows[v]['beyond_empty_us']:.1f} µs = "
        if "floor" in med:
            fl = ratios[f"{v} beyond empty / floor beyond empty"] = per_round(v, "floor")
            line += f"{fl['median']:.2f}× [{fl['min']:.2f}–{fl['max']:.2f}] the orjson floor's "
            line += f"{floor_extra:.1f} µs and "
        line += (
            f"{oi['median']:.2f}× [{oi['min']:.2f}–{oi['max']:.2f}] "
            f"OpenInference's (target ≤ 0.33×), per round"
        )
        added = rows[v]["added_us"]
        for m in ("mlflow-async", "mlflow-sync"):
            if m in rows:
                line += f"; 1/{rows[m]['added_us'] / added:.0f} of {m}'s added time"
        print(line)
    run.write(
        args.output,
        medians=rows,
        figures={v: run.figure(v) for v in variants},
        ratios=ratios,
        samples={v: run.values(v) for v in variants},
    )


if __name__ == "__main__":
    main()
