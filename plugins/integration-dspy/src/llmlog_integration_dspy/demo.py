"""``llmlog demo --dspy``: a traced DSPy program on DummyLM (no network, no API key).

A ReAct agent with a weather tool and a failing search tool, then a ChainOfThought, then a small
``dspy.Evaluate`` (two threads; an example that passes, one that fails, one whose program raises),
traced with the integration into a trace file of the configured format; the CLI then shows it
with ``llmlog view`` (the evaluation's score and a table of its examples under its root).
"""

from __future__ import annotations

from pathlib import Path

import dspy
from dspy.utils import DummyLM

import llmlog
from llmlog.ext import make_private_dirs
from llmlog_integration_dspy.integration import instrument, uninstrument

__all__ = ["run_dspy_demo"]

_log = llmlog.get_logger("demo.dspy")


def get_weather(city: str) -> str:
    """Current weather in a city."""
    _log.info("weather lookup", city=city)
    return f"Sunny and 21°C in {city}"


def search_news(query: str) -> str:
    """Search today's news (the demo's service is down)."""
    raise ConnectionError("news service unavailable")


_ANSWERS = [
    {
        "next_thought": "Check the news first.",
        "next_tool_name": "search_news",
        "next_tool_args": {"query": "Paris weather"},
    },
    {
        "next_thought": "News is down; ask the weather tool.",
        "next_tool_name": "get_weather",
        "next_tool_args": {"city": "Paris"},
    },
    {"next_thought": "I have the answer.", "next_tool_name": "finish", "next_tool_args": {}},
    {"reasoning": "The tool says it is sunny.", "answer": "Sunny and 21°C"},
    {"reasoning": "Sunny weather suits a walk.", "suggestion": "Walk along the Seine."},
]


#: The evaluation's questions, answers expected and DummyLM's answers (keyed: threads run them in
#: any order); "the moon" has no answer, so the program raises on it.
_EVAL = [("Capital of France?", "Paris", "Paris"), ("Capital of Spain?", "Madrid", "Barcelona")]
_EVAL_RAISES = ("Capital of the moon?", "none")


class Capital(dspy.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict("question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        if "moon" in question:
            raise ValueError("the moon has no capital")
        return self.answer(question=question)


def exact_match(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> bool:
    return bool(example.answer == prediction.answer)


def run_dspy_demo(directory: Path) -> Path:
    """Run the demo program traced into ``directory``; returns the trace file."""
    make_private_dirs(directory)
    callback = instrument()
    try:
        with llmlog.new_trace_session(directory) as session:
            with dspy.context(lm=DummyLM(_ANSWERS)):
                agent = dspy.ReAct("question -> answer", tools=[get_weather, search_news])
                weather = agent(question="What is the weather in Paris?").answer
                advice = dspy.ChainOfThought("weather -> suggestion")(weather=weather)
            _log.info("demo answered", weather=weather, suggestion=advice.suggestion)
            keyed = DummyLM({q.split()[-1]: {"answer": given} for q, _, given in _EVAL})
            devset = [
                dspy.Example(question=q, answer=a).with_inputs("question")
                for q, a in [*((q, a) for q, a, _ in _EVAL), _EVAL_RAISES]
            ]
            with dspy.context(lm=keyed):
                dspy.Evaluate(devset=devset, metric=exact_match, num_threads=2)(Capital())
            path = session.path
    finally:
        if callback.failures == 0:
            uninstrument()
    assert path is not None  # the trace formats write files
    return path
