"""What every ``llmlog view`` renderer shares: the flags, colours, ``--watch`` polling,
``--export`` checks.

A trace format registers a viewer (``view=`` in ``llmlog_register_trace_formats``) as
``view(path, args, out) -> exit status``; ``args`` carries the flags of ``llmlog view``: the
shared ones (:func:`add_view_flags`) and those every installed format declares
(``view_arguments=``).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import time
from array import array
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from llmlog.plugins import PluginHost
from llmlog.registry import Component, ComponentKind
from llmlog.render import escape

__all__ = [
    "Distribution",
    "Paint",
    "ViewError",
    "add_view_flags",
    "export_target",
    "follow",
    "paint_for",
    "view_arguments",
    "write_private_text",
]

RED, GREEN, YELLOW, DIM, CYAN, BOLD, RESET = (
    "\033[31m",
    "\033[32m",
    "\033[33m",
    "\033[2m",
    "\033[36m",
    "\033[1m",
    "\033[0m",
)

Paint = Callable[[str, str], str]


class ViewError(ValueError):
    """A problem with the request (not the file): printed as ``llmlog: message``, exit 2."""


def add_view_flags(parser: argparse.ArgumentParser, formats: Mapping[str, Component]) -> None:
    """Add the flags of ``llmlog view`` to ``parser``: the ones every viewer takes, then each of
    ``formats``' own (``view_arguments``), their help naming the format. A flag that two formats
    declare alike is added once, its help naming both; one that clashes with another flag is left
    out with a warning on stderr, as is a format whose ``view_arguments`` raises."""
    parser.add_argument(
        "--stats", action="store_true", help="totals: tokens, cost, timings (min/median/max)"
    )
    parser.add_argument(
        "--errors", action="store_true", help="only what failed (and, in a tree, its ancestors)"
    )
    parser.add_argument(
        "-s", "--search", metavar="TEXT", help="only what mentions TEXT (case-insensitive)"
    )
    parser.add_argument(
        "-c", "--compact", action="store_true", help="no full responses or LLM-call details"
    )
    parser.add_argument(
        "-w", "--watch", action="store_true", help="follow a growing file (Ctrl-C to stop)"
    )
    parser.add_argument("--export", metavar="FILE.md", help="write Markdown to FILE.md")
    parser.add_argument("--no-color", action="store_true", help="never colour")
    parser.add_argument("--lenient", action="store_true", help="skip unreadable lines (counted)")
    flags = _FormatFlags(parser)
    for name, component in sorted(formats.items()):
        declare = component.support.view_arguments
        if declare is None:
            continue
        flags.format = name
        try:
            declare(flags)
        except Exception as exc:  # one format's mistake leaves the others' flags in place
            _warn(f"trace format {name!r}: its view flags raised {type(exc).__name__}: {exc}")
    flags.finish()


class _FormatFlags:
    """The ``parser`` a format's ``view_arguments`` adds to: each flag once, whichever formats
    declare it, with a help that names them."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._parser = parser
        self.format = ""
        # option strings -> (the action, what declared it but its help, (format, help) pairs)
        self._added: dict[tuple[str, ...], tuple[argparse.Action, dict[str, Any], list[Any]]] = {}

    def add_argument(self, *name_or_flags: str, **kwargs: Any) -> Any:
        text = str(kwargs.pop("help", "") or "")
        known = self._added.get(name_or_flags)
        if known is not None and known[1] == kwargs:
            known[2].append((self.format, text))
            return known[0]
        try:
            if known is not None:
                raise argparse.ArgumentError(None, f"declared differently by {known[2][0][0]!r}")
            action = self._parser.add_argument(*name_or_flags, **kwargs)
        except (argparse.ArgumentError, TypeError, ValueError) as exc:
            _warn(
                f"trace format {self.format!r}: view flag {'/'.join(name_or_flags)} left out: {exc}"
            )
            return None
        self._added[name_or_flags] = (action, kwargs, [(self.format, text)])
        return action

    def finish(self) -> None:
        """Write each flag's help: ``only iteration N (rlm)``, ``... (dspy: ...; rlm: ...)``."""
        for action, _, helps in self._added.values():
            texts = {text for _, text in helps}
            if len(texts) == 1:
                action.help = f"{texts.pop()} ({', '.join(name for name, _ in helps)})".lstrip()
            else:
                action.help = "; ".join(f"{name}: {text}" for name, text in helps)


def _warn(message: str) -> None:
    print(f"llmlog: warning: {escape(message)}", file=sys.stderr)


def view_arguments(
    formats: Mapping[str, Component] | None = None, **flags: object
) -> argparse.Namespace:
    """The ``args`` a viewer gets from ``llmlog view``, for calling one from code:
    ``view(path, view_arguments(stats=True), sys.stdout)``: every flag at its default but those
    given, the flags of ``formats`` included (default: the installed trace formats, as ``llmlog
    view`` finds them, looked up once per process and plugin switches). An unknown flag is a
    :class:`TypeError`."""
    if formats is None:
        defaults = _installed_defaults(
            os.environ.get("LLMLOG_DISABLE_PLUGIN_AUTOLOAD"),
            os.environ.get("LLMLOG_DISABLED_PLUGINS"),
        )
    else:
        defaults = _defaults(formats)
    unknown = set(flags) - set(defaults)
    if unknown:
        raise TypeError(f"unknown llmlog view flags: {', '.join(sorted(unknown))}")
    return argparse.Namespace(**{**defaults, **flags})


