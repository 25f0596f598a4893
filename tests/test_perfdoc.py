"""docs/performance.md's benchmark tables are bench/render.py's output for the committed results
(bench/published/), so the page cannot drift from what was measured. No timing here: the tests
render stored results, they never run a benchmark."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent


def _render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_render", REPO / "bench" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


render = _render_module()
PAGE = REPO / "docs" / "performance.md"
PUBLISHED = REPO / "bench" / "published"


def test_the_page_tables_are_the_generators_output_for_the_committed_results() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert render.render(page, render.load(PUBLISHED)) == page, (
        "docs/performance.md's generated tables differ from bench/render.py's output for "
        "bench/published/: run `.venv/bin/python bench/render.py` (or `nox -s perfdoc` to measure "
        "again) instead of editing them by hand"
    )


def test_every_block_the_generator_knows_is_on_the_page_once() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for name in render.BLOCKS:
        assert page.count(f"<!-- begin generated: {name} ") == 1, name
        assert page.count(f"<!-- end generated: {name} -->") == 1, name


def test_a_stored_results_file_renders_its_figures_and_its_load() -> None:
    results = render.load(PUBLISHED)
    core = results["core.json"]
    text = render.render_floors(core)
    env = core["environment"]
    assert f"load {env['load_before'][0]:.2f} before and {env['load_after'][0]:.2f} after" in text
    assert env["date"] in text
    for fmt in ("json", "text", "logfmt"):
        for mode in ("write", "buffered"):
            figure = core["ns_per_call"][f"file.{fmt}.{mode}.llmlog"]
            ratio = core["ratios"][f"file.{fmt}.{mode}.llmlog/floor"]
            assert f"{figure['median']:,.0f} [{figure['p10']:,.0f}–{figure['p90']:,.0f}]" in text
            assert f"{ratio['median']:.2f}× [{ratio['min']:.2f}–{ratio['max']:.2f}]" in text
    for name, (file, renderer) in render.BLOCKS.items():
        out = renderer(results[file])
        assert out.startswith("Measured "), name
        assert "| " in out, name


def test_only_the_marked_blocks_change(tmp_path: Path) -> None:
    results = render.load(PUBLISHED)
    page = (
        "# Title\n\nProse before, 1,234 ns untouched.\n\n"
        "<!-- begin generated: trace (bench/render.py; do not edit) -->\nstale table\n"
        "<!-- end generated: trace -->\n\nProse after.\n"
    )
    out = render.render(page, results)
    assert out.startswith("# Title\n\nProse before, 1,234 ns untouched.\n\n")
    assert out.endswith("<!-- end generated: trace -->\n\nProse after.\n")
    assert "stale table" not in out
    assert render.render_trace(results["trace.json"]) in out
    assert render.render(out, results) == out  # rendering twice changes nothing

    # the command writes the page, and --check says whether it is up to date
    target = tmp_path / "page.md"
    target.write_text(page, encoding="utf-8")
    args = ["--results", str(PUBLISHED), "--page", str(target)]
    assert render.main([*args, "--check"]) == 1
    assert render.main(args) == 0
    assert target.read_text(encoding="utf-8") == out
    assert render.main([*args, "--check"]) == 0


def test_an_unknown_block_or_missing_results_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown generated block"):
        render.render("<!-- begin generated: nope x -->\n<!-- end generated: nope -->", {})
    with pytest.raises(KeyError, match=r"needs trace\.json"):
        render.render("<!-- begin generated: trace x -->\n<!-- end generated: trace -->", {})
    (tmp_path / "trace.json").write_text(json.dumps({"benchmark": "bench_trace.py"}))
    assert "trace.json" in render.load(tmp_path)
