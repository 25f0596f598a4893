"""The hook by which other plugins add variants to ``llmlog demo``.

This plugin adds it to the plugin host's manager when ``llmlog demo`` is built, so a plugin that
implements it must mark it ``optionalhook=True``: it then loads whether or not this plugin is
installed (the host reports a hook nobody declares otherwise)::

    from llmlog import hookimpl

    @hookimpl(optionalhook=True)
    def llmlog_register_demos(register):
        register("dspy", run, help="...", needs="DSPy and the integration",
                 install="llmlog-integration-dspy")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from llmlog.ext import hookspec

__all__ = ["DemoRegister", "llmlog_register_demos"]


class DemoRegister(Protocol):
    """The ``register`` callback of :func:`llmlog_register_demos`."""

    def __call__(
        self,
        name: str,
        run: Callable[[Path], Path],
        *,
        help: str = "",
        needs: str = "",
        install: str = "",
    ) -> None: ...


@hookspec
def llmlog_register_demos(register: DemoRegister) -> None:
    """Add a variant to ``llmlog demo``: ``llmlog demo --NAME`` runs it instead of the pipeline.

    :param register: ``register(name, run, *, help="", needs="", install="")``. ``run(directory)``
        runs a traced program into a new trace file in ``directory`` (``demo/`` of the configured
        trace directory, created owner-only) and returns the file; the command then keeps the
        newest 5 there, prints the ``llmlog view`` command for the file and runs it. ``help`` is
        the flag's help. ``run`` imports what it needs first: an :class:`ImportError` from it is
        reported as ``llmlog: demo --NAME needs NEEDS: pip install INSTALL (the error)``.
    """
