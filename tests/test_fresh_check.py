"""scripts/fresh-check.sh, the by-hand check on a minimal Debian: its options parse before it needs root."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fresh-check.sh"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False)


def test_help_names_every_option():
    done = run("--help")
    assert done.returncode == 0, done.stderr
    for option in ("--arch", "--dir", "--new", "--mirror", "--ca-bundle", "--pip-index-url", "--pip-extra-index-url",
                   "--tests", "--no-test", "--no-demo"):
        assert option in done.stdout, option


def test_an_unknown_option_or_an_unreadable_ca_bundle_is_one_clear_line(tmp_path):
    done = run("--arhc", "arm64")
    assert done.returncode == 2 and done.stderr.strip() == "fresh-check: unknown option --arhc (see --help)"
    done = run("--ca-bundle", str(tmp_path / "missing.pem"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
