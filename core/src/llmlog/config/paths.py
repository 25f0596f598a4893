"""Paths written in a configuration, resolved the same way wherever they are used."""

from __future__ import annotations

from pathlib import Path

__all__ = ["config_relative"]


def config_relative(raw: str, config_path: Path | None, default: Path) -> Path:
    """A path from configuration: ``default`` when empty, ``~`` expanded, and a relative path
    taken from the configuration file's directory (so a config works from any working
    directory)."""
    if not raw:
        return default
    path = Path(raw).expanduser()
    if not path.is_absolute() and config_path is not None:
        path = config_path.parent / path
    return path
