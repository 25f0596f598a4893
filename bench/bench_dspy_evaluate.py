"""What Evaluate results on the trace cost: hook time per DSPy call, llmlog's DSPy callback with
and without the per-example spans, in the same process.

Two measures, each over interleaved rounds (the variants alternate, so load drifts hit both):

- ``evaluate``: ``dspy.Evaluate`` over ``--examples`` examples (a Predict each, DummyLM,
  ``num_threads=1``), CPU time spent inside the callback's hooks per example, with the example spans
  (as shipped) and with them switched off (``LlmlogCallback``'s ``EvaluationRun`` replaced by
  nothing: the tree as before, the examples' calls directly under ``Evaluate``);
- ``predict``: plain Predict calls (no Evaluate), hook time per call, as shipped and with the
  callback of ``--base FILE`` (an earlier ``callback.py``, e.g. ``git show
  REV:plugins/integration-dspy/src/llmlog_integration_dspy/callback.py > /tmp/base.py``): what
  the Evaluate support adds to every other call.

Figures are medians over rounds with p10-p90 and the load before and after. Run::

    .venv/bin/python bench/bench_dspy_evaluate.py [--rounds 7] [--examples 200] [--base FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

from common import summary


class _Timed:
    """Wraps a callback: every hook's CPU time on its thread summed (``total_ns``; CPU time, not
    wall time, so that other processes on a loaded machine count less)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.total_ns = 0

    def __getattr__(self, name: str) -> Any:
        hook = getattr(self.inner, name)
        if not name.startswith("on_"):
            return hook

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time_ns()
            try:
                return hook(*args, **kwargs)
            finally:
                self.total_ns += time.thread_time_ns() - start

        return timed


def _load_base(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("llmlog_integration_dspy._bench_base", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.LlmlogCallback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--base", help="an earlier callback.py to compare plain calls with")
    args = parser.parse_args()

    import dspy
    from dspy.utils import DummyLM

    import llmlog
    import llmlog_integration_dspy.callback as shipped

    directory = tempfile.mkdtemp(prefix="llmlog-bench-eval-")
    llmlog.configure({"trace": {"dir": directory}, "outputs": {}})
    answers = {f"q{i:04d}": {"answer": str(i)} for i in range(args.examples)}
    dspy.configure(lm=DummyLM(answers))
    devset = [
        dspy.Example(question=f"q{i:04d}", answer=str(i)).with_inputs("question")
        for i in range(args.examples)
    ]
    predict = dspy.Predict("question -> answer")

    def metric(example: Any, prediction: Any, trace: Any = None) -> bool:
        return bool(example.answer == prediction.answer)

    real_run = shipped.EvaluationRun
    base_class = _load_base(args.base) if args.base else None

    def evaluate_hooks(examples_on: bool) -> float:
        shipped.EvaluationRun = real_run if examples_on else (lambda *a, **k: None)  # type: ignore[assignment]
        timed = _Timed(shipped.LlmlogCallback())
        try:
            with dspy.context(callbacks=[timed]):
                dspy.Evaluate(devset=devset, metric=metric, num_threads=1)(predict)
        finally:
            shipped.EvaluationRun = real_run
            timed.inner.close()
        return timed.total_ns / args.examples / 1000

    def predict_hooks(callback_class: Any) -> float:
        timed = _Timed(callback_class())
        with dspy.context(callbacks=[timed]):
            for i in range(args.examples):
                predict(question=f"q{i:04d}")
        timed.inner.close()
        return timed.total_ns / args.examples / 1000

    load_before = os.getloadavg()
    results: dict[str, list[float]] = {"evaluate-examples": [], "evaluate-off": []}
    if base_class is not None:
        results |= {"predict-shipped": [], "predict-base": []}
    evaluate_hooks(True)  # warm up (imports, caches)
    for round_no in range(args.rounds):
        order = [True, False] if round_no % 2 == 0 else [False, True]
        for on in order:
            results["evaluate-examples" if on else "evaluate-off"].append(evaluate_hooks(on))
        if base_class is not None:
            pair = [shipped.LlmlogCallback, base_class]
            for cls in pair if round_no % 2 == 0 else pair[::-1]:
                key = "predict-shipped" if cls is shipped.LlmlogCallback else "predict-base"
                results[key].append(predict_hooks(cls))
    load_after = os.getloadavg()
    print(f"load {load_before[0]:.1f} -> {load_after[0]:.1f}; {args.rounds} rounds")
    for name, values in results.items():
        figure = summary(values)
        print(f"  {name}: median {figure['median']} µs of hooks per example/call {figure}")
    ratios = [
        a / b for a, b in zip(results["evaluate-examples"], results["evaluate-off"], strict=True)
    ]
    print(f"  evaluate examples/off ratio per round: median {statistics.median(ratios):.3f}")
    if base_class is not None:
        ratios = [
            a / b for a, b in zip(results["predict-shipped"], results["predict-base"], strict=True)
        ]
        print(f"  predict shipped/base ratio per round: median {statistics.median(ratios):.3f}")
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
