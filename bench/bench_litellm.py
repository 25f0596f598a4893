"""What tracing LiteLLM costs on the application thread, per call, in the same run.

LiteLLM reports a call's success from its thread pool (or a task of the caller's loop) after the
call returned; what the integration adds on the caller's thread is its two synchronous hooks,
``log_pre_api_call`` (opens the call: span start, budgets) and ``log_post_api_call`` (leaves the
context). This measures, in one process against the loopback fake provider running in another
process, ``litellm.completion`` per call with no callback, with an empty ``CustomLogger``
(LiteLLM's own callback machinery, which any callback switches on) and with the integration
(rounds alternate, so load drifts hit all three), and the time spent inside the two hooks, timed
around them.
The figure that moves least with the machine's load is the hooks' share of the instrumented
call (same calls, same run). Run::

    .venv/bin/python bench/bench_litellm.py            # --calls 200 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SERVER = r"""
import sys, time
from llmlog_fake_provider import FakeOpenAI
with FakeOpenAI(lambda request: "Paris is the capital of France", cached_tokens=2) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import litellm

    import llmlog
    import llmlog_integration_litellm as integration
    from llmlog.testing import isolated_environment
    from llmlog_integration_litellm.logger import LlmlogLiteLLMLogger

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    hook_ns = [0]

    class Timed(LlmlogLiteLLMLogger):
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            start = time.perf_counter_ns()
            super().log_pre_api_call(model, messages, kwargs)
            hook_ns[0] += time.perf_counter_ns() - start

        def log_post_api_call(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            t0 = time.perf_counter_ns()
            super().log_post_api_call(kwargs, response_obj, start_time, end_time)
            hook_ns[0] += time.perf_counter_ns() - t0

    request = {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "api_base": base_url,
        "api_key": "unused",
    }

    def run(calls: int) -> float:
        start = time.perf_counter_ns()
        for _ in range(calls):
            litellm.completion(**request)
        return (time.perf_counter_ns() - start) / calls / 1000

    from litellm.integrations.custom_logger import CustomLogger

    lists = (
        "callbacks",
        "input_callback",
        "success_callback",
        "failure_callback",
        "_async_success_callback",
        "_async_failure_callback",
    )

    def remove(callback: object) -> None:
        for name in lists:
            entries = getattr(litellm, name)
            entries[:] = [cb for cb in entries if cb is not callback]

    bare: list[float] = []
    empty: list[float] = []
    traced: list[float] = []
    shares: list[float] = []
    hooks: list[float] = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, isolated_environment(Path(tmp)):
        llmlog.configure({"outputs": {}, "trace": {"dir": "traces"}})
        run(20)  # warm up LiteLLM (clients, the cost map)
        logger = Timed()
        nothing = CustomLogger()
        for _ in range(args.rounds):
            bare.append(run(args.calls))
            litellm.logging_callback_manager.add_litellm_callback(nothing)
            empty.append(run(args.calls))
            remove(nothing)
            litellm.logging_callback_manager.add_litellm_callback(logger)
            hook_ns[0] = 0
            with llmlog.new_trace_session(os.path.join(tmp, "t")):
                per_call = run(args.calls)
                integration.flush(30)
            traced.append(per_call)
            hooks.append(hook_ns[0] / args.calls / 1000)
            shares.append(hooks[-1] / per_call)
            remove(logger)
    server.communicate("")
    print(f"load before: {load[0]:.1f}, after: {os.getloadavg()[0]:.1f} (1-minute)")
    print(
        f"litellm.completion, no callback : {statistics.median(bare):8.0f} us/call (median of {args.rounds})"
    )
    print(f"litellm.completion, empty logger: {statistics.median(empty):8.0f} us/call")
    print(f"litellm.completion, llmlog      : {statistics.median(traced):8.0f} us/call")
    print(
        f"llmlog's hooks on the caller's thread: {statistics.median(hooks):.0f} us/call, "
        f"{statistics.median(shares) * 100:.2f}% of the call "
        f"(range {min(shares) * 100:.2f}-{max(shares) * 100:.2f}%)"
    )


if __name__ == "__main__":
    main()
