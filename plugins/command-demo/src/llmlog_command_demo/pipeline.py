"""The pipeline of ``llmlog demo``: a small simulated LLM application that logs through the
configured outputs.

Nothing leaves the machine: the "model" is a function, prices come from a table in this file.
It shows what llmlog adds to plain logging: model ids and token usage from the context, trace ids,
cost and latency, secrets redacted, a prompt's terminal escapes neutralised, a retry warning and an
error with its traceback. A simulated provider SDK logs DEBUG lines through the standard logging
module; with a flight recorder running they are kept there, though no output shows them.
"""

from __future__ import annotations

import logging
import random
import secrets
import time

import llmlog
from llmlog.ext import TokenUsage, trace_region, trace_task

__all__ = ["run_demo"]

# USD per 1M tokens (prompt, completion) for the pretend models.
_PRICES = {"demo-small": (0.15, 0.60), "demo-large": (2.50, 10.00)}

_QUESTIONS = [
    ("What is the capital of France?", "Paris."),
    (
        "Summarise the last meeting.",
        "Decided to ship on Friday. \x1b[2J(a prompt injection tried to clear your screen)",
    ),
    ("Which tool converts currencies?", None),  # the tool call fails
]


# The simulated provider SDK logs through the standard logging module, as real SDKs do.
_sdk = logging.getLogger("demo.provider_sdk")


class ToolError(RuntimeError):
    """The simulated currency tool failing."""


def _fake_llm(model: str, prompt: str, answer: str, rng: random.Random) -> tuple[str, TokenUsage]:
    _sdk.debug("POST /v1/chat/completions model=%s prompt_chars=%d", model, len(prompt))
    prompt_tokens = len(prompt.split()) * 4 + rng.randint(20, 60)
    completion_tokens = len(answer.split()) * 4 + rng.randint(3, 12)
    p_price, c_price = _PRICES[model]
    cost = (prompt_tokens * p_price + completion_tokens * c_price) / 1_000_000
    return answer, TokenUsage(prompt_tokens, completion_tokens, cost=round(cost, 8))


def _convert_currency(amount: float) -> float:
    raise ToolError(f"exchange-rate service unreachable while converting {amount}")


def run_demo(seed: int = 7) -> TokenUsage:
    """Run the pipeline once; returns the total usage. Logs through the global logger."""
    rng = random.Random(seed)
    log = llmlog.get_logger("demo.pipeline")
    total = TokenUsage(cost=0.0)
    log.info("pipeline starting", questions=len(_QUESTIONS), llmlog_version=llmlog.__version__)
    log.debug(
        "provider client ready",
        base_url="https://llm.invalid/v1",
        api_key="sk-demo-not-a-real-key",
        headers={"Authorization": "Bearer sk-demo-not-a-real-key", "User-Agent": "llmlog-demo"},
    )
    for number, (question, answer) in enumerate(_QUESTIONS, start=1):
        model = "demo-large" if number == 2 else "demo-small"
        trace_id = secrets.token_hex(16)
        with (
            trace_task(f"request {number}"),
            llmlog.with_trace_id(trace_id),
            llmlog.with_model_id(model),
            llmlog.with_fields(request=number),
        ):
            started = time.perf_counter()
            log.info("question received", question=question)
            docs = rng.randint(2, 6)
            log.debug("retrieved %d documents", docs, latency_ms=round(rng.uniform(3, 12), 1))
            if number == 2:
                _sdk.debug("HTTP 429 from provider; retry-after=0.2s", extra={"attempt": 1})
                log.warn("rate limited by provider; retrying in %.1fs", 0.2, attempt=1)
            if answer is None:
                with trace_region("convert_currency"):
                    try:
                        _convert_currency(12.5)
                    except ToolError:
                        log.exception("tool call failed", tool="convert_currency")
                continue
            prompt = f"Context: {docs} documents.\nQuestion: {question}"
            completion, usage = _fake_llm(model, prompt, answer, rng)
            total = total + usage
            log.prompt_completion(prompt, completion, usage)
            latency = round((time.perf_counter() - started) * 1000 + rng.uniform(300, 900), 1)
            with llmlog.with_token_info(usage):
                log.info("answer ready", answer=completion, latency_ms=latency, cost=usage.cost)
    # the run's usage as the entry's own: its cost shown with where it came from, never $0
    # for a price nobody knew
    log.info("pipeline finished", token_info=total, failures=1)
    return total
