"""Finding, reading and validating ``llmlog.toml``.

Where the configuration comes from, first match wins:

1. the path passed to ``llmlog.configure(path)`` or ``llmlog config check PATH``;
2. the file named by ``LLMLOG_CONFIG``;
3. ``./llmlog.toml``;
4. the ``[tool.llmlog]`` table of ``./pyproject.toml``;
5. ``llmlog.toml`` in the user configuration directory (platformdirs: ``~/.config/llmlog`` on
   Linux);
6. the built-in defaults.

``LLMLOG_LEVEL`` then overrides ``level`` from any of them. Validation reports every problem at
once, each as ``description @ $.key.path``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import platformdirs

from llmlog.config.converter import (
    KeyPattern,
    ValuePattern,
    parse_severity_strict,
    shown,
    structure_errors,
)
from llmlog.config.errors import ConfigError
from llmlog.config.tomlfile import MAX_DEPTH, read_toml
from llmlog.registry import Component, ComponentKind, Table
from llmlog.severity import Severity

__all__ = [
    "ConfigSource",
    "Configuration",
    "FormatterSpec",
    "IntegrationSpec",
    "OutputSpec",
    "Settings",
    "TableSpec",
    "find_config",
    "load_configuration",
    "read_source",
]


def _fraction(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {shown(value)}")


def _non_negative(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {shown(value)}")


@attrs.frozen(kw_only=True)
class Settings:
    """The top-level keys of ``llmlog.toml`` (everything but the tables)."""

    #: Lowest severity logged at all; outputs can raise it further with their own ``level``.
    level: Severity = Severity.INFO
    #: Fraction of entries below ERROR to keep (head sampling); ERROR and FATAL are always kept.
    sample_rate: float = attrs.field(default=1.0, validator=_fraction)
    #: Fields added to every entry.
    default_fields: dict[str, Any] = attrs.Factory(dict)
    #: Record the calling file, line and function of each entry.
    include_caller: bool = True
    #: Entry-point plugins to load: ``"auto"`` for all installed, or a list of plugin names.
    plugins: str | list[str] = "auto"
    #: Plugin names never to load (added to ``LLMLOG_DISABLED_PLUGINS``).
    disabled_plugins: list[str] = attrs.Factory(list)
    #: Redact secrets: the values of secret-looking keys (``api_key``, ``authorization``, ...)
    #: become ``[REDACTED]``, secrets found inside text ``[REDACTED:kind]`` (docs/redaction.md).
    redact: bool = True
    #: More key patterns (regular expressions, case-insensitive) to redact.
    redact_keys: list[KeyPattern] = attrs.Factory(list)
    #: Scan every string for secrets by their shape (keys, tokens, URL passwords, ``password=...``).
    redact_values: bool = True
    #: More regular expressions to redact inside strings (the first group only, if it has groups).
    redact_patterns: list[ValuePattern] = attrs.Factory(list)
    #: Strings longer than this many characters are cut, with a ``…[truncated N chars]`` marker; 0: no cap.
    max_string_length: int = attrs.field(default=32_768, validator=_non_negative)


SETTINGS_KEYS = tuple(f.name for f in attrs.fields(Settings))
#: Tables the loader itself owns; plugins claim the others (``llmlog_register_tables``).
TABLES = ("outputs", "integrations")
#: Tables claimed by distributions that may not be installed, and the distribution of each: the
#: message for such a table says what to install.
KNOWN_TABLES = {"flight_recorder": "llmlog-engine-flight"}


@attrs.frozen
class FormatterSpec:
    """A formatter selected for an output: its component and structured options."""

    component: Component
    options: Any


@attrs.frozen
class OutputSpec:
    """One ``[outputs.NAME]`` table, validated."""

    name: str
    component: Component
    level: Severity | None
    formatter: FormatterSpec | None
    options: Any
    #: ``follow_trace_sampling = true``: entries of a trace held by tail sampling wait for its
    #: decision (``llmlog.sampling.FollowSampling``).
    follow_trace_sampling: bool = False


@attrs.frozen
class IntegrationSpec:
    """One ``[integrations.NAME]`` table, validated."""

    component: Component
    enabled: bool
    options: Any


@attrs.frozen
class TableSpec:
    """A claimed top-level table (``llmlog_register_tables``), validated.

    :param table: the claim: name, options class, plugin, ``check`` and ``start``.
    :param options: the structured options (the defaults when the file has no such table).
    :param component: the component its :class:`~llmlog.registry.ComponentChoice` key chose, and
        that component's options; ``None`` when it selects none.
    """

    table: Table
    options: Any
    component: FormatterSpec | None = None


@attrs.frozen
class ConfigSource:
    """Where a configuration came from.

    :param kind: ``file``, ``pyproject``, ``env`` (the file named by ``LLMLOG_CONFIG``), ``dict``
        or ``defaults``.
    :param path: the file, if any.
    :param data: the raw table as read.
    """

    kind: str
    path: Path | None
    data: Mapping[str, Any]

    @property
    def label(self) -> str:
        """How messages name this source."""
        if self.kind == "pyproject":
            return f"{self.path} [tool.llmlog]"
        if self.path is not None:
            return str(self.path)
        return {"dict": "<configuration dict>", "defaults": "<built-in defaults>"}.get(
            self.kind, self.kind
        )


@attrs.frozen
class Configuration:
    """A validated configuration, ready to be built.

    :param settings: the top-level keys.
    :param outputs: the output tables, by name, in file order.
    :param integrations: the ``[integrations.NAME]`` tables, by name.
    :param tables: every claimed top-level table (``[stdlib]``, ``[trace]``, ``[flight_recorder]``
        and those of other plugins), by name, sorted by name.
    :param source: where it was read from.
    :param provenance: for each top-level key and table, where its value came from.
    """

    settings: Settings
    outputs: dict[str, OutputSpec]
    source: ConfigSource
    provenance: dict[str, str]
    integrations: dict[str, IntegrationSpec] = attrs.Factory(dict)
    tables: dict[str, TableSpec] = attrs.Factory(dict)

    def table(self, name: str) -> TableSpec | None:
        """The claimed table ``name``, or ``None`` when no loaded plugin claims it."""
        return self.tables.get(name)


def user_config_file() -> Path:
    """``llmlog.toml`` in the platform's user configuration directory."""
    return platformdirs.user_config_path("llmlog", appauthor=False) / "llmlog.toml"


