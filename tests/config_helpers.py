"""Helpers for the config tests: write a config file, run the real `edgevoice` CLI on it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgevoice import cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "edgevoice.toml"
EDGEVOICE = Path(sys.executable).parent / "edgevoice"
ENDPOINT = 'endpoint = "https://my-resource.services.ai.azure.com"'


@dataclass
class Result:
    status: int
    out: str
    err: str


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Result:
    """Run ``edgevoice ARGV`` in this process (the real cli.main) and capture what it printed."""
    capsys.readouterr()
    status = cli.main(argv)
    captured = capsys.readouterr()
    return Result(status, captured.out, captured.err)


def run_subprocess(
    argv: list[str], env: dict[str, str] | None = None, prefix: list[str] | None = None, command: list[str] | None = None
) -> Result:
    """Run the installed ``edgevoice`` script (or COMMAND) as a separate process."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("AZURE_VOICELIVE_API_KEY", "CREDENTIALS_DIRECTORY", "EDGEVOICE_CONFIG")}
    full_env.update(env or {})
    proc = subprocess.run(
        [*(prefix or []), *(command or [str(EDGEVOICE)]), *argv], capture_output=True, text=True, env=full_env, timeout=60, check=False
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def readable_edgevoice(directory: Path) -> list[str]:
    """A command line that runs ``edgevoice`` from a copy of the package in DIRECTORY, for another user.

    The checkout and its .venv may sit where other users cannot go (``/root`` is 0700), so the
    package is copied next to the files under test and run by the base interpreter with only the
    standard library, which is all ``edgevoice check`` needs.
    """
    import shutil

    shutil.copytree(REPO / "edgevoice", directory / "edgevoice", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    python = getattr(sys, "_base_executable", sys.executable)
    run = f"import sys; sys.path.insert(0, {str(directory)!r}); from edgevoice.cli import main; sys.exit(main())"
    return [python, "-c", run]


def write_config(tmp_path: Path, text: str, name: str = "edgevoice.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_secret(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path
