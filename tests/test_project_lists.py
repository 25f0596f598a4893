"""The hand-kept lists of distributions agree with the folders that hold them.

Every distribution is a folder with a ``pyproject.toml``: ``core/``, ``plugins/<kind>-<name>/``
(published plugins) and ``tools/<name>/`` (unpublished helpers). The expectations are read from
those folders, so a distribution added later is checked with no edit here; each failure names
the list to fix and what it lacks or has too many.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOT = tomllib.loads((REPO / "pyproject.toml").read_text())
CORE = tomllib.loads((REPO / "core" / "pyproject.toml").read_text())
#: The templates to copy (an output, a trace format): not distributions of the workspace.
TEMPLATES = (REPO / "plugins" / "_template", REPO / "plugins" / "_template_trace")

#: Which kinds of plugin (``plugins/<kind>-<name>``) core's ``[standard]`` extra holds, and why.
#: A new kind fails the test below until it is decided here.
STANDARD_KINDS = {
    # What logging and tracing need, with light dependencies: `pip install "llmlog[standard]"`
    # gives every output, formatter, flight-recorder backend and trace format.
    "output": True,
    "formatter": True,
    "recorder": True,
    "trace": True,
    # CLI commands: the README's demo command installs the standard set and runs `llmlog demo`.
    "command": True,
    # The HTML report and run diff (llmlog report, llmlog diff): no dependency beyond the
    # flight-recorder engine; the front end ships in the wheel as plain files.
    "report": True,
    # Shared machinery (the file sink, the flight-recorder engine): the standard plugins that use
    # it depend on it, so it comes with them whether [standard] names it or not.
    "engine": None,
    # Each brings a large third-party library (DSPy, OpenTelemetry); installed by name.
    "integration": False,
    "exporter": False,
    # The price table brings genai-prices (pydantic): its own extra, `llmlog[prices]`.
    "pricing": False,
    # Test tooling (ReplayLM and the pytest plugin) brings DSPy; installed by name.
    "testing": False,
    # The MCP server brings the mcp SDK (pydantic, starlette, httpx): its own extra, `llmlog[mcp]`.
    "server": False,
}


@dataclass(frozen=True)
class Distribution:
    folder: Path
    name: str
    import_name: str

    @property
    def relative(self) -> str:
        return self.folder.relative_to(REPO).as_posix()


def distribution(folder: Path) -> Distribution:
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    packages = [p.name for p in (folder / "src").iterdir() if (p / "__init__.py").is_file()]
    assert len(packages) == 1, f"{folder}: one package under src/, found {packages}"
    return Distribution(folder, project["name"], packages[0])


def members() -> list[Distribution]:
    """Every distribution folder but the templates: the core, the plugins and the tools."""
    folders = [REPO / "core"]
    for parent in ("plugins", "tools"):
        folders += sorted(
            p.parent for p in (REPO / parent).glob("*/pyproject.toml") if p.parent not in TEMPLATES
        )
    return [distribution(folder) for folder in folders]


MEMBERS = members()
PLUGINS = [d for d in MEMBERS if d.relative.startswith("plugins/")]
ALL_IMPORTS = {d.import_name for d in MEMBERS}


def test_the_folders_follow_the_naming_rule():
    """``plugins/<kind>-<name>`` and ``tools/<name>`` hold ``llmlog-<kind>-<name>``, imported as
    ``llmlog_<kind>_<name>``."""
    for d in MEMBERS:
        if d.relative == "core":
            assert (d.name, d.import_name) == ("llmlog", "llmlog")
            continue
        assert d.name == f"llmlog-{d.folder.name}", d.relative
        assert d.import_name == d.name.replace("-", "_"), d.relative


def test_every_distribution_is_a_workspace_source():
    sources = set(ROOT["tool"]["uv"]["sources"])
    expected = {d.name for d in MEMBERS}
    assert sources == expected, (
        "root pyproject [tool.uv.sources]: "
        f"missing {sorted(expected - sources)}, not a distribution {sorted(sources - expected)}"
    )
    assert all(ROOT["tool"]["uv"]["sources"][name] == {"workspace": True} for name in sources)


def test_every_distribution_is_a_workspace_member_and_the_template_is_not():
    workspace = ROOT["tool"]["uv"]["workspace"]

    def matched(relative: str) -> bool:
        return any(fnmatch.fnmatch(relative, g) for g in workspace["members"]) and not any(
            fnmatch.fnmatch(relative, g) for g in workspace.get("exclude", [])
        )

    outside = [d.relative for d in MEMBERS if not matched(d.relative)]
    assert not outside, f"root pyproject [tool.uv.workspace] members leave out {outside}"
    for template in TEMPLATES:
        relative = template.relative_to(REPO).as_posix()
        assert not matched(relative), f"{relative}: a template must stay out of the workspace"
    # Every folder a member glob matches must be a distribution (uv refuses a folder without a
    # pyproject.toml, with an error far from the cause).
    for pattern in workspace["members"]:
        for folder in REPO.glob(pattern):
            if folder.is_dir() and matched(folder.relative_to(REPO).as_posix()):
                assert (folder / "pyproject.toml").is_file(), f"{folder} is not a distribution"


def test_every_import_name_is_first_party_for_ruff():
    first_party = set(ROOT["tool"]["ruff"]["lint"]["isort"]["known-first-party"])
    expected = ALL_IMPORTS | {distribution(t).import_name for t in TEMPLATES}
    assert first_party == expected, (
        "root pyproject [tool.ruff.lint.isort] known-first-party: "
        f"missing {sorted(expected - first_party)}, unknown {sorted(first_party - expected)}"
    )


def test_every_source_folder_is_type_checked():
    files = ROOT["tool"]["mypy"]["files"]
    unchecked = [
        d.relative
        for d in MEMBERS
        if not any(fnmatch.fnmatch(f"{d.relative}/src", pattern) for pattern in files)
    ]
    assert not unchecked, f"root pyproject [tool.mypy] files leave out {unchecked}"


def test_the_import_contracts_know_every_distribution():
    linter = ROOT["tool"]["importlinter"]
    roots = set(linter["root_packages"])
    assert roots == ALL_IMPORTS, (
        "root pyproject [tool.importlinter] root_packages: "
        f"missing {sorted(ALL_IMPORTS - roots)}, unknown {sorted(roots - ALL_IMPORTS)}"
    )
    (no_plugin,) = [c for c in linter["contracts"] if c.get("source_modules") == ["llmlog"]]
    forbidden = set(no_plugin["forbidden_modules"])
    expected = ALL_IMPORTS - {"llmlog"}
    assert forbidden == expected, (
        f"import contract {no_plugin['name']!r} forbidden_modules: "
        f"missing {sorted(expected - forbidden)}, unknown {sorted(forbidden - expected)}"
    )


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda d: d.relative)
def test_the_standard_extra_holds_the_standard_kinds(plugin):
    kind = plugin.folder.name.split("-", 1)[0]
    assert kind in STANDARD_KINDS, (
        f"{plugin.relative}: a new kind of plugin; decide in STANDARD_KINDS "
        "(tests/test_project_lists.py) whether llmlog[standard] holds it"
    )
    standard = {
        re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        for requirement in CORE["project"]["optional-dependencies"]["standard"]
    }
    if STANDARD_KINDS[kind] is True:
        assert plugin.name in standard, f"core/pyproject.toml [standard] lacks {plugin.name}"
    elif STANDARD_KINDS[kind] is False:
        assert plugin.name not in standard, f"core/pyproject.toml [standard] holds {plugin.name}"


def test_the_standard_extra_names_only_plugins():
    names = {d.name for d in PLUGINS}
    for requirement in CORE["project"]["optional-dependencies"]["standard"]:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        assert name in names, f"core/pyproject.toml [standard]: {name} is not a plugin folder"


def test_the_readme_layout_table_lists_every_distribution():
    readme = (REPO / "README.md").read_text()
    rows = set(re.findall(r"^\| `([^`]+)/` \| `([^`]+)`[^|]*\| `([^`]+)` \|$", readme, re.M))
    expected = {(d.relative, d.name, d.import_name) for d in MEMBERS}
    missing = expected - rows
    assert not missing, f"README's layout table lacks {sorted(missing)}"
    templates = {t.relative_to(REPO).as_posix() for t in TEMPLATES}
    extra = {row for row in rows if row[0] not in templates} - expected
    assert not extra, f"README's layout table lists what is not a distribution: {sorted(extra)}"
