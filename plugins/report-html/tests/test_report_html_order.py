"""The tree's order: nodes already in order (what a program running its spans one after the other
gives) are checked in one pass instead of sorted; the result must be the sort's, for any forest
in any order, loops and parents out of range included (hypothesis)."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from llmlog_report_html.model import Node, _in_order, _ordered, _sorted_tree

_kinds = st.sampled_from(["trace", "span", "llm", "thread", "group", "log"])


@st.composite
def forests(draw: st.DrawFn) -> list[Node]:
    count = draw(st.integers(min_value=0, max_value=14))
    nodes = []
    for index in range(count):
        # Mostly a parent before the node (a tree in order), sometimes anywhere (out of order,
        # a loop, itself) or out of range.
        parent = draw(
            st.one_of(
                st.integers(min_value=-1, max_value=max(index - 1, -1)),
                st.integers(min_value=-1, max_value=count + 1),
            )
        )
        start = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=5)))
        nodes.append(Node(f"n{index}", draw(_kinds), f"n{index}", parent=parent, start_ns=start))
    return nodes


def _shape(nodes: list[Node]) -> list[tuple[str, int]]:
    return [(n.id, n.parent) for n in nodes]


@settings(max_examples=400, deadline=None)
@given(forests())
def test_the_one_pass_check_gives_the_sorts_order(nodes):
    expected = _shape(_sorted_tree(copy.deepcopy(nodes)))
    assert _shape(_ordered(copy.deepcopy(nodes))) == expected


def test_a_sequential_run_is_taken_as_it_is_and_a_late_sibling_is_not():
    nodes = [
        Node("t", "trace", "t"),
        Node("a", "span", "a", parent=0, start_ns=1),
        Node("a1", "llm", "a1", parent=1, start_ns=2),
        Node("b", "span", "b", parent=0, start_ns=3),
        Node("x", "span", "x", parent=99, start_ns=0),  # a parent out of range: a root
    ]
    assert _in_order(nodes) and nodes[4].parent == -1
    out_of_time = [Node("t", "trace", "t"), Node("b", "span", "b", parent=0, start_ns=3)]
    out_of_time.append(Node("a", "span", "a", parent=0, start_ns=1))
    assert not _in_order(out_of_time)
    assert [n.id for n in _ordered(out_of_time)] == ["t", "a", "b"]
    split = [Node("t", "trace", "t"), Node("a", "span", "a", parent=0, start_ns=1)]
    split += [Node("b", "span", "b", parent=0, start_ns=2), Node("a1", "llm", "a1", parent=1)]
    assert not _in_order(split)  # a's subtree is not in one piece
    assert [n.id for n in _ordered(split)] == ["t", "a", "a1", "b"]
