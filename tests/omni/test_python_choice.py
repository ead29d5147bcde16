"""scripts/python.sh: the interpreter `make` builds the virtualenv on."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "python.sh"


def _choose(system_python: str, path: str) -> str:
    env = {**os.environ, "OMNI_SYSTEM_PYTHON": system_python, "PATH": path}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _fake_python(tmp_path: Path, name: str, exit_code: int) -> Path:
    fake = tmp_path / name
    fake.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    fake.chmod(0o755)
    return fake


def test_the_system_interpreter_is_preferred_when_it_is_recent_with_venv(tmp_path):
    on_path = tmp_path / "bin"
    on_path.mkdir()
    _fake_python(on_path, "python3", 0)
    assert _choose(sys.executable, f"{on_path}:/usr/bin:/bin") == sys.executable


def test_an_old_or_missing_system_interpreter_falls_back_to_python3_on_path(tmp_path):
    on_path = tmp_path / "bin"
    on_path.mkdir()
    path_python = _fake_python(on_path, "python3", 0)  # "passes" the version check
    too_old = _fake_python(tmp_path, "python-3.9", 1)  # fails it
    search = f"{on_path}:/usr/bin:/bin"
    assert _choose(str(too_old), search) == str(path_python)
    assert _choose(str(tmp_path / "missing"), search) == str(path_python)
