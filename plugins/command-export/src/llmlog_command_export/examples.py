"""A run's module calls as DSPy examples: ``llmlog export --to dspy-examples``.

A module call is a span with a ``module`` event (the DSPy integration and dspy-go record one for
every ``Module.__call__``: ``QA``, ``Predict:qa``; not for ``Evaluate``, the LM or the adapters)
and its inputs as fields (a mapping). In a run with no ``module`` event at all (spans opened by
hand), a span whose inputs and outputs are both fields counts as one; the LM's own spans
(``LM:...``) never do. By default
each top-level call (no module call above it) is one example; ``module=NAME`` takes the calls of
that module wherever they are (``Predict:qa``, ``Predict`` or ``qa``). A call that failed is
left out (its outputs are no label).

The file (schema ``llmlog.dspy-examples/1``)::

    {"schema": "llmlog.dspy-examples/1", "source": [...], "module": null,
     "examples": [{"inputs": {"question": "..."}, "outputs": {"answer": "..."},
                   "module": "QA", "trace_id": "...", "span_id": "..."}]}

:func:`load_examples` reads it into ``dspy.Example`` objects with their inputs marked
(``with_inputs``), which ``dspy.Evaluate`` and the optimizers take as ``devset``/``trainset``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from llmlog_command_export.rows import trace_ids
from llmlog_report_html.model import Run

__all__ = ["EXAMPLES_SCHEMA", "load_examples", "module_calls", "run_examples"]

EXAMPLES_SCHEMA = "llmlog.dspy-examples/1"

_SPAN_KINDS = frozenset({"span", "iteration", "code"})


def _is_call(run: Run, index: int, modules: bool) -> bool:
    node = run.nodes[index]
    if node.kind not in _SPAN_KINDS or node.name.startswith("LM:"):
        return False
    content = node.content
    if modules and "module" not in content:
        return False
    inputs, outputs = content.get("inputs"), content.get("outputs")
    # A call that raised recorded its inputs and no outputs: still a call (counted, left out).
    return isinstance(inputs, Mapping) and (isinstance(outputs, Mapping) or bool(node.error))


def _named(name: str, wanted: str) -> bool:
    kind, _, attribute = name.partition(":")
    return wanted in (name, kind, attribute)


def module_calls(run: Run, module: str | None = None) -> list[int]:
    """The indexes of the module calls to export: the top-level ones, or those of ``module``."""
    modules = any("module" in node.content for node in run.nodes)
    calls = [i for i in range(len(run.nodes)) if _is_call(run, i, modules)]
    if module is not None:
        return [i for i in calls if _named(run.nodes[i].name, module)]
    chosen = set(calls)
    top = []
    for index in calls:
        parent = run.nodes[index].parent
        while parent >= 0 and parent not in chosen:
            parent = run.nodes[parent].parent
        if parent < 0:
            top.append(index)
    return top


def run_examples(run: Run, module: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The examples of ``run`` (see the module docstring) and how many failed calls were left
    out."""
    ids = trace_ids(run)
    examples = []
    failed = 0
    for index in module_calls(run, module):
        node = run.nodes[index]
        if node.error:
            failed += 1
            continue
        examples.append(
            {
                "inputs": dict(node.content["inputs"]),
                "outputs": dict(node.content["outputs"]),
                "module": node.name,
                "trace_id": ids[index] or None,
                "span_id": node.id,
            }
        )
    return examples, failed


def load_examples(path: str | os.PathLike[str]) -> list[Any]:
    """The ``dspy.Example`` objects of a file ``llmlog export --to dspy-examples`` wrote, each
    with its inputs marked (``example.inputs()``) and its outputs as the labels: ready for
    ``dspy.Evaluate(devset=...)`` and an optimizer's ``trainset``.

    :raises ValueError: naming the file and what was expected when it is not such a file.
    """
    import dspy

    try:
        document = orjson.loads(Path(path).read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("schema") != EXAMPLES_SCHEMA:
        raise ValueError(f"{path}: expected a file of schema {EXAMPLES_SCHEMA}")
    examples = []
    for number, item in enumerate(document.get("examples") or (), 1):
        inputs = item.get("inputs") if isinstance(item, dict) else None
        outputs = item.get("outputs") if isinstance(item, dict) else None
        if not isinstance(inputs, dict) or not isinstance(outputs, dict):
            raise ValueError(f"{path}: example {number}: expected inputs and outputs objects")
        example = dspy.Example(**{**inputs, **outputs}).with_inputs(*inputs)
        examples.append(example)
    return examples
