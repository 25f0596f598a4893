"""``import llmlog`` loads only what logging needs (issue 16), and the lazily loaded names behave as
the eager ones did."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# Loaded on first use (configure(), the first entry, a plugin), never by ``import llmlog``.
NOT_AT_IMPORT = [
    "cattrs",
    "pluggy",
    "platformdirs",
    "tomllib",
    "importlib.metadata",
    "gzip",
    "zlib",
    "fcntl",
    "signal",
    "gc",
    "llmlog.runtime",
    "llmlog.config",
    "llmlog.plugins",
    "llmlog.safefiles",
]


def _run(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_import_llmlog_loads_no_configuration_plugin_or_file_machinery_and_registers_nothing():
    found = _run(
        f"""
        import atexit, json, sys
        import llmlog
        print(json.dumps({{
            "loaded": sorted(m for m in sys.modules if m in {NOT_AT_IMPORT!r}),
            "atexit": atexit._ncallbacks(),
        }}))
        """
    )
    assert found == {"loaded": [], "atexit": 0}


def test_lazy_names_resolve_to_the_same_objects_and_configure_stays_a_function():
    # The first entry configures llmlog (importing its runtime module) before the program ever
    # touches llmlog.configure: the package attribute must still be the function afterwards.
    found = _run(
        """
        import json, types
        import llmlog
        llmlog.get_logger("t").info("first entry configures llmlog")
        from llmlog.runtime import configure, shutdown, stats
        from llmlog.config import ConfigError
        from llmlog.hookspecs import hookimpl
        print(json.dumps({
            "configure": llmlog.configure is configure,
            "callable": isinstance(llmlog.configure, types.FunctionType),
            "shutdown": llmlog.shutdown is shutdown and llmlog.stats is stats,
            "error": llmlog.ConfigError is ConfigError and llmlog.hookimpl is hookimpl,
            "version": isinstance(llmlog.__version__, str) and bool(llmlog.__version__),
            "dir": all(n in dir(llmlog) for n in llmlog.__all__),
            "all": all(hasattr(llmlog, n) for n in llmlog.__all__),
        }))
        """
    )
    assert found == dict.fromkeys(found, True)
    assert len(found) == 7


def test_an_unknown_attribute_is_an_attribute_error():
    import llmlog

    with pytest.raises(AttributeError, match="no_such_name"):
        llmlog.no_such_name  # type: ignore[attr-defined]  # noqa: B018
