"""Registers the ``zstd`` flight-recorder backend."""

from __future__ import annotations

from llmlog import hookimpl
from llmlog.ext import BuildContext, ComponentRegister
from llmlog_recorder_zstd.backend import ZstdBackend, ZstdOptions


def _factory(options: ZstdOptions | None, context: BuildContext) -> ZstdBackend:
    return ZstdBackend(options)


@hookimpl
def llmlog_register_recorders(register: ComponentRegister) -> None:
    register(
        "zstd",
        _factory,
        options=ZstdOptions,
        description="Flight-recorder chunks compressed with zstd off the writer's thread.",
    )
