"""``llmlog flight view --json`` on the corpus of damaged and odd snapshots: a document of schema
``llmlog.view/1`` with no terminal escape, or ``file:line: ...`` on stderr and exit 1; never a
traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmlog.testing import run_cli

CORPUS = sorted((Path(__file__).parent / "flight_corpus").glob("*.jsonl*"))


@pytest.mark.parametrize("snapshot", CORPUS, ids=lambda p: p.name)
@pytest.mark.parametrize("lenient", [False, True])
def test_every_corpus_file_gives_a_document_or_a_located_error(snapshot, lenient, capsys):
    args = ["flight", "view", str(snapshot), "--json", "--search", "a"]
    status = run_cli([*args, "--lenient"] if lenient else args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if status == 0:
        assert "\x1b" not in out and "\u009b" not in out
        document = json.loads(out)
        assert document["schema"] == "llmlog.view/1" and document["command"] == "flight view"
        assert document["total"] == len(document["items"]) or document["next_offset"]
    else:
        assert status == 1
        assert err.startswith(f"llmlog: {snapshot}"), err
