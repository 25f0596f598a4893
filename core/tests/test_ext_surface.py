"""``llmlog.ext`` is the plugin API: every name in it resolves and is documented, importing it
stays cheap, and no first-party plugin imports core from anywhere else."""

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import llmlog
import llmlog.ext

REPO = Path(__file__).resolve().parents[2]
#: What a plugin may import core from: the user API, the plugin API, the test helpers.
ALLOWED_MODULES = {"llmlog", "llmlog.ext", "llmlog.testing"}


def plugin_sources() -> list[Path]:
    """Every module of a first-party plugin or tool, the templates' included."""
    return sorted(
        path
        for pattern in ("plugins/*/src/**/*.py", "tools/*/src/**/*.py")
        for path in REPO.glob(pattern)
    )


def imports_outside_the_api(source: str) -> list[str]:
    """What ``source`` takes from core other than through :data:`ALLOWED_MODULES`: ``import
    llmlog.x``, ``from llmlog.x import y``, ``from llmlog import submodule`` and
    ``llmlog.submodule`` as an attribute, each as ``line: what``."""
    public = {*llmlog.__all__, "ext", "testing"}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("llmlog.") and alias.name not in ALLOWED_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            if module.startswith("llmlog.") and module not in ALLOWED_MODULES:
                found.append(f"{node.lineno}: from {module} import ...")
            elif module == "llmlog":
                found += [
                    f"{node.lineno}: from llmlog import {alias.name}"
                    for alias in node.names
                    if alias.name not in public
                ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "llmlog"
            and node.attr not in public
        ):
            found.append(f"{node.lineno}: llmlog.{node.attr}")
    return found


def test_the_scan_finds_every_way_into_an_internal_module():
    source = (
        "import llmlog.render\n"
        "from llmlog.registry import OutputRegister\n"
        "from llmlog import state, get_logger\n"
        "import llmlog\n"
        "llmlog.runtime.plugin_host()\n"
        "from llmlog.ext import escape\n"
        "from llmlog.testing import capture\n"
        "llmlog.configure()\n"
        "from llmlog_engine_files import FileSink\n"
    )
    assert imports_outside_the_api(source) == [
        "1: import llmlog.render",
        "2: from llmlog.registry import ...",
        "3: from llmlog import state",
        "5: llmlog.runtime",
    ]


def test_plugins_import_core_only_through_its_declared_api():
    sources = plugin_sources()
    assert any("_template_trace" in str(path) for path in sources)
    assert any("engine-flight" in str(path) for path in sources)
    outside = {
        str(path.relative_to(REPO)): found
        for path in sources
        if (found := imports_outside_the_api(path.read_text()))
    }
    assert outside == {}, "import these through llmlog.ext (or add them to it)"


def test_every_name_of_the_api_resolves_and_is_documented():
    api = llmlog.ext
    assert api.__all__ == sorted(api.__all__, key=lambda n: (not n.isupper(), n))
    reference = api.__doc__ or ""
    undocumented = []
    for name in api.__all__:
        value = getattr(api, name)
        # The module docstring is the plugin author's index: it names every entry.
        if not re.search(rf"``{re.escape(name)}(``|\()", reference):
            undocumented.append(f"{name}: not in the llmlog.ext docstring")
        # Functions, classes and modules carry their own reference (constants and type
        # aliases are described in the index).
        if (inspect.isfunction(value) or inspect.isclass(value) or inspect.ismodule(value)) and (
            not (value.__doc__ or "").strip()
        ):
            undocumented.append(f"{name}: no docstring")
    assert undocumented == []
    assert set(dir(api)) >= set(api.__all__)
    with pytest.raises(AttributeError, match="no attribute 'internal_thing'"):
        _ = api.internal_thing


def test_importing_the_api_loads_no_more_than_importing_llmlog():
    """``import llmlog.ext`` adds only itself to what ``import llmlog`` loads: its names load
    their modules on first use."""
    program = (
        "import sys\n"
        "import llmlog\n"
        "before = set(sys.modules)\n"
        "import llmlog.ext\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "['llmlog.ext']"


def test_the_three_lists_of_the_api_name_the_same_names_from_the_same_places():
    """``llmlog.ext`` names each entry three times, for three readers: the ``TYPE_CHECKING``
    imports (type checkers), ``_SOURCES`` (the lazy loading at run time) and ``__all__`` (linters,
    ``import *``). A name added to one and not the others, or loaded from another module than the
    one type checkers see, fails here."""
    tree = ast.parse(Path(llmlog.ext.__file__).read_text())
    typed: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module
                for alias in imp.names:
                    typed[alias.asname or alias.name] = (imp.module, alias.name)
    assert typed == llmlog.ext._SOURCES
    assert set(llmlog.ext.__all__) == set(typed)