def _defaults(formats: Mapping[str, Component]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(add_help=False)
    add_view_flags(parser, formats)
    return vars(parser.parse_args([]))


@functools.cache
def _installed_defaults(autoload: str | None, disabled: str | None) -> dict[str, Any]:
    # A plugin host reads every entry point (tens of milliseconds): a viewer called from code in
    # a loop (the fuzz campaigns) would spend its time there. The switches are the cache key.
    return _defaults(PluginHost().components(ComponentKind.TRACE_FORMAT))


def paint_for(args: argparse.Namespace, out: TextIO) -> Paint:
    """``paint(colour, text)``: colours only on a terminal and without ``--no-color``/``NO_COLOR``."""
    if args.no_color or os.environ.get("NO_COLOR") or not out.isatty():
        return lambda code, text: text
    return lambda code, text: f"{code}{text}{RESET}"


def export_target(args: argparse.Namespace) -> Path | None:
    """The ``--export`` file, which must end in ``.md`` (as in the rlm-go viewer)."""
    if not args.export:
        return None
    target = Path(args.export)
    if target.suffix.lower() != ".md":
        raise ViewError(f"--export writes Markdown; give a file ending in .md, not {target.name!r}")
    return target


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, replacing it whole (:func:`llmlog.safefiles.
    written_atomically`): owner-only (0600) from its first byte, as every file llmlog creates (an
    export holds prompts and responses)."""
    from llmlog.safefiles import written_atomically

    with written_atomically(path) as fh:
        fh.write(text.encode("utf-8", "backslashreplace"))


def follow(
    path: Path,
    on_change: Callable[[], None],
    *,
    interval: float = 0.5,
    until: Callable[[], bool] = lambda: False,
) -> int:
    """``--watch``: call ``on_change()`` whenever ``path`` changes size, polling every
    ``interval`` seconds, until Ctrl-C (or ``until()``); returns exit status 0."""
    size = -1
    try:
        while not until():
            try:
                current = path.stat().st_size
            except FileNotFoundError:
                current = -1
            if current != size:
                size = current
                if current >= 0:
                    on_change()
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    return 0


class Distribution:
    """Numbers seen one by one (latencies, durations), summarised in bounded memory for
    ``--stats`` on files of any size: count, sum, min and max exactly; the median and other
    quantiles exactly while at most :attr:`EXACT` values were seen, then from a histogram of
    logarithmic buckets whose answers are within :attr:`ACCURACY` (1%) of the true value (as
    DDSketch bounds its error), so memory stops growing with the file. :attr:`approximate` says
    which, so a viewer can print ``≈``.

    Only finite values of 0 or more are taken (a duration); others are ignored.
    """

    #: Values kept one by one before the histogram takes over (8 bytes each).
    EXACT = 1 << 16
    #: The histogram's relative accuracy.
    ACCURACY = 0.01
    _GAMMA = (1 + ACCURACY) / (1 - ACCURACY)
    _LOG_GAMMA = math.log(_GAMMA)

    __slots__ = ("_buckets", "_values", "_zeros", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self._values: array[float] | None = array("d")
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    @property
    def approximate(self) -> bool:
        """Whether quantiles now come from the histogram."""
        return self._values is None

    def add(self, value: float) -> None:
        """Take one value."""
        if not (value >= 0 and value < math.inf):  # NaN, negative, infinite: not a duration
            return
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        values = self._values
        if values is not None:
            values.append(value)
            if len(values) <= self.EXACT:
                return
            self._values = None
            for kept in values:
                self._bucket(kept)
            return
        self._bucket(value)

    def _bucket(self, value: float) -> None:
        if value == 0:
            self._zeros += 1
            return
        index = math.ceil(math.log(value) / self._LOG_GAMMA)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0 to 1; 0.5 the median, interpolated as
        :func:`statistics.median` does while exact); ``None`` when nothing was seen."""
        if not self.count:
            return None
        values = self._values
        if values is not None:
            ordered = sorted(values)
            position = q * (len(ordered) - 1)
            low = math.floor(position)
            high = min(low + 1, len(ordered) - 1)
            return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
        rank = q * (self.count - 1)
        seen = self._zeros
        if rank < seen:
            return 0.0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if rank < seen:
                # the bucket's middle in relative terms: within ACCURACY of every value in it
                middle = 2 * self._GAMMA**index / (self._GAMMA + 1)
                return min(max(middle, self.minimum), self.maximum)
        return self.maximum

    @property
    def median(self) -> float | None:
        """The 0.5 quantile."""
        return self.quantile(0.5)

    @property
    def mean(self) -> float | None:
        """The average, exact."""
        return self.total / self.count if self.count else None
