"""``llmlog config check`` and ``config show`` with the real plugins installed: what check accepts,
configure() accepts, and what show prints reads back."""

from __future__ import annotations

import json
import tomllib


def test_config_show_writes_permission_bits_in_octal_and_reads_back(cli, tmp_path):
    path = tmp_path / "llmlog.toml"
    path.write_text(
        '[outputs.f]\ntype = "file"\npath = "app.log"\nmode = 0o640\n'
        '[trace]\nformat = { type = "rlm", mode = 0o600 }\n'
    )
    shown = cli("config", "show", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "mode = 0o640" in shown.stdout and "mode = 0o600" in shown.stdout
    assert "416" not in shown.stdout and "384" not in shown.stdout
    again = tmp_path / "shown.toml"
    again.write_text(shown.stdout)
    assert tomllib.loads(shown.stdout)["outputs"]["f"]["mode"] == 0o640
    assert cli("config", "check", str(again)).returncode == 0
    as_json = json.loads(cli("config", "show", "--json", str(path)).stdout)["config"]
    assert (as_json["outputs"]["f"]["mode"], as_json["trace"]["format"]["mode"]) == (416, 384)
