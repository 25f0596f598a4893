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
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NewType

import attrs
import platformdirs

from llmlog.config.converter import converter, parse_severity_strict, structure_errors
from llmlog.config.errors import ConfigError
from llmlog.flight.options import FlightRecorderOptions
from llmlog.registry import Component
from llmlog.severity import Severity
from llmlog.stdlib import StdlibOptions
from llmlog.traceconfig import TraceOptions

__all__ = [
    "ConfigSource",
    "Configuration",
    "FormatterSpec",
    "IntegrationSpec",
    "OutputSpec",
    "Settings",
    "find_config",
    "load_configuration",
    "read_source",
]


def _fraction(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {value!r}")


def _non_negative(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value!r}")


#: A regular expression given in the configuration, compiled when it is read, so a bad one is
#: reported at its own path (``$.redact_patterns[1]``).
Regex = NewType("Regex", str)


def _regex(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (a regular expression), got {type(value).__name__}")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


converter.register_structure_hook(Regex, _regex)


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
    redact_keys: list[Regex] = attrs.Factory(list)
    #: Scan every string for secrets by their shape (keys, tokens, URL passwords, ``password=...``).
    redact_values: bool = True
    #: More regular expressions to redact inside strings (the first group only, if it has groups).
    redact_patterns: list[Regex] = attrs.Factory(list)
    #: Strings longer than this many characters are cut, with a ``…[truncated N chars]`` marker; 0: no cap.
    max_string_length: int = attrs.field(default=32_768, validator=_non_negative)


SETTINGS_KEYS = tuple(f.name for f in attrs.fields(Settings))
#: Tables of llmlog.toml beside the top-level keys, and the options class of each fixed one.
SECTIONS: dict[str, type] = {
    "stdlib": StdlibOptions,
    "flight_recorder": FlightRecorderOptions,
    "trace": TraceOptions,
}
#: The table key of each section that names a component (a name, or a table with ``type``), its
#: default, and what messages call it.
_SECTION_COMPONENTS = {
    "flight_recorder": ("backend", "memory", "flight-recorder backend"),
    "trace": ("format", "dspy", "trace format"),
}
TABLES = ("outputs", *SECTIONS, "integrations")


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


@attrs.frozen
class IntegrationSpec:
    """One ``[integrations.NAME]`` table, validated."""

    component: Component
    enabled: bool
    options: Any


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
    :param stdlib: the ``[stdlib]`` table.
    :param flight_recorder: the ``[flight_recorder]`` table.
    :param recorder_backend: the flight recorder's backend component and options.
    :param trace: the ``[trace]`` table.
    :param trace_format: the trace format of sessions opened without one, and its options
        (``None`` when the default ``dspy`` is not installed and none was chosen).
    :param integrations: the ``[integrations.NAME]`` tables, by name.
    :param source: where it was read from.
    :param provenance: for each top-level key and table, where its value came from.
    """

    settings: Settings
    outputs: dict[str, OutputSpec]
    source: ConfigSource
    provenance: dict[str, str]
    stdlib: StdlibOptions = attrs.Factory(StdlibOptions)
    flight_recorder: FlightRecorderOptions = attrs.Factory(FlightRecorderOptions)
    recorder_backend: FormatterSpec | None = None
    trace: TraceOptions = attrs.Factory(TraceOptions)
    trace_format: FormatterSpec | None = None
    integrations: dict[str, IntegrationSpec] = attrs.Factory(dict)


def user_config_file() -> Path:
    """``llmlog.toml`` in the platform's user configuration directory."""
    return platformdirs.user_config_path("llmlog", appauthor=False) / "llmlog.toml"


# Anchored at one place (no leading \s*, which a search retries at every offset) and ASCII digits.
_TOML_WHERE = re.compile(r" ?\((?:at line (\d+), column (\d+)|at end of document)\)$", re.ASCII)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        # Name the place as file:line:column, which editors and terminals can jump to.
        text = str(exc)
        match = _TOML_WHERE.search(text)
        if match is None:
            raise ConfigError(str(path), [f"invalid TOML: {text}"]) from None
        if match.group(1):
            line, column = int(match.group(1)), int(match.group(2))
        else:
            content = path.read_text("utf-8", "replace").splitlines() or [""]
            line, column = len(content), len(content[-1]) + 1
        raise ConfigError(
            f"{path}:{line}:{column}", [f"invalid TOML: {text[: match.start()]}"]
        ) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None


def read_source(path: str | os.PathLike[str], kind: str = "file") -> ConfigSource:
    """Read one configuration file (``pyproject.toml`` files are read from ``[tool.llmlog]``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(str(p), ["configuration file not found"])
    data = _read_toml(p)
    if p.name == "pyproject.toml":
        table = data.get("tool", {}).get("llmlog")
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
        table = _read_toml(pyproject).get("tool", {}).get("llmlog")
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
        errors.append(f"expected an array of plugin names, got {disabled!r} @ $.disabled_plugins")
        disabled = []
    return only, disabled, errors


def _choices(table: Mapping[str, Component]) -> str:
    return ", ".join(sorted(table)) or "(none installed)"


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
            keys = ", ".join(repr(k) for k in table)
            errors.append(
                f"unknown key {keys}; {component.kind.singular} {component.name!r} takes no options @ {path}"
            )
        return None
    options, problems = structure_errors(table, component.options, path)
    errors.extend(problems)
    return options


def _component_spec(
    raw: Any, components: Mapping[str, Component], kind: str, path: str, errors: list[str]
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
        errors.append(f"expected a {kind} name or table, got {raw!r} @ {path}")
        return None
    component = components.get(name)
    if component is None:
        errors.append(f"unknown {kind} {name!r}; installed: {_choices(components)} @ {path}")
        return None
    return FormatterSpec(component, _structure_options(component, table, path, errors))


def _output_spec(
    name: str,
    raw: Any,
    outputs: Mapping[str, Component],
    formatters: Mapping[str, Component],
    errors: list[str],
) -> OutputSpec | None:
    path = f"$.outputs.{name}"
    if not isinstance(raw, dict):
        errors.append(f"expected a table, got {raw!r} @ {path}")
        return None
    table = dict(raw)
    type_name = table.pop("type", name)  # [outputs.console] alone means type = "console"
    component = outputs.get(type_name) if isinstance(type_name, str) else None
    if component is None:
        errors.append(
            f"unknown output type {type_name!r}; installed: {_choices(outputs)} @ {path}.type"
        )
        return None
    level = None
    if "level" in table:
        try:
            level = parse_severity_strict(table.pop("level"))
        except ValueError as exc:
            errors.append(f"{exc} @ {path}.level")
    formatter = None
    raw_formatter = table.pop("formatter", component.default_formatter)
    if raw_formatter is not None:
        if not component.accepts_formatter:
            errors.append(f"output type {type_name!r} takes no formatter @ {path}.formatter")
        else:
            formatter = _component_spec(
                raw_formatter, formatters, "formatter", f"{path}.formatter", errors
            )
    options = _structure_options(component, table, path, errors)
    return OutputSpec(name, component, level, formatter, options)


def _integration_specs(
    raw: Any, components: Mapping[str, Component], errors: list[str]
) -> dict[str, IntegrationSpec]:
    specs: dict[str, IntegrationSpec] = {}
    if not isinstance(raw, dict):
        errors.append(f"expected a table of integrations, got {raw!r} @ $.integrations")
        return specs
    for name, table in raw.items():
        path = f"$.integrations.{name}"
        component = components.get(name)
        if component is None:
            errors.append(
                f"unknown integration {name!r}; installed: {_choices(components)} @ {path}"
            )
            continue
        if not isinstance(table, dict):
            errors.append(f"expected a table, got {table!r} @ {path}")
            continue
        options = dict(table)
        enabled = options.pop("enabled", False)
        if not isinstance(enabled, bool):
            errors.append(f"expected true or false, got {enabled!r} @ {path}.enabled")
            continue
        specs[name] = IntegrationSpec(
            component, enabled, _structure_options(component, options, path, errors)
        )
    return specs


def load_configuration(
    source: ConfigSource,
    outputs: Mapping[str, Component],
    formatters: Mapping[str, Component],
    *,
    recorders: Mapping[str, Component] | None = None,
    trace_formats: Mapping[str, Component] | None = None,
    integrations: Mapping[str, Component] | None = None,
    extra_errors: list[str] | None = None,
) -> Configuration:
    """Validate ``source`` against the installed components; raise :class:`ConfigError` listing
    every problem."""
    errors = list(extra_errors or [])
    data = dict(source.data)
    origin = source.label
    provenance: dict[str, str] = {}
    for key in (*SETTINGS_KEYS, *TABLES):
        provenance[key] = origin if key in data else "default"
    env_level = os.environ.get("LLMLOG_LEVEL")
    if env_level:
        data["level"] = env_level
        provenance["level"] = "environment LLMLOG_LEVEL"

    unknown = [k for k in data if k not in SETTINGS_KEYS and k not in TABLES]
    for key in unknown:
        errors.append(
            f"unknown key {key!r}; valid keys: {', '.join(SETTINGS_KEYS)}; tables: {', '.join(TABLES)} @ $.{key}"
        )
    settings_data = {k: v for k, v in data.items() if k in SETTINGS_KEYS}
    settings, problems = structure_errors(settings_data, Settings, "$")
    errors.extend(problems)

    raw_outputs = data.get("outputs")
    if raw_outputs is None:
        raw_outputs = _default_outputs(outputs)
    specs: dict[str, OutputSpec] = {}
    if isinstance(raw_outputs, dict):
        for name, raw in raw_outputs.items():
            spec = _output_spec(name, raw, outputs, formatters, errors)
            if spec is not None:
                specs[name] = spec
    else:
        errors.append(f"expected a table of outputs, got {raw_outputs!r} @ $.outputs")

    sections: dict[str, Any] = {}
    chosen: dict[str, FormatterSpec | None] = {}
    components = {"flight_recorder": recorders or {}, "trace": trace_formats or {}}
    for name, options_class in SECTIONS.items():
        table = data.get(name, {})
        if name in _SECTION_COMPONENTS and isinstance(table, dict):
            key, default, kind = _SECTION_COMPONENTS[name]
            table = dict(table)
            raw = table.pop(key, None)
            if raw is None and default not in components[name]:
                chosen[name] = None  # the default is not installed and nothing asked for it
            else:
                chosen[name] = _component_spec(
                    default if raw is None else raw,
                    components[name],
                    kind,
                    f"$.{name}.{key}",
                    errors,
                )
        sections[name], problems = structure_errors(table, options_class, f"$.{name}")
        errors.extend(problems)

    integration_specs = _integration_specs(data.get("integrations", {}), integrations or {}, errors)

    if errors:
        raise ConfigError(origin, errors)
    assert settings is not None
    return Configuration(
        settings,
        specs,
        source,
        provenance,
        **sections,
        recorder_backend=chosen.get("flight_recorder"),
        trace_format=chosen.get("trace"),
        integrations=integration_specs,
    )
