"""Collectors that fail, and a child-process harness: for testing what OTLP export does to an
application when the collector is down, swallowing requests, or refusing slowly.

Three faults, each a real endpoint on 127.0.0.1 (the base URL; append ``/v1/traces`` or
``/v1/logs``):

* ``"dead"``: a port where nothing listens (connections are refused at once), held bound
  while the context lasts so that no other server can take it meanwhile;
* ``"black_hole"``: a TCP server that accepts every connection, reads what is sent and never
  answers (a request waits for its timeout);
* ``"slow_503"``: an HTTP server that answers ``503 Service Unavailable`` after ``delay`` seconds
  (a collector that is overloaded: the OpenTelemetry SDK retries a 503).

``run_program`` runs a Python program in a child process and measures what an application feels
at exit: the time from a moment the program prints (its last log call) to the end of the process,
the peak resident memory of the process, and what it wrote on stderr::

    with faulty_collector("black_hole") as base:
        run = run_program(PROGRAM, [base])
    assert run.exit_seconds < 8
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import attrs

__all__ = ["FAULTS", "ProgramRun", "faulty_collector", "run_program"]

Fault = Literal["dead", "black_hole", "slow_503"]
#: The faults :func:`faulty_collector` serves.
FAULTS: tuple[Fault, ...] = ("dead", "black_hole", "slow_503")


@contextmanager
def faulty_collector(fault: Fault, *, delay: float = 2.0) -> Iterator[str]:
    """A collector endpoint on 127.0.0.1 that fails as ``fault`` says; yields its base URL.

    :param delay: seconds the ``slow_503`` collector waits before each answer.
    """
    if fault == "dead":
        # Bound and never listening: a connection is refused, and the port is no one else's
        # until the context ends (a port found free and let go may be another test's server
        # by the time a request is sent).
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            yield f"http://127.0.0.1:{held.getsockname()[1]}"
        return
    if fault == "black_hole":
        with _black_hole() as port:
            yield f"http://127.0.0.1:{port}"
        return
    if fault == "slow_503":
        server = _slow_503(delay)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
        return
    raise ValueError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")


@contextmanager
def _black_hole() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def swallow(conn: socket.socket) -> None:
        # Read (so the sender's writes complete) and never answer.
        conn.settimeout(0.1)
        while not stop.is_set():
            try:
                if not conn.recv(1 << 16):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            threading.Thread(target=swallow, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in held:
            conn.close()


def _slow_503(delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


@attrs.frozen
class ProgramRun:
    """What :func:`run_program` measured."""

    #: The child's exit status.
    returncode: int
    #: What the child wrote on stdout and stderr.
    stdout: str
    stderr: str
    #: Seconds from the monotonic clock value on the child's last stdout line (``time.monotonic()``
    #: printed by the program) to the end of the process, seen by the parent; ``None`` without one.
    exit_seconds: float | None
    #: Peak resident memory of the child, in bytes (``getrusage`` of the reaped process).
    peak_rss: int


def run_program(
    program: str,
    args: Sequence[str] = (),
    *,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> ProgramRun:
    """Run ``python -c program *args`` and measure it; kill it after ``timeout`` seconds (a hang
    guard: the run then fails with :class:`TimeoutError`).

    For :attr:`ProgramRun.exit_seconds`, the program prints ``time.monotonic()`` (the system-wide
    monotonic clock on Linux and macOS) as the last line of its stdout right after its last log
    call, and flushes.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", program, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    captured: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda n=n, s=s: captured.__setitem__(n, s.read()), daemon=True)
        for n, s in (("out", process.stdout), ("err", process.stderr))
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            ended = time.monotonic()
            break
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise TimeoutError(f"the program did not end within {timeout} s")
        time.sleep(0.005)
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(10)
    process.stdout.close()
    process.stderr.close()
    stdout = captured.get("out", b"").decode(errors="replace")
    last = stdout.strip().rpartition("\n")[2]
    try:
        exit_seconds: float | None = ended - float(last)
    except ValueError:
        exit_seconds = None
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return ProgramRun(
        process.returncode,
        stdout,
        captured.get("err", b"").decode(errors="replace"),
        exit_seconds,
        usage.ru_maxrss * scale,
    )
