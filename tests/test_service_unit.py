"""The systemd unit: `systemd-analyze verify` is clean and the security exposure is at most 2.0.

`verify` checks that ExecStart= names an executable file, and /opt/edgevoice/venv does not exist
on a build machine. So the unit is verified as a copy in a temporary directory in which exactly
one thing differs: ExecStart= points at an executable stand-in for /opt/edgevoice/venv/bin/edgevoice.
Everything else (every directive, ExecReload=, the device, credential and sandbox
settings) is verified as shipped. `security --offline=true` reads the shipped file itself.
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "edgevoice.service"
EXEC = "/opt/edgevoice/venv/bin/edgevoice"

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing (apt-get install systemd; `make test` installs it)",
)


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_verify_is_clean(tmp_path):
    stand_in = tmp_path / "opt/edgevoice/venv/bin/edgevoice"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    shipped = UNIT.read_text()
    copy = tmp_path / "edgevoice.service"
    copy.write_text(shipped.replace(EXEC, str(stand_in)))
    changed = [(a, b) for a, b in zip(shipped.splitlines(), copy.read_text().splitlines()) if a != b]
    assert [a for a, _ in changed if not a.startswith("#")] == [f"ExecStart={EXEC} run --config /etc/edgevoice/edgevoice.toml"]

    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr


def test_verify_would_catch_a_missing_executable():
    done = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and EXEC in done.stderr


def test_security_exposure_is_at_most_2():
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True, text=True, timeout=120,
    )
    output = done.stdout + done.stderr
    match = re.search(r"Overall exposure level for edgevoice\.service: (\d+\.\d+)", output)
    assert match, output
    assert float(match.group(1)) <= 2.0, output


def test_the_unit_says_what_the_issue_asks():
    unit = _directives(UNIT.read_text())
    expected = {
        "Type": ["notify"],
        "ExecStart": [f"{EXEC} run --config /etc/edgevoice/edgevoice.toml"],
        "ExecReload": ["/bin/sh -c 'kill -HUP $MAINPID'"],
        "Restart": ["on-failure"],
        "RestartPreventExitStatus": ["78"],
        "DynamicUser": ["yes"],
        "SupplementaryGroups": ["audio gpio edgevoice"],
        "RuntimeDirectory": ["edgevoice"],
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "ConfigurationDirectory": ["edgevoice"],
        "StateDirectory": ["edgevoice"],
        "CacheDirectory": ["edgevoice"],
        "DevicePolicy": ["closed"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "LoadCredential": ["voicelive-api-key:/etc/edgevoice/voicelive-api-key"],
        "MemoryMax": ["200M"],
    }
    for key, value in expected.items():
        assert unit.get(key) == value, key
    assert "char-alsa rw" in unit["DeviceAllow"] and "char-gpiochip rw" in unit["DeviceAllow"]
    assert "@system-service" in unit["SystemCallFilter"]
    assert "WatchdogSec" in unit
    assert "IPAddressDeny" not in unit and "PrivateNetwork" not in unit  # Azure is on the internet


def test_reload_sends_sighup_with_only_what_a_minimal_system_has(tmp_path):
    """ExecReload= run as systemd runs it ($MAINPID substituted, a bare PATH): the main process gets SIGHUP.

    It names no binary outside Debian's essential set (/bin/kill comes with procps, which a
    minimal Debian or Raspberry Pi OS lacks); /bin/sh and its built-in kill are always there.
    """
    (reload_line,) = _directives(UNIT.read_text())["ExecReload"]
    argv = shlex.split(reload_line)
    assert argv[0] == "/bin/sh"  # PATH below finds nothing: the kill is the shell's own
    main = subprocess.Popen(
        [sys.executable, "-c", "import signal, sys; print('ready', flush=True); "
         "signal.sigwait({signal.SIGHUP}); print('hup', flush=True)"],
        stdout=subprocess.PIPE, text=True, preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP}),
    )
    try:
        assert main.stdout.readline().strip() == "ready"
        argv = [word.replace("$MAINPID", str(main.pid)) for word in argv]
        done = subprocess.run(argv, env={"PATH": "/nonexistent"}, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert main.stdout.readline().strip() == "hup"
        assert main.wait(timeout=60) == 0
    finally:
        main.kill()