def _tool_table(data: Mapping[str, Any]) -> Any:
    """``[tool.llmlog]`` of a ``pyproject.toml`` (``None`` when there is none)."""
    tool = data.get("tool")
    return tool.get("llmlog") if isinstance(tool, dict) else None


def _expanded(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    try:
        return p.expanduser()
    except RuntimeError:  # "~user" of no known user, or no home directory: keep it as written
        return p


def read_source(path: str | os.PathLike[str], kind: str = "file") -> ConfigSource:
    """Read one configuration file (``pyproject.toml`` files are read from ``[tool.llmlog]``).

    :raises ConfigError: naming the file, for any file that cannot be used (see
        :func:`~llmlog.config.tomlfile.read_toml`).
    """
    p = _expanded(path)
    data = read_toml(p)
    if p.name == "pyproject.toml":
        table = _tool_table(data)
        if not isinstance(table, dict):
            raise ConfigError(str(p), ["no [tool.llmlog] table in this pyproject.toml"])
        return ConfigSource("pyproject", p, table)
    return ConfigSource(kind, p, data)


def find_config(
    explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None
) -> ConfigSource:
    """Locate and read the configuration, in the documented order."""
    if explicit is not None:
        return read_source(explicit)
    env = os.environ.get("LLMLOG_CONFIG")
    if env:
        return read_source(env, kind="env")
    here = cwd or Path.cwd()
    local = here / "llmlog.toml"
    if local.is_file():
        return read_source(local)
    pyproject = here / "pyproject.toml"
    if pyproject.is_file():
        table = _tool_table(read_toml(pyproject))
        if isinstance(table, dict):
            return ConfigSource("pyproject", pyproject, table)
    user = user_config_file()
    if user.is_file():
        return read_source(user)
    return ConfigSource("defaults", None, {})


def plugin_selection(source: ConfigSource) -> tuple[list[str] | None, list[str], list[str]]:
    """Read ``plugins`` and ``disabled_plugins`` before the plugins are loaded.

    :returns: ``(only, disabled, errors)``; ``only`` is ``None`` for ``"auto"``.
    """
    errors: list[str] = []
    raw = source.data.get("plugins", "auto")
    only: list[str] | None = None
    # A wrong value is reported when the settings are validated.
    if raw != "auto" and isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        only = list(raw)
    disabled = source.data.get("disabled_plugins", [])
    if not (isinstance(disabled, list) and all(isinstance(x, str) for x in disabled)):
        errors.append(
            f"expected an array of plugin names, got {shown(disabled)} @ $.disabled_plugins"
        )
        disabled = []
    return only, disabled, errors


#: What :class:`Explain` is asked about for a table (:data:`llmlog.plugins.TABLE`).
TABLE_KIND = "table"

#: Tells why a component or table is missing although a switched-off plugin provides it
#: (:meth:`llmlog.plugins.PluginHost.unavailable`).
Explain = Callable[[ComponentKind | str, str], str | None]


def _choices(table: Mapping[str, Component]) -> str:
    return ", ".join(sorted(table)) or "(none installed)"


def _missing(
    label: str,
    kind: ComponentKind,
    name: Any,
    components: Mapping[str, Component],
    explain: Explain | None,
) -> str:
    """The message for a component name nothing installed provides."""
    why = explain(kind, name) if explain is not None and isinstance(name, str) else None
    if why is not None:
        return f"{label} {shown(name)} is {why}"
    return f"unknown {label} {shown(name)}; installed: {_choices(components)}"


def _default_outputs(outputs: Mapping[str, Component]) -> dict[str, Any]:
    # The console plugin when installed, else the built-in plain stderr output.
    return (
        {"console": {"type": "console"}} if "console" in outputs else {"stderr": {"type": "stderr"}}
    )


def _structure_options(
    component: Component, table: dict[str, Any], path: str, errors: list[str]
) -> Any:
    if component.options is None:
        if table:
            keys = ", ".join(shown(k) for k in table)
            errors.append(
                f"unknown key {keys}; {component.kind.singular} {component.name!r} takes no options @ {path}"
            )
        return None
    options, problems = structure_errors(table, component.options, path)
    errors.extend(problems)
    return options


def _component_spec(
    raw: Any,
    components: Mapping[str, Component],
    kind: str,
    path: str,
    errors: list[str],
    explain: Explain | None = None,
    registered: ComponentKind = ComponentKind.FORMATTER,
) -> FormatterSpec | None:
    """A component chosen by name (``"json"``) or by a table with ``type`` and its options."""
    if isinstance(raw, str):
        name, table = raw, {}
    elif isinstance(raw, dict):
        table = dict(raw)
        name = table.pop("type", None)
        if not isinstance(name, str):
            errors.append(
                f"a {kind} table needs a type (one of: {_choices(components)}) @ {path}.type"
            )
            return None
    else:
        errors.append(f"expected a {kind} name or table, got {shown(raw)} @ {path}")
        return None
    component = components.get(name)
    if component is None:
        errors.append(f"{_missing(kind, registered, name, components, explain)} @ {path}")
        return None
    return FormatterSpec(component, _structure_options(component, table, path, errors))


def _output_spec(
    name: str,
    raw: Any,
    outputs: Mapping[str, Component],
    formatters: Mapping[str, Component],
    errors: list[str],
    explain: Explain | None = None,
) -> OutputSpec | None:
    path = f"$.outputs.{name}"
    if not isinstance(raw, dict):
        errors.append(f"expected a table, got {shown(raw)} @ {path}")
        return None
    table = dict(raw)
    type_name = table.pop("type", name)  # [outputs.console] alone means type = "console"
    component = outputs.get(type_name) if isinstance(type_name, str) else None
    if component is None:
        message = _missing("output type", ComponentKind.OUTPUT, type_name, outputs, explain)
        errors.append(f"{message} @ {path}.type")
        return None
    level = None
    if "level" in table:
        try:
            level = parse_severity_strict(table.pop("level"))
        except ValueError as exc:
            errors.append(f"{exc} @ {path}.level")
    follow = table.pop("follow_trace_sampling", False)
    if type(follow) is not bool:
        errors.append(f"expected true or false, got {shown(follow)} @ {path}.follow_trace_sampling")
        follow = False
    formatter = None
    raw_formatter = table.pop("formatter", component.default_formatter)
    if raw_formatter is not None:
        if not component.accepts_formatter:
            errors.append(f"output type {shown(type_name)} takes no formatter @ {path}.formatter")
        else:
            formatter = _component_spec(
                raw_formatter, formatters, "formatter", f"{path}.formatter", errors, explain
            )
    options = _structure_options(component, table, path, errors)
    return OutputSpec(name, component, level, formatter, options, follow)


def _table_specs(
    data: Mapping[str, Any],
    tables: Mapping[str, Table],
    components: Mapping[ComponentKind, Mapping[str, Component]],
    errors: list[str],
    explain: Explain | None = None,
) -> dict[str, TableSpec]:
    """Every claimed table validated: the file's, or the defaults when it has none."""
    specs: dict[str, TableSpec] = {}
    # By name: the same order whichever plugins claim them and in whatever order they load.
    for name, claim in sorted(tables.items()):
        table = data.get(name, {})
        path = f"$.{name}"
        chosen = None
        choice = claim.component
        if choice is not None and isinstance(table, dict):
            table = dict(table)
            installed = components.get(choice.kind, {})
            label = choice.label or choice.kind.singular
            value = table.pop(choice.key, None)
            if value is None:
                value = choice.default if choice.default in installed else None
            if value is not None:
                chosen = _component_spec(
                    value, installed, label, f"{path}.{choice.key}", errors, explain, choice.kind
                )
        options, problems = structure_errors(table, claim.options, path)
        errors.extend(problems)
        if options is not None:
            specs[name] = TableSpec(claim, options, chosen)
    return specs


def _unclaimed(name: str, tables: Mapping[str, Table], explain: Explain | None) -> str:
    """The message for a top-level key that is neither a setting nor a known table."""
    why = explain(TABLE_KIND, name) if explain is not None else None
    if why is not None:
        return f"table [{name}] is {why} @ $.{name}"
    known = (*TABLES, *tables)
    distribution = KNOWN_TABLES.get(name)
    if distribution is not None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            version(distribution)
        except PackageNotFoundError:
            return (
                f"table [{name}] needs the plugin that claims it: pip install {distribution} "
                f'(or "llmlog[standard]") @ $.{name}'
            )
        return (
            f"table [{name}] is claimed by {distribution}, which is installed but its plugin is "
            f"not loaded (it failed to import): `llmlog plugins` says why @ $.{name}"
        )
    return (
        f"unknown key {shown(name)}; valid keys: {', '.join(SETTINGS_KEYS)}; "
        f"tables: {', '.join(known)} @ $.{name}"
    )


def _integration_specs(
    raw: Any,
    components: Mapping[str, Component],
    errors: list[str],
    explain: Explain | None = None,
) -> dict[str, IntegrationSpec]:
    specs: dict[str, IntegrationSpec] = {}
    if not isinstance(raw, dict):
        errors.append(f"expected a table of integrations, got {shown(raw)} @ $.integrations")
        return specs
    for name, table in raw.items():
        path = f"$.integrations.{name}"
        component = components.get(name)
        if component is None:
            message = _missing("integration", ComponentKind.INTEGRATION, name, components, explain)
            errors.append(f"{message} @ {path}")
            continue
        if not isinstance(table, dict):
            errors.append(f"expected a table, got {shown(table)} @ {path}")
            continue
        options = dict(table)
        enabled = options.pop("enabled", False)
        if not isinstance(enabled, bool):
            errors.append(f"expected true or false, got {shown(enabled)} @ {path}.enabled")
            continue
        specs[name] = IntegrationSpec(
            component, enabled, _structure_options(component, options, path, errors)
        )
    return specs


#: Entries an array or a table may hold: no configuration needs more, and a typed array of
#: a million wrong values would make a million error lines.
MAX_ENTRIES = 10_000
#: Values a configuration may hold in all (counted with repetition, for a dict that shares its
#: parts): a TOML file of ``MAX_FILE_BYTES`` holds fewer.
MAX_VALUES = 2_500_000


def _path_of(parent: str, key: Any) -> str:
    return f"{parent}[{key}]" if isinstance(key, int) else f"{parent}.{key}"


def _shape_errors(data: Mapping[Any, Any]) -> tuple[list[str], set[Any]]:
    """What no validation can take: a key that is not a string, nesting deeper than
    :data:`~llmlog.config.tomlfile.MAX_DEPTH` (a dict that contains itself included), an array or
    table of more than :data:`MAX_ENTRIES` entries, more than :data:`MAX_VALUES` values. Walked
    without recursion.

    :returns: the errors, and the top-level keys whose values are to be left out of validation.
    """
    errors: list[str] = []
    bad: set[Any] = set()
    count = 0
    # (top-level key, value, its path, its depth: 1 for a top-level key's value)
    stack: list[tuple[Any, Any, str, int]] = []
    if len(data) > MAX_ENTRIES:
        return [f"a table of {len(data):,} entries; at most {MAX_ENTRIES:,} @ $"], set(data)
    for key, value in data.items():
        if not isinstance(key, str):
            errors.append(f"keys must be strings, got {shown(key)} @ $")
            bad.add(key)
        else:
            stack.append((key, value, f"$.{key}", 1))
    stack.reverse()  # popped in document order
    while stack:
        top, value, path, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            errors.append(f"more than {MAX_VALUES:,} values; not a configuration @ $")
            bad.update(data)
            break
        if top in bad or not isinstance(value, Mapping | list | tuple):
            continue
        if depth > MAX_DEPTH:
            errors.append(f"nested more than {MAX_DEPTH} levels deep @ {path}")
            bad.add(top)
            continue
        if len(value) > MAX_ENTRIES:
            kind = "a table" if isinstance(value, Mapping) else "an array"
            errors.append(f"{kind} of {len(value):,} entries; at most {MAX_ENTRIES:,} @ {path}")
            bad.add(top)
            continue
        items = list(value.items()) if isinstance(value, Mapping) else list(enumerate(value))
        for key, item in reversed(items):
            if isinstance(value, Mapping) and not isinstance(key, str):
                errors.append(f"keys must be strings, got {shown(key)} @ {path}")
                bad.add(top)
                break
            stack.append((top, item, _path_of(path, key), depth + 1))
    return errors, bad


def load_configuration(
    source: ConfigSource,
    outputs: Mapping[str, Component],
    formatters: Mapping[str, Component],
    *,
    integrations: Mapping[str, Component] | None = None,
    tables: Mapping[str, Table] | None = None,
    components: Mapping[ComponentKind, Mapping[str, Component]] | None = None,
    extra_errors: list[str] | None = None,
    explain: Explain | None = None,
) -> Configuration:
    """Validate ``source`` against the installed components; raise :class:`ConfigError` listing
    every problem.

    :param tables: the claimed top-level tables (:attr:`llmlog.plugins.PluginHost.tables`).
    :param components: the installed components of every kind, for the keys of claimed tables
        that select one.
    :param explain: says why a component or table is missing when a switched-off plugin provides
        it (:meth:`llmlog.plugins.PluginHost.unavailable`); without it such a name is unknown.
    """
    tables = tables or {}
    errors = list(extra_errors or [])
    problems, unusable = _shape_errors(source.data)
    errors.extend(problems)
    data = {k: v for k, v in source.data.items() if k not in unusable}
    origin = source.label
    provenance: dict[str, str] = {}
    for key in (*SETTINGS_KEYS, *TABLES, *tables):
        provenance[key] = origin if key in data else "default"
    env_level = os.environ.get("LLMLOG_LEVEL")
    if env_level:
        data["level"] = env_level
        provenance["level"] = "environment LLMLOG_LEVEL"

    for key in data:
        if key not in SETTINGS_KEYS and key not in TABLES and key not in tables:
            errors.append(_unclaimed(key, tables, explain))
    settings_data = {k: v for k, v in data.items() if k in SETTINGS_KEYS}
    settings, problems = structure_errors(settings_data, Settings, "$")
    errors.extend(problems)

    raw_outputs = data.get("outputs")
    if raw_outputs is None:
        raw_outputs = _default_outputs(outputs)
    specs: dict[str, OutputSpec] = {}
    if isinstance(raw_outputs, dict):
        for name, raw in raw_outputs.items():
            spec = _output_spec(name, raw, outputs, formatters, errors, explain)
            if spec is not None:
                specs[name] = spec
    else:
        errors.append(f"expected a table of outputs, got {shown(raw_outputs)} @ $.outputs")

    table_specs = _table_specs(data, tables, components or {}, errors, explain)
    integration_specs = _integration_specs(
        data.get("integrations", {}), integrations or {}, errors, explain
    )

    if errors:
        raise ConfigError(origin, errors)
    assert settings is not None
    return Configuration(
        settings,
        specs,
        source,
        provenance,
        integrations=integration_specs,
        tables=table_specs,
    )
