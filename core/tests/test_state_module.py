"""The process-wide state lives in one module, ``llmlog.state``: no other core module rebinds a
module global at run time or keeps a module-level lock (a lock at module level guards shared
state). Caches, which hold nothing a behaviour depends on, are the one exception and say so in
their name (``*_cache``)."""

from __future__ import annotations

import ast
from pathlib import Path

import llmlog

CORE = Path(llmlog.__file__).parent
STATE = CORE / "state.py"


def _modules() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if p != STATE)


def _module_level_locks(tree: ast.Module) -> list[str]:
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"Lock", "RLock", "Condition", "Semaphore"}:
                found.append(f"line {node.lineno}: {name}()")
    return found


def test_only_llmlog_state_rebinds_module_globals():
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                names = [n for n in node.names if not n.endswith("_cache")]
                if names:
                    offenders.append(f"{path.relative_to(CORE)}:{node.lineno}: global {names}")
    assert offenders == [], "process-wide state belongs in llmlog.state"


def test_only_llmlog_state_keeps_module_level_locks():
    offenders = {
        str(path.relative_to(CORE)): locks
        for path in _modules()
        if (locks := _module_level_locks(ast.parse(path.read_text(), str(path))))
    }
    assert offenders == {}, "process-wide state belongs in llmlog.state"


def test_llmlog_state_imports_nothing_of_llmlog_at_run_time():
    # So that every layer may import it and reaching it can never close an import cycle.
    tree = ast.parse(STATE.read_text())
    runtime_imports = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            (getattr(node, "module", None) or alias.name).startswith("llmlog")
            for alias in node.names
        )
    ]
    assert runtime_imports == []
