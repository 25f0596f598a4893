"""mkdocs hooks (``hooks:`` in mkdocs.yml): the pages of the site that are made from other files.

- ``index.md`` is the repository's README, ``core.md`` the core's, and ``contributing.md`` and
  ``changelog.md`` the files of those names, with their links made relative to the site;
  ``example-configuration.md`` shows ``llmlog.toml.example`` and ``license.md`` the license.
- ``reference/``: one API reference page per public module of the core (every module of
  ``core/src/llmlog`` whose name does not start with ``_``, found when the site is built, so a
  module added, moved or made private changes the reference with no edit here), rendered by
  mkdocstrings from the docstrings; ``reference/hookspecs.md`` is the hooks reference.

The pages exist only in the built site; nothing generated is written to the repository.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core" / "src" / "llmlog"

#: Modules left out of the API reference: the command line is documented by its ``--help`` and the
#: README's table, not by its functions.
NOT_API = {"llmlog.cli"}


class AttrsFieldsFilter(logging.Filter):
    """Drops griffe's "No matching parameter for 'x'" warnings, and only those.

    The attrs classes document their fields with ``:param x:``; attrs writes their ``__init__`` at
    run time, which griffe's static analysis cannot see, so every field looks unmatched. Every
    other warning of griffe (and of mkdocs) still fails the strict build.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "No matching parameter for '" not in record.getMessage()


def public_modules() -> list[str]:
    """The dotted names of the core's public modules and packages, sorted, ``llmlog`` first."""
    names = []
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        name = ".".join(parts)
        if name not in NOT_API and not any(name.startswith(f"{hidden}.") for hidden in NOT_API):
            names.append(name)
    return sorted(names, key=lambda name: (name != "llmlog", name))


def site_links(markdown: str, *, base: str) -> str:
    """Links of a Markdown file at ``base`` (relative to the repository) made relative to the
    site: ``docs/x.md`` becomes ``x.md``, the README ``index.md``, the core's README ``core.md``
    and the example configuration its page."""
    targets = {
        "README.md": "index.md",
        "core/README.md": "core.md",
        "llmlog.toml.example": "example-configuration.md",
        "CONTRIBUTING.md": "contributing.md",
        "CHANGELOG.md": "changelog.md",
        "LICENSE": "license.md",
    }

    def fix(match: re.Match[str]) -> str:
        target, anchor = match.group(2), match.group(3) or ""
        if re.match(r"[a-z]+:", target):
            return match.group(0)
        path = (Path(base).parent / target).as_posix()
        path = re.sub(r"(^|/)[^/]+/\.\./", r"\1", path).removeprefix("./")
        path = path.removeprefix("docs/") if path.startswith("docs/") else targets.get(path, path)
        return f"{match.group(1)}({path}{anchor})"

    return re.sub(r"(\[[^\]]*\])\(([^)#\s]+)(#[^)\s]*)?\)", fix, markdown)


def reference_page(module: str) -> str:
    if module == "llmlog.hookspecs":
        return (
            "# Hooks reference\n\n"
            "The hook specifications, from the docstrings of `llmlog.hookspecs`. "
            "[Hooks](../hooks.md) adds an example for each, "
            "[writing a plugin](../writing-a-plugin.md) the steps.\n\n"
            "::: llmlog.hookspecs\n"
            "    options:\n"
            "      show_root_heading: false\n"
            "      members_order: source\n"
        )
    return f"# `{module}`\n\n::: {module}\n"


def on_startup(command: str, dirty: bool) -> None:
    for name in ("griffe", "mkdocs.plugins.griffe", "mkdocs.plugins.mkdocstrings_handlers"):
        logging.getLogger(name).addFilter(AttrsFieldsFilter())


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """The guides in ``docs/`` link to files at the root of the repository (``../CONTRIBUTING.md``)
    as GitHub shows them; on the site those are pages of their own."""
    uri = page.file.src_uri
    if "/" in uri or page.file.generated_by is not None:
        return markdown
    return site_links(markdown, base=f"docs/{uri}")


def on_files(files: Files, config: Any) -> Files:
    pages = {
        "index.md": site_links((ROOT / "README.md").read_text(), base="README.md"),
        "core.md": site_links((ROOT / "core" / "README.md").read_text(), base="core/README.md"),
        "contributing.md": site_links(
            (ROOT / "CONTRIBUTING.md").read_text(), base="CONTRIBUTING.md"
        ),
        "changelog.md": site_links((ROOT / "CHANGELOG.md").read_text(), base="CHANGELOG.md"),
        "license.md": f"# License\n\n```text\n{(ROOT / 'LICENSE').read_text()}```\n",
        "example-configuration.md": (
            "# Example configuration\n\n`llmlog.toml.example` at the root of the repository: "
            "every key, with its default. See the [configuration reference](configuration.md).\n\n"
            f"```toml\n{(ROOT / 'llmlog.toml.example').read_text()}```\n"
        ),
    }
    modules = public_modules()
    for module in modules:
        pages[f"reference/{module}.md"] = reference_page(module)
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content))

    # The reference section of the navigation lists what was found.
    for section in config["nav"]:
        if isinstance(section, dict) and "API reference" in section:
            section["API reference"] = [
                {"Hooks": "reference/llmlog.hookspecs.md"},
                *(f"reference/{module}.md" for module in modules if module != "llmlog.hookspecs"),
            ]
    return files
