"""Every secret of the corpus × every output reachable through the sanitizer (issue 15).

A real program, configured by llmlog.toml, logs each secret of
``core/tests/data/secrets_corpus.json`` as a message, a printf argument, a field under a plain
name (nested too), a field under a secret name, a header pair, an exception, span inputs and
outputs, a span error and an LLM call (prompt, messages, response), in a dspy and an rlm trace
session. Its outputs: console (stdout), the built-in stderr output, json, text and logfmt files,
the stdlib forward (a logging handler writing every attribute of each record), the otlp log
output and the OTLP span exporter (a local receiver keeps the raw request bodies), and a flight
recorder snapshot, and llmlog's own problem reports on stderr (an output failing with the secret
in its error, a report naming it). No byte written anywhere may hold any part of a secret; the look-alikes
(token counts, hashes, UUIDs, base64 image data...) come out whole.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from llmlog_fake_provider.otlp import Receiver

CORPUS_PATH = Path(__file__).parents[1] / "core" / "tests" / "data" / "secrets_corpus.json"

PROGRAM = textwrap.dedent(
    """
    import json, logging, sys
    import llmlog
    from llmlog.flight import global_flight_recorder

    corpus = json.load(open(sys.argv[1]))
    values = [s["value"] for s in corpus["secrets"]]
    values += [c["template"].format(s=c["value"]) for c in corpus["contextual"]]

    class Everything(logging.Handler):
        # Every attribute of every forwarded record, as text.
        def __init__(self):
            super().__init__()
            self.file = open("stdlib.log", "w")

        def emit(self, record):
            self.file.write(repr(vars(record)) + "\\n")
            self.file.flush()

    logging.getLogger("llmlog").addHandler(Everything())
    logging.getLogger("llmlog").setLevel(logging.DEBUG)
    logging.getLogger("llmlog").propagate = False

    llmlog.configure()
    log = llmlog.get_logger("app")
    log.info("look-alikes", items=corpus["lookalikes"])
    for i, value in enumerate(values):
        log.info(f"message {value} end")
        log.info("printf %s end", value)
        log.info(
            "fields",
            note=f"note {value}",
            nested={"deep": [{"text": value}]},
            api_key=value,
            headers=[("Authorization", value), ("Accept", "json")],
        )
        try:
            raise ValueError(f"rejected {value}")
        except ValueError:
            log.exception("failed")
    for fmt in ("dspy", "rlm"):
        with llmlog.start_trace_session(f"trace-{fmt}.jsonl", format=fmt) as session:
            for value in values:
                try:
                    with llmlog.span("step", {"query": f"q {value}", "password": value}) as s:
                        s.set_outputs(answer=f"a {value}")
                        session.emit_llm_call(
                            s.span_id,
                            "openai",
                            "gpt-4o-mini",
                            prompt=f"prompt {value}",
                            response=f"response {value}",
                            messages=[{"role": "user", "content": value}],
                        )
                        raise RuntimeError(f"boom {value}")
                except RuntimeError:
                    pass
    global_flight_recorder().snapshot("flight.jsonl")

    class Failing(llmlog.Output):  # an output whose error message holds a secret
        def __init__(self, secret):
            self.secret = secret

        def write(self, entry):
            raise ConnectionError(f"cannot reach {self.secret}")

    from llmlog.dispatch import report_problem
    from llmlog.logger import global_dispatcher

    for i, value in enumerate(values):
        failing = Failing(value)
        failing.name = f"failing-{i}"  # each reported once
        global_dispatcher().add_output(failing)
        log.info("to a failing output")
        global_dispatcher().remove_output(failing)
        report_problem(f"exporting to {value} failed")
    llmlog.shutdown()
    """
)

CONFIG = """
level = "debug"

[outputs.console]
type = "console"
stream = "stdout"
color = "never"
max_value_length = 0

[outputs.plain]
type = "stderr"

[outputs.json]
type = "file"
path = "out.jsonl"
formatter = "json"

[outputs.text]
type = "file"
path = "out.txt"
formatter = "text"

[outputs.logfmt]
type = "file"
path = "out.logfmt"
formatter = "logfmt"

[outputs.forward]
type = "stdlib"
logger = "llmlog"

[outputs.otel]
type = "otlp"
endpoint = "{endpoint}/v1/logs"
schedule_delay = "50ms"

[integrations.otlp]
enabled = true
endpoint = "{endpoint}/v1/traces"

[flight_recorder]
enabled = true
backend = "memory"
"""


def _needles(value: str) -> list[str]:
    """The parts of a secret that must not appear: each line of it (a PEM block's lines are
    written as escapes in JSON), but not a PEM header, which names a kind, not a secret."""
    return [line for line in value.split("\n") if len(line) >= 8 and not line.startswith("-----")]


def test_no_secret_reaches_any_output(sh, tmp_path):
    corpus = json.loads(CORPUS_PATH.read_text())
    receiver = Receiver()
    try:
        (tmp_path / "llmlog.toml").write_text(CONFIG.replace("{endpoint}", receiver.base))
        (tmp_path / "app.py").write_text(PROGRAM)
        done = sh([sys.executable, "app.py", str(CORPUS_PATH)], cwd=tmp_path, check=True)
    finally:
        receiver.close()
    written: dict[str, bytes] = {
        "console (stdout)": done.stdout.encode(),
        "stderr": done.stderr.encode(),
        "otlp (logs and spans)": b"\n".join(receiver.bodies),
    }
    for name in (
        "out.jsonl",
        "out.txt",
        "out.logfmt",
        "stdlib.log",
        "trace-dspy.jsonl",
        "trace-rlm.jsonl",
        "flight.jsonl",
    ):
        written[name] = (tmp_path / name).read_bytes()
    for name, data in written.items():
        assert len(data) > 1000, f"{name} wrote almost nothing"
    secrets = [s["value"] for s in corpus["secrets"]] + [c["value"] for c in corpus["contextual"]]
    leaks = [
        (name, needle[:20])
        for secret in secrets
        for needle in _needles(secret)
        for name, data in written.items()
        if needle.encode() in data
    ]
    assert leaks == []
    # Whatever is written, the look-alikes come out whole.
    (first, *_) = (json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines())
    assert first["message"] == "look-alikes"
    assert first["items"] == corpus["lookalikes"]
    # Each output saw the entries (a redaction marker of each kind of secret reached each file).
    kinds = {s["kind"] for s in corpus["secrets"]}
    for name in ("out.jsonl", "out.txt", "out.logfmt", "trace-dspy.jsonl", "trace-rlm.jsonl"):
        text = written[name].decode()
        missing = [k for k in kinds if f"[REDACTED:{k}]" not in text]
        assert missing == [], name
