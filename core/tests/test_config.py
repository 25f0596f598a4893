import os
import sys
import textwrap
import threading
import tomllib
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmlog
from llmlog import BuildContext, ConfigError, Output, Severity, hookimpl
from llmlog.config import FileMode, find_config
from llmlog.logger import global_dispatcher
from llmlog.runtime import configure_on_first_use
from llmlog.testing import threads_started
from llmlog.tomlout import dumps_toml


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_discovery_order(tmp_path, monkeypatch):
    assert find_config().kind == "defaults"

    user = write(tmp_path / "xdg" / "llmlog" / "llmlog.toml", 'level = "error"\n')
    assert find_config().path == user

    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.llmlog]\nlevel = "warn"\n')
    source = find_config()
    assert (source.kind, source.data) == ("pyproject", {"level": "warn"})

    local = write(tmp_path / "llmlog.toml", 'level = "debug"\n')
    assert find_config().path == local

    env = write(tmp_path / "elsewhere" / "env.toml", 'level = "fatal"\n')
    monkeypatch.setenv("LLMLOG_CONFIG", str(env))
    assert find_config().path == env

    explicit = write(tmp_path / "explicit.toml", 'level = "info"\n')
    assert find_config(explicit).path == explicit


def test_pyproject_without_tool_table_is_skipped(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    assert find_config().kind == "defaults"


def test_missing_explicit_file_and_env_file_are_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="configuration file not found"):
        find_config(tmp_path / "nope.toml")
    monkeypatch.setenv("LLMLOG_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="gone.toml"):
        find_config()


@pytest.mark.parametrize(
    ("text", "where"),
    [('level = "info"\noutputs = [\n', ":2:12"), ('level = "info"\nlevel = "debug"\n[x]\n', ":2:")],
)
def test_invalid_toml_names_file_and_line(tmp_path, text, where):
    bad = write(tmp_path / "llmlog.toml", text)
    with pytest.raises(ConfigError) as info:
        llmlog.configure(bad, autoload=False)
    assert info.value.source.startswith(f"{bad}{where}")
    assert info.value.errors[0].startswith("invalid TOML: ")


def test_all_errors_reported_together_with_paths(tmp_path):
    bad = write(
        tmp_path / "llmlog.toml",
        """
        level = "verbose"
        sample_rate = 3
        levle = "info"
        [outputs.err]
        type = "stderr"
        level = 10
        [outputs.typo]
        type = "fiel"
        """,
    )
    with pytest.raises(ConfigError) as info:
        llmlog.configure(bad, autoload=False)
    errors = info.value.errors
    assert info.value.source == str(bad)
    assert str(info.value).startswith(f"{bad}: 5 configuration errors")
    assert (
        "unknown severity 'verbose'; expected one of debug, info, warn, error, fatal @ $.level"
        in errors
    )
    assert "must be between 0 and 1, got 3.0 @ $.sample_rate" in errors
    assert any(
        e.startswith("unknown key 'levle'; valid keys: level,") and e.endswith("@ $.levle")
        for e in errors
    )
    assert "expected a severity name (string), got integer 10 @ $.outputs.err.level" in errors
    assert "unknown output type 'fiel'; installed: stderr @ $.outputs.typo.type" in errors


@attrs.frozen(kw_only=True)
class WindowOptions:
    seconds: int = attrs.field(default=10, validator=attrs.validators.gt(0))


@attrs.frozen(kw_only=True)
class NestedOptions:
    window: WindowOptions = attrs.Factory(WindowOptions)
    size: int = attrs.field(default=1, validator=attrs.validators.gt(0))


def test_a_table_given_as_a_scalar_and_a_failing_validator_are_each_reported_once():
    from llmlog.config.converter import structure_errors

    _, errors = structure_errors({"window": "daily"}, NestedOptions, "$.x")
    assert errors == [
        "expected a table (keys: seconds), got string 'daily' @ $.x.window",
    ]
    _, errors = structure_errors({"window": {"seconds": 0}, "size": -5}, NestedOptions, "$.x")
    assert sorted(errors) == [
        "'seconds' must be > 0: 0 @ $.x.window.seconds",
        "'size' must be > 0: -5 @ $.x.size",
    ]


@attrs.frozen(kw_only=True)
class RingOptions:
    capacity: int = 10
    label: str = "ring"


class Ring(Output):
    instances: list["Ring"] = []

    def __init__(self, options: RingOptions, context: BuildContext) -> None:
        self.options, self.context = options, context
        self.entries: list[llmlog.LogEntry] = []
        self.closed = False
        Ring.instances.append(self)

    def write(self, entry):
        self.entries.append(entry)
        del self.entries[: -self.options.capacity]

    def close(self):
        self.closed = True


class RingPlugin:
    configured: list = []
    unconfigured: list = []

    @hookimpl
    def llmlog_register_outputs(self, register):
        register("ring", Ring, options=RingOptions, description="test ring")

    @hookimpl
    def llmlog_configure(self, config):
        self.configured.append(config)

    @hookimpl
    def llmlog_unconfigure(self, config):
        self.unconfigured.append(config)


def test_component_options_type_errors_and_typos():
    config = {"outputs": {"r": {"type": "ring", "capacity": "ten", "lable": "x"}}}
    with pytest.raises(ConfigError) as info:
        llmlog.configure(config, plugins=[("ring", RingPlugin())], autoload=False)
    assert info.value.errors == [
        "expected an integer, got string 'ten' @ $.outputs.r.capacity",
        "unknown key 'lable'; valid keys: capacity, label @ $.outputs.r",
    ]
    assert info.value.source == "<configuration dict>"


def test_output_type_defaults_to_table_name_and_options_are_structured(tmp_path):
    Ring.instances.clear()
    path = write(tmp_path / "llmlog.toml", '[outputs.ring]\ncapacity = 2\nlevel = "warn"\n')
    config = llmlog.configure(path, plugins=[("ring", RingPlugin())], autoload=False)
    (ring,) = Ring.instances
    assert ring.options == RingOptions(capacity=2)
    assert ring.context.name == "ring" and ring.context.config_path == path
    assert (ring.level, ring.name) == (Severity.WARN, "ring")
    log = llmlog.get_logger()
    for i in range(5):
        log.warn("w%d", i)
    log.info("filtered by the output level")
    assert [e.message for e in ring.entries] == ["w3", "w4"]
    assert config.provenance["outputs"] == str(path)
    assert config.provenance["level"] == "default"


def test_reconfigure_closes_old_outputs_and_runs_lifecycle_hooks():
    Ring.instances.clear()
    plugin = RingPlugin()
    plugin.configured.clear()
    plugin.unconfigured.clear()
    first = llmlog.configure({"outputs": {"ring": {}}}, plugins=[("ring", plugin)], autoload=False)
    second = llmlog.configure({"outputs": {"ring": {}}}, plugins=[("ring", plugin)], autoload=False)
    assert Ring.instances[0].closed and not Ring.instances[1].closed
    assert plugin.configured == [first, second]
    assert plugin.unconfigured == [first]


def test_a_failed_configure_keeps_the_previous_configuration():
    Ring.instances.clear()
    llmlog.configure({"outputs": {"ring": {}}}, plugins=[("ring", RingPlugin())], autoload=False)
    with pytest.raises(ConfigError):
        llmlog.configure(
            {"level": "nope", "outputs": {"ring": {}}},
            plugins=[("ring", RingPlugin())],
            autoload=False,
        )
    llmlog.get_logger().info("still here")
    assert [e.message for e in Ring.instances[0].entries] == ["still here"]
    assert len(Ring.instances) == 1


class Unopenable(Output):
    def __init__(self, options, context):
        raise PermissionError(f"cannot open /root/forbidden.log for {context.name}")

    def write(self, entry):
        pass


class BrokenPlugin:
    @hookimpl
    def llmlog_register_outputs(self, register):
        register("unopenable", Unopenable)


def test_output_factory_failure_is_a_config_error_naming_the_output():
    Ring.instances.clear()
    config = {"outputs": {"good": {"type": "ring"}, "bad": {"type": "unopenable"}}}
    with pytest.raises(ConfigError) as info:
        llmlog.configure(
            config, plugins=[("ring", RingPlugin()), ("broken", BrokenPlugin())], autoload=False
        )
    assert info.value.errors == [
        "cannot create output 'bad': cannot open /root/forbidden.log for bad @ $.outputs.bad"
    ]
    assert Ring.instances[0].closed  # the one already built is not leaked


def test_env_level_override_and_provenance(monkeypatch):
    monkeypatch.setenv("LLMLOG_LEVEL", "error")
    config = llmlog.configure({"level": "debug", "outputs": {}}, autoload=False)
    assert config.settings.level is Severity.ERROR
    assert config.provenance["level"] == "environment LLMLOG_LEVEL"
    monkeypatch.setenv("LLMLOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match=r"unknown severity 'loud'.* @ \$\.level"):
        llmlog.configure({}, autoload=False)


def test_formatter_key_rules():
    with pytest.raises(ConfigError) as info:
        llmlog.configure(
            {
                "outputs": {
                    "r": {"type": "ring", "formatter": "text"},
                    "s": {"type": "stderr", "formatter": "nope"},
                }
            },
            plugins=[("ring", RingPlugin())],
            autoload=False,
        )
    assert info.value.errors == [
        "output type 'ring' takes no formatter @ $.outputs.r.formatter",
        "unknown formatter 'nope'; installed: (none installed) @ $.outputs.s.formatter",
    ]


def test_default_outputs_without_plugins_write_plain_text_to_stderr(capsys):
    config = llmlog.configure(autoload=False)
    assert [s.component.name for s in config.outputs.values()] == ["stderr"]
    llmlog.get_logger().info("visible", user="bob")
    err = capsys.readouterr().err
    assert " INFO  visible [test_config.py:" in err and "user=bob" in err


def test_unconfigured_first_use_configures_from_llmlog_toml(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD", "1")
    write(tmp_path / "llmlog.toml", 'level = "warn"\n[outputs.stderr]\n')
    dispatcher = global_dispatcher()
    dispatcher.defer(configure_on_first_use)
    log = llmlog.get_logger()
    log.info("dropped")
    log.warn("kept")
    err = capsys.readouterr().err
    assert "kept" in err and "dropped" not in err


def test_broken_config_on_first_use_falls_back_to_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLMLOG_DISABLE_PLUGIN_AUTOLOAD", "1")
    write(tmp_path / "llmlog.toml", 'level = "loud"\n')
    global_dispatcher().defer(configure_on_first_use)
    llmlog.get_logger().info("still logged")
    err = capsys.readouterr().err
    assert "configuration failed, logging to stderr instead" in err
    assert "unknown severity 'loud'" in err
    assert "still logged" in err


def test_settings_round_trip_through_toml(tmp_path):
    path = write(
        tmp_path / "llmlog.toml",
        """
        level = "debug"
        sample_rate = 0.5
        default_fields = {service = "qa", version = 2}
        include_caller = false
        redact_keys = ["^ssn$"]
        max_string_length = 1000
        [outputs.stderr]
        """,
    )
    config = llmlog.configure(path, autoload=False)
    s = config.settings
    assert (s.level, s.sample_rate, s.default_fields, s.include_caller) == (
        Severity.DEBUG,
        0.5,
        {"service": "qa", "version": 2},
        False,
    )
    assert tomllib.loads(path.read_text())["redact_keys"] == s.redact_keys


# -- files that cannot be read as a configuration ------------------------------------------------


def config_error(source, **kwargs) -> ConfigError:
    """The ConfigError ``llmlog.configure(source)`` raises (any other exception fails the test)."""
    with pytest.raises(ConfigError) as info:
        llmlog.configure(source, autoload=False, **kwargs)
    return info.value


NOT_UTF8 = [
    (b'level = "info"\n# caf\xe9\n', ":2:6", "invalid continuation byte: byte 0xe9"),
    (b"\xff\xd8\xff\xe0 JFIF binary", ":1:1", "invalid start byte: byte 0xff"),
    (b'level = "\xe2\x82', ":1:10", "unexpected end of data: byte 0xe2"),
]


@pytest.mark.parametrize(("content", "where", "reason"), NOT_UTF8)
def test_a_config_file_that_is_not_utf8_is_named_with_line_and_column(
    tmp_path, monkeypatch, content, where, reason
):
    path = tmp_path / "llmlog.toml"
    path.write_bytes(content)
    # given explicitly, named by LLMLOG_CONFIG, found in the working directory
    errors = [config_error(path), config_error(None)]
    monkeypatch.setenv("LLMLOG_CONFIG", str(path))
    errors.append(config_error(None))
    for error in errors:
        assert error.source == f"{path}{where}"
        assert error.errors == [f"not UTF-8 text ({reason}); a configuration file must be UTF-8"]


def test_a_pyproject_that_is_not_utf8_or_has_no_tool_table_is_named(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_bytes(b'[project]\nname = "\xc0"\n')
    assert config_error(None).source == f"{pyproject}:2:9"  # found by the search
    pyproject.write_text("tool = 1\n")
    assert find_config().kind == "defaults"  # no [tool.llmlog] table: not llmlog's
    assert config_error(pyproject).errors == ["no [tool.llmlog] table in this pyproject.toml"]


def test_byte_order_marks(tmp_path):
    path = tmp_path / "llmlog.toml"
    path.write_bytes(b'\xef\xbb\xbflevel = "warn"\noutputs = {}\n')  # UTF-8 with a BOM: read
    assert llmlog.configure(path, autoload=False).settings.level is Severity.WARN
    path.write_bytes('level = "warn"\n'.encode("utf-16"))
    error = config_error(path)
    assert (error.source, error.errors) == (
        f"{path}:1:1",
        ["the file is UTF-16 (it starts with a byte-order mark); save it as UTF-8"],
    )


def test_a_directory_a_huge_file_and_a_bad_path_are_errors_naming_them(tmp_path, monkeypatch):
    assert config_error(tmp_path).errors == ["is a directory, not a configuration file"]
    monkeypatch.setenv("LLMLOG_CONFIG", str(tmp_path))
    assert config_error(None).errors == ["is a directory, not a configuration file"]
    monkeypatch.delenv("LLMLOG_CONFIG")
    huge = tmp_path / "app.log"
    with huge.open("wb") as fh:
        fh.truncate(64 << 20)  # sparse: no disk used
    assert config_error(huge).errors == [
        "larger than 4 MiB; not a configuration file (a log file?)"
    ]
    plain = write(tmp_path / "plain.toml", "")
    assert config_error(plain / "x.toml").errors == [
        "cannot read the file: a part of the path is not a directory"
    ]
    assert config_error("~nobody-by-this-name/llmlog.toml").errors == [
        "configuration file not found"
    ]
    assert config_error(str(tmp_path / "nul\0.toml")).errors == [
        "cannot read the file: embedded null byte"
    ]


def test_an_unreadable_file_is_an_error_naming_it(tmp_path, unprivileged):
    import os
    import subprocess
    import tempfile

    # Permissions do not stop root: read as an unprivileged user then, from a directory it can
    # reach (pytest's temporary directories are private to root).
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)
        path = Path(directory) / "llmlog.toml"
        path.write_text('level = "info"\n')
        path.chmod(0)
        code = (
            "import llmlog, sys\n"
            "try:\n    llmlog.configure(sys.argv[1], autoload=False)\n"
            "except llmlog.ConfigError as e:\n    print(e.source, e.errors)\n"
        )
        done = subprocess.run(
            [*unprivileged, sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.stdout == f"{path} ['cannot read the file: Permission denied']\n", done.stderr


def test_a_config_file_that_comes_and_goes_is_read_or_not_found(tmp_path):
    """No check-then-open: a file removed at any moment is either read whole or not found."""
    import threading

    path = tmp_path / "llmlog.toml"
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            path.write_text('level = "warn"\noutputs = {}\n')
            path.unlink()

    thread = threading.Thread(target=churn)
    thread.start()
    seen = set()
    try:
        for _ in range(300):
            for source in (path, None):  # given, and found by the search
                try:
                    seen.add(llmlog.configure(source, autoload=False).source.kind)
                except ConfigError as exc:
                    # a half-written file is valid TOML or a syntax error; never a traceback
                    seen.add(exc.errors[0].split(":")[0])
    finally:
        stop.set()
        thread.join()
    assert seen <= {"file", "defaults", "configuration file not found", "invalid TOML"}


def test_an_integer_too_long_to_convert_is_named_at_its_place(tmp_path):
    path = write(tmp_path / "llmlog.toml", "level = 'info'\nmax_string_length = " + "9" * 5000)
    error = config_error(path)
    assert (error.source, error.errors) == (
        f"{path}:2:21",
        ["invalid TOML: a number of more than 4300 digits"],
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a = " + "[" * 2000 + "]" * 2000 + "\n", ":1:37"),
        ("x = 1\ndefault_fields = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n", ":2:178"),
        ('s = """[[[["""\nt = ' + "[" * 40 + "]" * 40, ":2:37"),
    ],
)
def test_deep_nesting_in_a_file_is_an_error_at_its_place(tmp_path, text, where):
    path = write(tmp_path / "llmlog.toml", text)
    error = config_error(path)
    assert error.source == f"{path}{where}"
    assert error.errors == ["arrays and inline tables nested more than 32 levels deep"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("default_fields." + "a." * 20_000 + "a = 1\n", ":1:77"),
        ("x = 1.5\n[default_fields." + "a ." * 40 + "a]\n", ":2:109"),
        ('outputs = {}\n"q.u.o.t.e.d".' + "a." * 40 + "a = 1\n", ":2:76"),
        ("default_fields." + '"=,".' * 40 + "a = 1\n", ":1:170"),
    ],
)
def test_a_dotted_key_of_too_many_parts_is_an_error_at_its_place(tmp_path, text, where):
    # Before the parser sees it: tomllib's time and memory grow with the square of a dotted
    # key's parts (20,000 parts: 5 s and 1.6 GB).
    path = write(tmp_path / "llmlog.toml", text)
    error = config_error(path)
    assert error.source == f"{path}{where}"
    assert error.errors == ["dotted keys nested more than 32 levels deep"]


def test_a_named_pipe_as_the_configuration_file_is_refused_without_waiting(tmp_path):
    # Opening a FIFO waits for a writer: at an application's start (llmlog.toml is found by its
    # name), for ever.
    path = tmp_path / "llmlog.toml"
    os.mkfifo(path)
    error = config_error(path)
    assert error.source == str(path)
    assert error.errors == ["a named pipe or socket, not a configuration file"]


def test_dots_of_values_and_of_quoted_key_parts_are_not_nesting(tmp_path):
    path = write(
        tmp_path / "llmlog.toml",
        """\
        outputs = {}
        [default_fields]
        "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.0.1.2.3.4.5.6.7" = 1
        floats = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 13.5, 14.5, 15.5, 16.5, 17.5, 18.5, 19.5, 20.5, 21.5, 22.5, 23.5, 24.5, 25.5, 26.5, 27.5, 28.5, 29.5, 30.5, 31.5, 32.5, 33.5]
        when = 1979-05-27T07:32:00.999999
        """
        + "".join(f"f{n} = {n}.5\n" for n in range(40)),
    )
    fields = llmlog.configure(path, autoload=False).settings.default_fields
    assert len(fields["floats"]) == 33 and fields["f39"] == 39.5
    assert fields["a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.0.1.2.3.4.5.6.7"] == 1


def test_brackets_in_strings_and_comments_are_not_nesting(tmp_path):
    nested = "[" * 40
    path = write(
        tmp_path / "llmlog.toml",
        f"""\
        # {nested}
        outputs = {{}}
        [default_fields]
        a = "{nested}\\"{nested}"  # {nested}
        b = '{nested}'
        c = [[1], {{x = [2]}}]
        m = \"\"\"{nested}
        {nested}\\\"\"\"\"\"\"
        l = '''{nested}'''''
        """,
    )
    fields = llmlog.configure(path, autoload=False).settings.default_fields
    assert fields == {
        "a": f'{nested}"{nested}',
        "b": nested,
        "c": [[1], {"x": [2]}],
        "m": f'{nested}\n{nested}"""',
        "l": f"{nested}''",
    }


def test_deep_or_odd_dict_configurations_are_errors_with_paths():
    deep: list = []
    inner = deep
    for _ in range(5000):
        inner.append([])
        inner = inner[0]
    cyclic: dict = {}
    cyclic["self"] = cyclic
    error = config_error(
        {"default_fields": cyclic, "outputs": {"x": deep}, 7: "seven", "level": 10**5000}
    )
    assert error.errors == [
        "keys must be strings, got 7 @ $",
        "nested more than 32 levels deep @ $.default_fields" + ".self" * 32,
        "nested more than 32 levels deep @ $.outputs.x" + "[0]" * 31,
        "expected a severity name (string), got integer <integer of about 5001 digits> @ $.level",
    ]
    error = config_error({"disabled_plugins": "x" * 10_000, "level": {"a": deep}})
    assert error.errors[0] == (
        "expected an array of plugin names, got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxx'… (10000 characters) @ $.disabled_plugins"
    )
    assert len(str(error)) < 2000


# -- redact_keys ---------------------------------------------------------------------------------


def test_redact_keys_are_validated_one_by_one_as_the_sanitizer_compiles_them(tmp_path, capsys):
    from llmlog.cli import main

    path = write(
        tmp_path / "llmlog.toml",
        """
        redact_keys = ["(?i)ssn", "(", "^a$|^b$", "^(x)\\\\1$", 7]
        outputs = {}
        """,
    )
    error = config_error(path)
    assert error.errors == [
        "invalid regular expression '(': missing ), unterminated subpattern at position 0 "
        "@ $.redact_keys[1]",
        "expected a string, got integer 7 @ $.redact_keys[4]",
    ]
    assert main(["config", "check", str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [f"  - {e}" for e in error.errors]

    # what is valid alone is valid together: a global flag, an alternation, a backreference
    llmlog.configure(
        {"level": "debug", "redact_keys": ["(?i)ssn", "^a$|^b$", "^(x)\\1$"], "outputs": {}},
        autoload=False,
    )
    from llmlog.logger import global_dispatcher
    from llmlog.testing import ListOutput

    output = ListOutput()
    global_dispatcher().add_output(output)
    llmlog.get_logger().info("m", my_SSN=1, a=2, ab=3, xx=4, x=5, api_key=6)
    assert dict(output.entries[0].fields) == {
        "my_SSN": "[REDACTED]",
        "a": "[REDACTED]",
        "ab": 3,
        "xx": "[REDACTED]",
        "x": 5,
        "api_key": "[REDACTED]",
    }


REGEX_ALPHABET = "()[]{}?*+|\\^$.:<>=!Pias0129-,"


@pytest.mark.filterwarnings("ignore::FutureWarning")  # "[[" : a possible nested set
@settings(max_examples=300)
@given(st.lists(st.text(REGEX_ALPHABET, max_size=10), min_size=1, max_size=3))
def test_redact_keys_that_validate_are_the_ones_the_sanitizer_takes(patterns):
    from llmlog.config.converter import structure_errors
    from llmlog.config.loader import Settings
    from llmlog.sanitize import Sanitizer

    settings_, errors = structure_errors({"redact_keys": patterns}, Settings, "$")
    try:
        Sanitizer(extra_patterns=patterns)
    except Exception:
        assert errors and all(e.startswith("invalid regular expression ") for e in errors)
    else:
        assert errors == [] and settings_.redact_keys == patterns
        llmlog.configure({"redact_keys": patterns, "outputs": {}}, autoload=False)


# -- permission bits -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ModeOptions:
    mode: FileMode = 0o600


class ModeOutput(Output):
    def __init__(self, options: ModeOptions, context: BuildContext) -> None:
        self.options = options

    def write(self, entry):
        pass


class ModePlugin:
    @hookimpl
    def llmlog_register_outputs(self, register):
        register("moded", ModeOutput, options=ModeOptions)


def test_permission_bits_are_shown_in_octal_and_read_back():
    import json

    from llmlog.cli import effective_dict
    from llmlog.tomlout import dumps_toml

    config = llmlog.configure(
        {"outputs": {"m": {"type": "moded", "mode": 0o640}, "d": {"type": "moded"}}},
        plugins=[("mode", ModePlugin())],
        autoload=False,
    )
    data = effective_dict(config)
    text = dumps_toml(data)
    assert "mode = 0o640" in text and "mode = 0o600" in text
    assert "416" not in text and "384" not in text
    again = tomllib.loads(text)
    assert again["outputs"] == {
        "m": {"type": "moded", "mode": 0o640},
        "d": {"type": "moded", "mode": 0o600},
    }
    assert llmlog.configure(again, plugins=[("mode", ModePlugin())], autoload=False)
    # JSON has no octal: the number itself, which reads back the same
    assert json.loads(json.dumps(data))["outputs"]["m"]["mode"] == 416


def test_permission_bits_must_be_an_integer_up_to_0o777():
    error = config_error(
        {
            "outputs": {
                "a": {"type": "moded", "mode": 600},
                "b": {"type": "moded", "mode": "0o600"},
                "c": {"type": "moded", "mode": True},
                "d": {"type": "moded", "mode": -1},
            }
        },
        plugins=[("mode", ModePlugin())],
    )
    assert error.errors == [
        "must be permission bits between 0o000 and 0o777 (write 0o600 in TOML, not 600), "
        "got 0o1130 (600) @ $.outputs.a.mode",
        "expected permission bits (an octal integer such as 0o600), got string '0o600' "
        "@ $.outputs.b.mode",
        "expected permission bits (an octal integer such as 0o600), got boolean True "
        "@ $.outputs.c.mode",
        "must be permission bits between 0o000 and 0o777 (write 0o600 in TOML, not 600), "
        "got -1 @ $.outputs.d.mode",
    ]


# -- config check: a dry run of configure() ----------------------------------------------------


class Threaded(Output):
    """An output whose factory starts a thread (as the OTLP output does); close() stops it."""

    def __init__(self, options, context):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.stop.wait, daemon=True)
        self.thread.start()

    def write(self, entry):
        pass

    def close(self):
        self.stop.set()
        self.thread.join()


@attrs.frozen(kw_only=True)
class PathOptions:
    path: str = "app.log"


class Appending(Output):
    """An output that creates its file when built, and registers a check that creates nothing."""

    def __init__(self, options: PathOptions, context: BuildContext) -> None:
        target = Path(options.path)
        if not target.is_absolute() and context.config_path is not None:
            target = context.config_path.parent / target
        target.parent.mkdir(parents=True, exist_ok=True)
        self.fh = target.open("a")

    def write(self, entry):
        pass

    def close(self):
        self.fh.close()


def appending_check(options: PathOptions, context: BuildContext) -> None:
    from llmlog.config import OptionError

    # The file machinery's check (what FileSink would meet): not in the core alone.
    check_appendable = pytest.importorskip("llmlog_engine_files").check_appendable

    target = Path(options.path)
    if not target.is_absolute() and context.config_path is not None:
        target = context.config_path.parent / target
    try:
        check_appendable(target)
    except OSError as exc:
        raise OptionError("path", exc.strerror or str(exc)) from None


def failing_formatter(options, context):
    raise ValueError("no such template")


class DryRunPlugin:
    @hookimpl
    def llmlog_register_outputs(self, register):
        register("threaded", Threaded)
        register("appending", Appending, options=PathOptions, check=appending_check)
        register("unopenable", Unopenable)
        register("nothing", lambda options, context: object())

    @hookimpl
    def llmlog_register_formatters(self, register):
        register("failing", failing_formatter)


DRY_RUN_CASES = {
    "ok": {"outputs": {"t": {"type": "threaded"}, "a": {"type": "appending", "path": "d/a.log"}}},
    "raising factory": {"outputs": {"u": {"type": "unopenable"}}},
    "not an output": {"outputs": {"n": {"type": "nothing"}}},
    "impossible path": {"outputs": {"a": {"type": "appending", "path": "/proc/nope/app.log"}}},
    "a directory": {"outputs": {"a": {"type": "appending", "path": "."}}},
    "failing formatter": {"outputs": {"s": {"type": "stderr", "formatter": "failing"}}},
}


@pytest.mark.parametrize("case", DRY_RUN_CASES)
def test_check_says_what_configure_says_and_creates_nothing(tmp_path, case):
    path = tmp_path / "conf" / "llmlog.toml"
    path.parent.mkdir()
    path.write_text(dumps_toml(DRY_RUN_CASES[case]))
    plugins = [("dry", DryRunPlugin())]
    with threads_started() as started:
        try:
            llmlog.check_configuration(path, plugins=plugins, autoload=False)
            checked = None
        except ConfigError as exc:
            checked = exc
    # nothing created, no thread left running
    assert sorted(p.name for p in path.parent.iterdir()) == ["llmlog.toml"]
    assert not started
    try:
        llmlog.configure(path, plugins=plugins, autoload=False)
        configured = None
    except ConfigError as exc:
        configured = exc
    assert (checked is None) == (configured is None) == (case == "ok")
    if checked is not None and configured is not None:
        assert (checked.source, checked.errors) == (configured.source, configured.errors)
        assert checked.source == str(path)
        assert all(" @ $." in e for e in checked.errors)
    else:
        assert (path.parent / "d" / "a.log").is_file()  # configure() did create it


DRY_RUN_ERRORS = {
    "impossible path": "cannot create output 'a': cannot create directory /proc/nope: /proc "
    "is on a proc filesystem, which takes no new files @ $.outputs.a.path",
    "a directory": "cannot create output 'a': . is a directory, not a file @ $.outputs.a.path",
    "raising factory": "cannot create output 'u': cannot open /root/forbidden.log for u "
    "@ $.outputs.u",
    "not an output": "cannot create output 'n': output type 'nothing' (plugin 'dry') built "
    "object, which is not an llmlog.Output @ $.outputs.n",
    "failing formatter": "cannot create output 's': no such template @ $.outputs.s.formatter",
}


# One test per case: where the file machinery is missing (the core alone), only the cases of the
# output whose check uses it are skipped.
@pytest.mark.parametrize("case", DRY_RUN_ERRORS)
def test_dry_run_errors_name_the_option(case):
    plugins = [("dry", DryRunPlugin())]
    with pytest.raises(ConfigError) as info:
        llmlog.check_configuration(DRY_RUN_CASES[case], plugins=plugins, autoload=False)
    assert info.value.errors == [DRY_RUN_ERRORS[case]]


def test_huge_arrays_and_tables_are_one_error_each(tmp_path):
    path = tmp_path / "llmlog.toml"
    path.write_text(
        "redact_keys = [" + ", ".join(['"("'] * 200_000) + "]\n"
        "[default_fields]\n" + "".join(f"k{i} = {i}\n" for i in range(20_000))
    )
    assert config_error(path).errors == [
        "an array of 200,000 entries; at most 10,000 @ $.redact_keys",
        "a table of 20,000 entries; at most 10,000 @ $.default_fields",
    ]
    error = config_error({f"k{i}": i for i in range(10_001)})
    assert error.errors == ["a table of 10,001 entries; at most 10,000 @ $"]


def test_messages_escape_what_a_terminal_would_act_on(tmp_path, capsys):
    from llmlog.cli import main

    hostile = "\x1b]52;c;cGF5bG9hZA==\x07\x1b[2J"
    path = tmp_path / f"odd{hostile}.toml"
    toml = "".join(f"\\u{ord(c):04x}" if not c.isprintable() else c for c in hostile)
    path.write_text(f'level = "{toml}"\n[outputs."x{toml}\\n"]\n')
    assert main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b]52;c;" in err and "@ $.outputs.x\\x1b" in err
    assert err.count("\n") == 3  # the head and two errors, a newline in a key escaped
