"""The ``[flight_recorder]`` table through the core's table hook: validation, the dry run of
``llmlog config check``, and snapshots of a third-party backend read by ``llmlog flight view``."""

import json
import textwrap
from pathlib import Path

import pytest

import llmlog
from llmlog import ConfigError, hookimpl
from llmlog.ext import global_flight_recorder
from llmlog.testing import threads_started
from llmlog.tomlout import dumps_toml
from llmlog_engine_flight import plugin as engine_plugin

#: The engine as an in-process plugin, for configurations that load no entry point.
ENGINE = [("engine_flight", engine_plugin)]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_options_in_seconds_and_bytes_take_numbers_or_durations_and_sizes(tmp_path):
    from llmlog.config.converter import structure_errors
    from llmlog_engine_flight.options import FlightRecorderOptions

    options, errors = structure_errors(
        {
            "min_age": "1m30s",
            "chunk_period": 0.25,
            "min_snapshot_interval": "500ms",
            "max_bytes": "64 MiB",
            "chunk_bytes": 4096,
        },
        FlightRecorderOptions,
        "$.flight_recorder",
    )
    assert errors == []
    assert (options.min_age, options.chunk_period, options.min_snapshot_interval) == (90, 0.25, 0.5)
    assert (options.max_bytes, options.chunk_bytes) == (64 << 20, 4096)
    bad = write(
        tmp_path / "bad.toml",
        """
        [flight_recorder]
        min_age = "10 sec"
        chunk_period = true
        max_bytes = "10 megs"
        """,
    )
    with pytest.raises(ConfigError) as info:
        llmlog.configure(bad, plugins=ENGINE, autoload=False)
    assert info.value.errors == [
        'expected a number of seconds or a duration such as "500ms", "10s", "1m30s", '
        "got '10 sec' @ $.flight_recorder.min_age",
        'expected an integer number of bytes or a size such as "64KiB", "10MiB", "1.5 GB", '
        "got '10 megs' @ $.flight_recorder.max_bytes",
        'expected a number of seconds or a duration such as "500ms", "10s", "1m30s", '
        "got boolean True @ $.flight_recorder.chunk_period",
    ]


DRY_RUN_CASES = {
    "ok": {"outputs": {}, "flight_recorder": {"enabled": True, "triggers": ["fatal"]}},
    "bad signal": {
        "outputs": {},
        "flight_recorder": {"enabled": True, "triggers": ["signal"], "signal": "SIGNOPE"},
    },
    "uncatchable signal": {
        "outputs": {},
        "flight_recorder": {"enabled": True, "triggers": ["signal"], "signal": "SIGKILL"},
    },
}
DRY_RUN_ERRORS = {
    "bad signal": "cannot start the flight recorder: unknown signal 'SIGNOPE' (expected a name "
    "such as SIGUSR1) @ $.flight_recorder.signal",
    "uncatchable signal": "cannot start the flight recorder: SIGKILL cannot be caught "
    "@ $.flight_recorder.signal",
}


@pytest.mark.parametrize("case", DRY_RUN_CASES)
def test_check_says_what_configure_says_and_starts_nothing(tmp_path, case):
    path = tmp_path / "conf" / "llmlog.toml"
    path.parent.mkdir()
    path.write_text(dumps_toml(DRY_RUN_CASES[case]))
    with threads_started() as started:
        try:
            llmlog.check_configuration(path, plugins=ENGINE, autoload=False)
            checked = None
        except ConfigError as exc:
            checked = exc
    assert sorted(p.name for p in path.parent.iterdir()) == ["llmlog.toml"]
    assert not started
    assert not global_flight_recorder().enabled
    try:
        llmlog.configure(path, plugins=ENGINE, autoload=False)
        configured = None
    except ConfigError as exc:
        configured = exc
    assert (checked is None) == (configured is None) == (case == "ok")
    if checked is not None and configured is not None:
        assert (checked.source, checked.errors) == (configured.source, configured.errors)
        assert checked.errors == [DRY_RUN_ERRORS[case]]
    else:
        assert global_flight_recorder().enabled
    llmlog.configure({"outputs": {}}, plugins=ENGINE, autoload=False)
    assert not global_flight_recorder().enabled


def test_the_table_is_shown_with_its_defaults_and_reads_back(tmp_path):
    from llmlog.cli import effective_dict

    config = llmlog.check_configuration(
        {"flight_recorder": {"backend": "memory", "min_age": "1m"}}, plugins=ENGINE, autoload=False
    )
    shown = effective_dict(config)["flight_recorder"]
    assert shown["backend"] == "memory" and shown["min_age"] == 60 and shown["level"] == "debug"
    assert shown["triggers"] == ["fatal", "budget"] and not shown["enabled"]
    again = llmlog.check_configuration({"flight_recorder": shown}, plugins=ENGINE, autoload=False)
    assert again.table("flight_recorder") == config.table("flight_recorder")


def test_without_the_engine_loaded_the_table_says_which_plugin_claims_it():
    with pytest.raises(ConfigError) as info:
        llmlog.check_configuration({"flight_recorder": {"enabled": True}}, autoload=False)
    (error,) = info.value.errors
    assert error.startswith("table [flight_recorder] is provided by plugin 'engine_flight' ")
    assert error.endswith(
        "which is not loaded: entry-point plugins are off (autoload=False) @ $.flight_recorder"
    )


class Reversed:
    """A third-party backend: each chunk's lines reversed byte by byte behind a magic of its own."""

    name = "reversed"
    suffix = ".rev"
    background = False
    magic = b"REV1"

    def seal(self, raw):
        return b"REV1" + bytes(raw)[::-1]

    def decode(self, stream, skipped=None):
        data = stream.read()
        for chunk in data.split(b"REV1")[1:]:
            yield chunk[::-1]


class ReversedPlugin:
    @hookimpl
    def llmlog_register_recorders(self, register):
        register("reversed", lambda options, context: Reversed())


def test_a_third_party_backend_snapshot_is_read_by_flight_view_through_its_decode(tmp_path, capsys):
    from llmlog.testing import run_cli

    llmlog.configure(
        {
            "outputs": {},
            "flight_recorder": {
                "enabled": True,
                "backend": "reversed",
                "snapshot_dir": str(tmp_path),
                "chunk_events": 2,
            },
        },
        plugins=[*ENGINE, ("reversed", ReversedPlugin())],
        autoload=False,
    )
    recorder = global_flight_recorder()
    assert recorder.enabled and recorder.backend.name == "reversed"
    llmlog.get_logger("app").warning("quota nearly used", left=3)
    path = recorder.snapshot(reason="t")
    assert path.name.endswith(".rev") and path.read_bytes().startswith(b"REV1")
    assert b"quota nearly used" not in path.read_bytes()  # only the backend's decode reads it
    capsys.readouterr()
    assert run_cli(["flight", "view", str(path), "--last", "0", "--no-color"]) == 0
    out = capsys.readouterr().out
    assert "quota nearly used" in out
    assert run_cli(["flight", "list", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert "Snapshots in" in listed and path.name in listed and "reversed" in listed
    assert run_cli(["flight", "convert", str(path), "-o", str(tmp_path / "c.json")]) == 0
    chrome = json.loads((tmp_path / "c.json").read_text())
    assert any("quota nearly used" in json.dumps(e) for e in chrome["traceEvents"])
    llmlog.configure({"outputs": {}}, plugins=ENGINE, autoload=False)
