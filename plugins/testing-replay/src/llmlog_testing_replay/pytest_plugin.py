"""The pytest plugin (entry point ``pytest11`` ``llmlog_replay``): record a test's LM calls once,
replay them offline on every run.

.. code-block:: python

    @pytest.mark.llmlog_replay("tests/traces/qa.jsonl")
    def test_qa(llmlog_replay):
        llmlog_replay.use(lambda: dspy.LM("openai/gpt-4o-mini", temperature=0))
        assert program(question="...").answer == "..."

``pytest --llmlog-record`` runs such a test against the real LM (the factory is called) and,
when the test passes, writes the trace file (``dspy`` format, redacted as configured) or
replaces it; a normal run configures DSPy with a :class:`~llmlog_testing_replay.ReplayLM` standing
for that LM and replays the file, with every socket connection refused (``offline=False`` on the
marker allows them). The path is relative to pytest's rootdir; without the marker it is
``traces/<module>/<test>.jsonl`` beside the test file.

Inert unless used: loading it adds the option, the marker and the fixture, and imports neither
DSPy nor llmlog's configuration; a test that does not ask for the fixture is not touched.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Replay", "llmlog_replay"]

_MARKER = "llmlog_replay"
#: DSPy 3.4 warns about LMs implementing its legacy forward(); ReplayLM does, as DummyLM once
#: did: the warning is silenced in the tests that use the plugin, not elsewhere.
_LEGACY_WARNING = "ignore:Implementing custom LMs through BaseLM:DeprecationWarning"
_LOCAL_MAP = "LITELLM_LOCAL_MODEL_COST_MAP"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmlog", "llmlog replay")
    group.addoption(
        "--llmlog-record",
        action="store_true",
        default=False,
        help="run tests marked llmlog_replay against the real LM and write their trace files "
        "(default: replay the files offline)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(path, *, offline=True, strict=True, exhausted='error'): replay the LM calls "
        "recorded in the trace file at path (relative to the rootdir); --llmlog-record records "
        "them",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker(_MARKER) is not None or _MARKER in getattr(
            item, "fixturenames", ()
        ):
            item.add_marker(pytest.mark.filterwarnings(_LEGACY_WARNING))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # The fixture's teardown writes a recording only when the test itself passed.
    if report.when == "call":
        item.stash[_passed] = report.passed
    return report


_passed = pytest.StashKey[bool]()


class _Offline(OSError):
    pass


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise _Offline(
        "llmlog_replay: network access in a replayed test (the LM calls come from the "
        "recording; pass offline=False to the marker to allow other connections)"
    )


class Replay:
    """What the ``llmlog_replay`` fixture gives: the mode, the trace file and the LM to use."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        marker = request.node.get_closest_marker(_MARKER)
        args = marker.args if marker is not None else ()
        options = dict(marker.kwargs) if marker is not None else {}
        root = Path(request.config.rootpath)
        if args:
            self.path = root / Path(os.fspath(args[0]))
        else:
            test_file = Path(str(request.node.path))
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            self.path = test_file.parent / "traces" / test_file.stem / f"{name}.jsonl"
        #: ``"record"`` (``--llmlog-record``) or ``"replay"``.
        self.mode = "record" if request.config.getoption("--llmlog-record") else "replay"
        self.offline = bool(options.pop("offline", True))
        self.options = options
        self._request = request
        self._undo: list[Callable[[], None]] = []
        self._lms: list[Any] = []
        self._recording: Path | None = None
        self._index: Any = None

    @property
    def recording(self) -> bool:
        """Running against the real LM (``--llmlog-record``)."""
        return self.mode == "record"

    # -- the LM -------------------------------------------------------------------------------------

    def lm(self, real: Any = None, **options: Any) -> Any:
        """The LM this test uses: ``real`` (an LM, or a function returning one, called only when
        recording or to learn the model and parameters) when recording; otherwise a
        :class:`~llmlog_testing_replay.ReplayLM` standing for it (its model and parameters),
        answering from the trace file. ``options`` go to ReplayLM (``strict``, ``fallback``,
        ``exhausted``...), after the marker's."""
        lm = real() if callable(real) and not hasattr(real, "forward") else real
        if self.recording:
            if lm is None:
                raise pytest.UsageError("llmlog_replay.lm(): recording needs the real LM")
            self._start_recording()
            return lm
        from llmlog_testing_replay.lm import ReplayLM

        merged = {**self.options, **options}
        index = self.index()
        replay = ReplayLM(index, **merged) if lm is None else ReplayLM.like(lm, index, **merged)
        self._lms.append(replay)
        return replay

    def use(self, real: Any = None, **options: Any) -> Any:
        """``dspy.configure(lm=self.lm(real))`` for this test (the previous LM restored after)."""
        import dspy

        lm = self.lm(real, **options)
        previous = dspy.settings.lm
        dspy.configure(lm=lm)
        self._undo.append(lambda: dspy.configure(lm=previous))
        return lm

    def index(self) -> Any:
        """The recording's :class:`~llmlog_testing_replay.ReplayIndex` (read once per test)."""
        if self._index is None:
            if not self.path.exists():
                pytest.fail(
                    f"llmlog_replay: no recording at {self.path}; run pytest --llmlog-record "
                    "once (it calls the real LM and writes it)",
                    pytrace=False,
                )
            from llmlog_testing_replay.index import ReplayError, ReplayIndex

            try:
                self._index = ReplayIndex.load(self.path)
            except ReplayError as exc:
                pytest.fail(f"llmlog_replay: {exc}", pytrace=False)
        return self._index

    # -- recording ----------------------------------------------------------------------------------

    def _start_recording(self) -> None:
        if self._recording is not None:
            return
        from llmlog.ext import enter_context, exit_context, start_trace_session
        from llmlog_integration_dspy.integration import instrument, instrumented, uninstrument

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._recording = self.path.with_name(f".{self.path.name}.recording")
        self._recording.unlink(missing_ok=True)
        session = start_trace_session(
            self._recording,
            {"integration": "dspy", "test": self._request.node.nodeid},
            format="dspy",
        )
        token = enter_context(session=session, trace_id=session.trace_id)
        owned = instrumented() is None
        callback = instrument()
        # Top-level calls in threads with no current session (dspy.Parallel's workers) too.
        previous = callback.swap_shared_session(session)

        def stop() -> None:
            exit_context(token)
            callback.swap_shared_session(previous)
            if owned:
                uninstrument()
            session.close()

        self._undo.append(stop)

    def _finish(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        recording, self._recording = self._recording, None
        if recording is None:
            return
        if self._request.node.stash.get(_passed, False):
            os.replace(recording, self.path)
        else:
            recording.unlink(missing_ok=True)


@pytest.fixture
def llmlog_replay(request: pytest.FixtureRequest) -> Iterator[Replay]:
    """Record (``--llmlog-record``) or replay (default) this test's LM calls; see
    :class:`Replay`. In replay mode every socket connection fails unless the marker says
    ``offline=False``."""
    replay = Replay(request)
    saved: list[tuple[Any, str, Any]] = []
    env_saved: str | None = None
    offline = not replay.recording and replay.offline
    if offline:
        for owner, name in ((socket.socket, "connect"), (socket.socket, "connect_ex")):
            saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, _refuse)
        # DSPy fetches LiteLLM's model map over the network when it first builds an LM: offline,
        # it takes the bundled copy without trying (and warning that it failed).
        env_saved = os.environ.get(_LOCAL_MAP)
        os.environ[_LOCAL_MAP] = "true"
    try:
        yield replay
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
        if offline:
            if env_saved is None:
                os.environ.pop(_LOCAL_MAP, None)
            else:
                os.environ[_LOCAL_MAP] = env_saved
        replay._finish()
