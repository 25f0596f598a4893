"""Configuration: ``llmlog.toml`` found, read, validated and turned into components.

See ``docs/configuration.md`` for every key. The public entry point is :func:`llmlog.configure`;
this package holds the pieces it uses.
"""

from llmlog.config.converter import Bytes, FileMode, KeyPattern, Seconds, parse_duration, parse_size
from llmlog.config.errors import ConfigError, OptionError
from llmlog.config.loader import (
    ConfigSource,
    Configuration,
    FormatterSpec,
    OutputSpec,
    Settings,
    find_config,
    load_configuration,
    read_source,
)

__all__ = [
    "Bytes",
    "ConfigError",
    "ConfigSource",
    "Configuration",
    "FileMode",
    "FormatterSpec",
    "KeyPattern",
    "OptionError",
    "OutputSpec",
    "Seconds",
    "Settings",
    "find_config",
    "load_configuration",
    "parse_duration",
    "parse_size",
    "read_source",
]
