"""The README's two set-up commands are the scripts that exist, and the first one starts the
main job (the second one is what runs this suite)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n#[^\n]*\n([^\n]+)\n```", section)


def test_the_readme_has_exactly_the_two_set_up_commands():
    assert _setup_commands() == ["bash scripts/serve.sh", "bash scripts/test.sh"]


def test_the_serve_command_installs_and_starts_the_main_job(tmp_path):
    """`bash scripts/serve.sh` in the environment this suite runs in (RB_VENV: no second
    environment is made here; scripts/test.sh made this one from the system python3)."""
    env = {
        **os.environ,
        "RB_VENV": sys.prefix,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REASONINGBANK_DB", None)
    proc = subprocess.Popen(
        ["bash", "scripts/serve.sh", "--port", "0", "--hub-port", "0", "--no-semantic"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("ReasoningBank app: http://localhost:"), (
            first + proc.stderr.read() if proc.poll() is not None else first
        )
        assert (tmp_path / "data" / "reasoningbank" / "bank.db").exists()
    finally:
        proc.terminate()
        proc.wait(30)
