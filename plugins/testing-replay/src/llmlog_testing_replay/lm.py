"""``ReplayLM``: a DSPy LM answering from recorded traces."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import dspy

from llmlog.ext import TraceSession, new_span_id, start_trace_session
from llmlog_integration_dspy.lm import model_and_provider, request_params
from llmlog_testing_replay.index import (
    RecordedCall,
    ReplayError,
    ReplayIndex,
    request_messages,
)

__all__ = ["ReplayLM", "ReplayedResponse"]

TracePaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


class ReplayedResponse:
    """An OpenAI-shaped chat completion built from a recorded call (what DSPy's legacy
    ``forward`` returns): one choice with the recorded text, the recorded ``usage``, the recorded
    cost as LiteLLM's ``_hidden_params["response_cost"]``, and ``replayed = True``, by which the
    DSPy integration marks the call replayed in the trace."""

    replayed = True

    def __init__(self, call: RecordedCall, model: str) -> None:
        self.recorded = call
        self.model = call.model or model
        self.id = f"replayed-{id(call):x}"
        self.object = "chat.completion"
        self.choices = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": call.response},
                "finish_reason": "stop",
            }
        ]
        # The recorded counts under the names llmlog reads (usage_from), so a replayed call's
        # tokens are the recorded ones, detail counts (cached, reasoning) included.
        usage = {k: v for k, v in call.usage.items() if k not in ("cost", "cost_source")}
        usage.setdefault("prompt_tokens", 0)
        usage.setdefault("completion_tokens", 0)
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        self.usage = usage
        self._hidden_params = {"response_cost": call.cost}


class ReplayLM(dspy.BaseLM):  # type: ignore[misc]
    """A DSPy LM that answers from recorded traces instead of a model.

    ``dspy.configure(lm=ReplayLM("tests/traces/qa.jsonl"))`` and the program runs offline: each
    request is looked up by its key (the model, the messages exactly, and the parameters that
    change the answer; see :mod:`llmlog_testing_replay.index` for the rules) and answered with
    the recorded response. Tokens and cost of a replayed call are the recorded ones; the DSPy
    integration writes it with ``replayed: true`` and ``cost_source = "replayed"``.

    :param trace: a trace file (any installed format: ``dspy``, ``rlm``...), several, or a
        :class:`~llmlog_testing_replay.ReplayIndex` (shared between LMs).
    :param model: the model this LM stands for (``openai/gpt-4o-mini``); by default the trace's
        one model (an error if it recorded several: pass the one this LM replaces).
    :param strict: ``True`` (default): a request that was not recorded raises
        :class:`~llmlog_testing_replay.NotRecorded`, naming the closest recorded call and the
        difference (:class:`~llmlog_testing_replay.Unreplayable` when the recording has it
        redacted or capped). ``False``: any of these goes to ``fallback``.
    :param fallback: the real LM a request that was not recorded goes to when not ``strict``.
    :param record: a trace file the calls answered by ``fallback`` are written to (``dspy``
        format, redacted as configured), to replay them next time with the first trace.
    :param exact_params: the recorded parameters must equal the request's; by default the
        parameters the request sets must have been recorded with the same values (a parameter
        the request leaves unset takes the recorded value, so ``ReplayLM(trace)`` replays a
        program whose LM had ``temperature=0.7``, and ``ReplayLM(trace, temperature=1.0)`` does
        not).
    :param exhausted: ``"error"`` (default) or ``"repeat"``: what a request made more times than
        it was recorded gets.
    :param kwargs: the LM's parameters (``temperature``, ``max_tokens``...), part of the key as
        a real LM's are; :meth:`like` copies them from the LM being replaced.

    Thread-safe: one ReplayLM serves ``Evaluate(num_threads=…)``, ``dspy.Parallel`` and
    concurrent ``acall`` s; requests of one key get their recorded answers in recorded order.
    """

    def __init__(
        self,
        trace: TracePaths | ReplayIndex,
        *,
        model: str | None = None,
        strict: bool = True,
        fallback: dspy.BaseLM | None = None,
        record: str | os.PathLike[str] | None = None,
        exact_params: bool = False,
        exhausted: str = "error",
        **kwargs: Any,
    ) -> None:
        if exhausted not in ("error", "repeat"):
            raise ValueError(f"exhausted must be 'error' or 'repeat', not {exhausted!r}")
        if not strict and fallback is None:
            raise ValueError("strict=False needs a fallback LM to answer what was not recorded")
        index = trace if isinstance(trace, ReplayIndex) else ReplayIndex.load(trace)
        if model is None:
            models = index.models()
            if len(models) > 1:
                raise ReplayError(
                    f"{', '.join(index.sources)}: calls of {len(models)} models were recorded "
                    f"({', '.join(models)}); pass model= (the one this LM replaces)"
                )
            model = models[0] if models else "replay"
        temperature = kwargs.pop("temperature", None)
        max_tokens = kwargs.pop("max_tokens", None)
        super().__init__(
            model=model,
            model_type="chat",
            temperature=temperature,
            max_tokens=max_tokens,
            cache=False,  # every answer comes from the index, in order
            num_retries=0,
            **kwargs,
        )
        self.index = index
        self.strict = strict
        self.fallback = fallback
        self.exact_params = exact_params
        self.exhausted = exhausted
        self.record_path = os.fspath(record) if record is not None else None
        self._recorder: TraceSession | None = None
        self._recorder_lock = threading.Lock()

    @classmethod
    def like(cls, lm: dspy.BaseLM, trace: TracePaths | ReplayIndex, **options: Any) -> ReplayLM:
        """A ReplayLM standing for ``lm``: its model and parameters (``temperature``,
        ``max_tokens``...; not its transport settings), so a request keys as ``lm``'s did."""
        params = request_params(lm, None)
        params.update(options.pop("params", {}))
        return cls(trace, model=str(lm.model), **params, **options)

    # -- DSPy's LM interface -----------------------------------------------------------------------

    def forward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        """Answer from the recording (DSPy calls this; the result is an OpenAI-shaped response
        that DSPy turns into outputs, history and usage as it does for any LM)."""
        try:
            return self._replay(prompt, messages, kwargs)
        except ReplayError:  # not recorded, used up, or recorded redacted: the real LM
            if self.strict or self.fallback is None:
                raise
        start = time.perf_counter()
        raw = self.fallback.forward(prompt=prompt, messages=messages, **kwargs)
        self._record(prompt, messages, kwargs, raw, time.perf_counter() - start)
        return raw

    async def aforward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        """:meth:`forward` for ``acall`` (the lookup does not wait; a fallback call is awaited)."""
        try:
            return self._replay(prompt, messages, kwargs)
        except ReplayError:  # not recorded, used up, or recorded redacted: the real LM
            if self.strict or self.fallback is None:
                raise
        start = time.perf_counter()
        raw = await self.fallback.aforward(prompt=prompt, messages=messages, **kwargs)
        self._record(prompt, messages, kwargs, raw, time.perf_counter() - start)
        return raw

    def _replay(self, prompt: Any, messages: Any, kwargs: Mapping[str, Any]) -> ReplayedResponse:
        call = self.index.take(
            str(self.model),
            request_messages(prompt, messages),
            request_params(self, kwargs),
            exact_params=self.exact_params,
            exhausted=self.exhausted,
        )
        return ReplayedResponse(call, str(self.model))

    # -- recording what the fallback answered -------------------------------------------------------

    def _record(
        self, prompt: Any, messages: Any, kwargs: Mapping[str, Any], raw: Any, seconds: float
    ) -> None:
        if self.record_path is None or self.fallback is None:
            return
        from llmlog_integration_dspy.lm import prompt_of, response_of

        outputs = self.fallback._process_completion(raw, {**self.fallback.kwargs, **kwargs})
        text, listed = prompt_of({"prompt": prompt, "messages": messages})
        usage = _get(raw, "usage")
        cost = (getattr(raw, "_hidden_params", None) or {}).get("response_cost")
        if usage is not None and cost is not None:
            usage = {**_plain(usage), "cost": cost}
        model, provider = model_and_provider(self)
        with self._recorder_lock:
            if self._recorder is None:
                self._recorder = start_trace_session(
                    self.record_path, {"integration": "dspy", "replay": "added"}, format="dspy"
                )
            session = self._recorder
            span = new_span_id()
            session.emit_span_start(span, None, f"LM:{model}", {"model": model})
            session.emit_llm_call(
                span,
                provider,
                model,
                text,
                response_of(outputs),
                usage,
                int(seconds * 1000),
                messages=listed,
                params=request_params(self.fallback, kwargs),  # what the fallback was asked
            )
            session.emit_span_end(span, None, None, int(seconds * 1000))
            session.flush()

    def close(self) -> None:
        """Close the trace of added calls, if one was opened."""
        with self._recorder_lock:
            recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


def _plain(usage: Any) -> dict[str, Any]:
    if isinstance(usage, Mapping):
        return dict(usage)
    dump = getattr(usage, "model_dump", None)
    if callable(dump):
        try:
            return dict(dump())
        except Exception:
            pass
    return {k: v for k, v in vars(usage).items() if not k.startswith("_")}
