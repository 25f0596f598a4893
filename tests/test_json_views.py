"""``--json`` of every viewer command (``view``, ``view --stats``, ``flight list``, ``flight
view``, ``diff``, ``reprice``): one envelope (schema ``llmlog.view/1``), paging that loses and
repeats nothing, ``--search`` and ``--errors``, redaction as configured, no terminal escape in
the output, and bad input refused with ``file:line`` and no traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmlog
from llmlog.testing import run_cli, run_llmlog

SECRET = "sk-proj-" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
ENVELOPE = {
    "schema",
    "command",
    "source",
    "total",
    "offset",
    "limit",
    "next_offset",
    "filters",
    "items",
    "summary",
    "problems",
}


def write_run(path: Path, *, answer: str = "Paris", calls: int = 6) -> Path:
    """``calls`` questions in one ``evaluate`` span, each an LLM call of its own span; the
    third fails; one prompt carries a secret, one a terminal escape and a C1 control."""
    llmlog.configure({})
    with (
        llmlog.new_trace_session(path, format="dspy"),
        llmlog.span("evaluate", inputs={"n": calls}),
    ):
        for n in range(calls):
            question = f"question {n}"
            if n == 1:
                question += f" key={SECRET}"
            if n == 4:
                question += " \x1b[31mred\x1b[0m \u009b2J"
            try:
                with llmlog.span(f"Predict:q{n}", inputs={"question": question}):
                    llmlog.record_llm_call(
                        model="gpt-4o-mini",
                        provider="openai",
                        prompt=[{"role": "user", "content": question}],
                        response=answer if n != 3 else "",
                        usage={"prompt_tokens": 10 + n, "completion_tokens": 2, "cost": 0.001},
                        latency_ms=5 + n,
                    )
                    if n == 2:
                        raise RuntimeError("the model timed out")
            except RuntimeError:
                pass
    # The session redacted the secret as it wrote; put it back, as a tool that does not redact
    # would have written it, so that what is checked is the redaction of the reader.
    path.write_text(path.read_text().replace("[REDACTED:openai-key]", SECRET))
    assert SECRET in path.read_text()
    return path


def _json(*args: str, capsys: Any, status: int = 0) -> dict[str, Any]:
    assert run_cli(list(args)) == status
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u009b" not in out
    document = json.loads(out)
    assert set(document) == ENVELOPE
    assert document["schema"] == "llmlog.view/1"
    return document


def test_view_json_pages_filters_and_redacts(tmp_path: Path, capsys) -> None:
    trace = write_run(tmp_path / "run.jsonl")
    full = _json("view", str(trace), "--json", capsys=capsys)
    assert full["command"] == "view"
    assert full["total"] == len(full["items"]) == 1 + 6 + 6 + 1  # evaluate, spans, calls, error
    assert full["next_offset"] is None
    names = [item["name"] for item in full["items"]]
    assert names[0] == "evaluate" and "Predict:q0" in names
    assert SECRET not in json.dumps(full)
    assert "[REDACTED:openai-key]" in json.dumps(full)
    assert full["summary"]["llm_calls"] == 6 and full["summary"]["errors"] >= 1

    # Pages of 4 put together are the whole, in order.
    pages, offset = [], 0
    while offset is not None:
        page = _json(
            "view", str(trace), "--json", "--limit", "4", "--offset", str(offset), capsys=capsys
        )
        assert page["total"] == full["total"] and page["limit"] == 4
        pages += page["items"]
        offset = page["next_offset"]
    assert pages == full["items"]

    errors = _json("view", str(trace), "--json", "--errors", capsys=capsys)
    assert errors["items"] and all(item["error"] for item in errors["items"])
    assert {item["name"] for item in errors["items"]} >= {"Predict:q2"}
    found = _json("view", str(trace), "--json", "--search", "QUESTION 5", capsys=capsys)
    assert {item["name"] for item in found["items"]} == {"Predict:q5", "gpt-4o-mini"}
    assert found["filters"] == {"search": "QUESTION 5", "errors": False}
    # What redaction took out cannot be found by searching for it.
    assert _json("view", str(trace), "--json", "--search", SECRET[:20], capsys=capsys)["total"] == 0

    bare = _json("view", str(trace), "--json", "--no-content", capsys=capsys)
    assert all(item["prompt"] is None and item["input"] is None for item in bare["items"])


def test_view_stats_json(tmp_path: Path, capsys) -> None:
    trace = write_run(tmp_path / "run.jsonl")
    stats = _json("view", str(trace), "--json", "--stats", capsys=capsys)
    assert stats["command"] == "view --stats"
    models = {row["model"]: row for row in stats["items"]}
    assert set(models) == {"gpt-4o-mini", "*"}
    assert models["*"]["calls"] == 6
    assert models["*"]["input_tokens"] == sum(10 + n for n in range(6))
    assert models["*"]["cost"] == pytest.approx(0.006)


def test_view_json_refuses_bad_input_with_file_and_line(tmp_path: Path) -> None:
    trace = write_run(tmp_path / "run.jsonl")
    lines = trace.read_text().splitlines()
    lines.insert(2, "{not json")
    trace.write_text("\n".join(lines) + "\n")
    done = run_llmlog("view", str(trace), "--json")
    assert done.returncode == 1
    assert done.stderr.startswith(f"llmlog: {trace}:3: ")
    assert "Traceback" not in done.stderr and done.stdout == ""
    lenient = run_llmlog("view", str(trace), "--json", "--lenient")
    assert lenient.returncode == 0
    assert any(f"{trace}:3:" in p for p in json.loads(lenient.stdout)["problems"])
    assert run_llmlog("view", str(trace), "--limit", "3").returncode == 2


def test_view_json_without_the_run_model_says_what_to_install(tmp_path: Path) -> None:
    trace = write_run(tmp_path / "run.jsonl")
    done = run_llmlog(
        "view", str(trace), "--json", env={"LLMLOG_DISABLED_PLUGINS": "command_export"}
    )
    assert done.returncode == 2
    assert "llmlog-command-export" in done.stderr


def test_diff_json(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a.jsonl")
    b = write_run(tmp_path / "b.jsonl", answer="Lyon")
    diff = _json("diff", str(a), str(b), "--json", capsys=capsys)
    assert diff["command"] == "diff"
    assert diff["summary"]["changed"] >= 5 and diff["summary"]["a_totals"]["calls"] == 6
    assert all(item["status"] != "same" for item in diff["items"])
    assert SECRET not in json.dumps(diff)
    everything = _json("diff", str(a), str(b), "--json", "--all", capsys=capsys)
    assert everything["total"] > diff["total"]
    failed = _json("diff", str(a), str(b), "--json", "--all", "--errors", capsys=capsys)
    assert failed["items"] and all(
        (item["a"] or {}).get("error") or (item["b"] or {}).get("error") for item in failed["items"]
    )
    assert run_cli(["diff", str(a), str(b), "--json", "--exit-code"]) == 3


def test_reprice_json(tmp_path: Path, capsys) -> None:
    trace = write_run(tmp_path / "run.jsonl")
    document = _json("reprice", str(trace), "--json", "--table", "none", capsys=capsys)
    assert document["command"] == "reprice"
    assert document["summary"]["calls"] == 6
    assert len(document["items"]) == 6
    assert all(row["model"] == "gpt-4o-mini" for row in document["items"])
    assert [row["line"] for row in document["items"]] == sorted(
        row["line"] for row in document["items"]
    )


def _snapshot(directory: Path) -> Path:
    from llmlog.ext import global_flight_recorder

    llmlog.configure({"flight_recorder": {"enabled": True, "snapshot_dir": str(directory)}})
    try:
        log = llmlog.get_logger("app")
        log.info("starting", password="hunter2")
        log.error("it broke \x1b]0;title\x07")
        path = Path(global_flight_recorder().snapshot(directory / "flight-1.jsonl", reason="test"))
    finally:
        llmlog.configure({})
    return path


def test_flight_json(tmp_path: Path, capsys) -> None:
    snapshot = _snapshot(tmp_path / "snaps")
    (tmp_path / "snaps" / "notes.jsonl").write_text('{"a": 1}\n')
    listing = _json("flight", "list", str(tmp_path / "snaps"), "--json", capsys=capsys)
    assert listing["command"] == "flight list"
    (item,) = listing["items"]
    assert item["path"] == str(snapshot) and item["reason"] == "test" and item["events"] >= 2
    assert listing["summary"]["other_files"] == 1
    view = _json("flight", "view", str(snapshot), "--json", capsys=capsys)
    assert view["command"] == "flight view"
    assert view["summary"]["header"]["reason"] == "test"
    messages = [event.get("msg") for event in view["items"]]
    assert "starting" in messages
    assert "hunter2" not in json.dumps(view)
    errors = _json("flight", "view", str(snapshot), "--json", "--errors", capsys=capsys)
    assert [event["level"] for event in errors["items"]] == ["ERROR"]
    page = _json("flight", "view", str(snapshot), "--json", "--limit", "1", capsys=capsys)
    assert len(page["items"]) == 1 and page["next_offset"] == 1
