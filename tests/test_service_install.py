"""install-service: the dry run shows every step and touches nothing; file steps are idempotent."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgevoice.service import install
from edgevoice.service.install import InstallError, Installer, InstallOptions, render_unit

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "edgevoice.service"
KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
STEP_NAMES = [
    "system packages",
    "groups",
    "venv",
    "edgevoice package",
    "config directory",
    "config file",
    "API key credential",
    "systemd unit",
    "systemd reload",
    "enable service",
]
FILE_STEPS = {"config directory", "config file", "API key credential", "systemd unit"}


def _snapshot(*paths: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and directory under ``paths`` with mode, size and mtime."""
    seen = {}
    for top in paths:
        if not top.exists():
            seen[str(top)] = (0, 0, 0)
            continue
        for path in [top, *top.rglob("*")]:
            st = path.lstat()
            seen[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return seen


@pytest.fixture
def layout(tmp_path) -> dict[str, Path]:
    example = tmp_path / "example.toml"
    example.write_text("# example config\n")
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    return {
        "tmp": tmp_path,
        "prefix": tmp_path / "opt" / "edgevoice",
        "config_dir": tmp_path / "etc" / "edgevoice",
        "unit_dir": tmp_path / "etc" / "systemd" / "system",
        "example": example,
        "key_file": key_file,
    }


def _options(layout: dict[str, Path], **changes: object) -> InstallOptions:
    values: dict[str, object] = dict(
        prefix=layout["prefix"],
        config_dir=layout["config_dir"],
        unit_dir=layout["unit_dir"],
        example_config=layout["example"],
        api_key_file=layout["key_file"],
        interactive=False,
    )
    values.update(changes)
    return InstallOptions(**values)  # type: ignore[arg-type]


def _file_installer(options: InstallOptions) -> Installer:
    installer = Installer(options)
    installer.steps = [step for step in installer.steps if step.name in FILE_STEPS]
    return installer


def test_dry_run_lists_every_step_and_touches_nothing(layout):
    system = [Path("/etc/systemd/system/edgevoice.service"), Path("/etc/edgevoice"), Path("/opt/edgevoice")]
    before = _snapshot(layout["tmp"], *system)
    done = subprocess.run(
        [
            sys.executable, "-m", "edgevoice", "install-service", "--dry-run",
            "--prefix", str(layout["prefix"]),
            "--config-dir", str(layout["config_dir"]),
            "--unit-dir", str(layout["unit_dir"]),
            "--example-config", str(layout["example"]),
            "--api-key-file", str(layout["key_file"]),
        ],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "nothing is changed" in lines[0]
    numbered = [re.match(r"\[(\d+)/10\] ([^:]+): (.*)", line) for line in lines if line.startswith("[")]
    assert [m.group(2) for m in numbered if m] == STEP_NAMES
    out = done.stdout
    assert f"-m venv {layout['prefix']}/venv" in out
    assert f"pip install --upgrade {ROOT}" in out
    assert f"{layout['unit_dir']}/edgevoice.service" in out
    assert "systemctl" in out
    assert KEY not in out
    assert _snapshot(layout["tmp"], *system) == before


def test_file_steps_install_once_and_then_are_done(layout, capsys):
    options = _options(layout)
    installer = _file_installer(options)
    installer.run()
    assert installer.changed == [step.name for step in installer.steps]

    assert options.config_file.read_text() == "# example config\n"
    assert options.credential_file.read_text().strip() == KEY
    assert stat.S_IMODE(options.credential_file.stat().st_mode) == 0o600
    unit = options.unit_file.read_text()
    assert f"ExecStart={layout['prefix']}/venv/bin/edgevoice run --config {layout['config_dir']}/edgevoice.toml" in unit
    assert f"LoadCredential=voicelive-api-key:{layout['config_dir']}/voicelive-api-key" in unit
    assert "ConfigurationDirectory=" not in unit  # systemd only manages directories under /etc
    assert KEY not in capsys.readouterr().out

    again = _file_installer(options)
    again.run()
    assert again.changed == []
    assert all(step.check().done for step in again.steps)


def test_the_config_file_is_never_overwritten(layout):
    options = _options(layout)
    options.config_dir.mkdir(parents=True)
    options.config_file.write_text("# mine\n")
    _file_installer(options).run()
    assert options.config_file.read_text() == "# mine\n"


def test_the_credential_mode_is_repaired_and_a_new_key_replaces_the_old(layout, tmp_path):
    options = _options(layout)
    _file_installer(options).run()
    options.credential_file.chmod(0o644)
    installer = _file_installer(options)
    state = next(s for s in installer.steps if s.name == "API key credential").check()
    assert not state.done and "0644" in state.detail
    installer.run()
    assert stat.S_IMODE(options.credential_file.stat().st_mode) == 0o600

    new_key = tmp_path / "new-key"
    new_key.write_text("ffffeeeeddddccccbbbbaaaa99998888")
    replaced = _file_installer(_options(layout, api_key_file=new_key))
    replaced.run()
    assert replaced.changed == ["API key credential"]
    assert options.credential_file.read_text().strip() == "ffffeeeeddddccccbbbbaaaa99998888"


def test_no_key_and_no_terminal_is_a_clear_problem(layout, monkeypatch):
    monkeypatch.delenv("AZURE_VOICELIVE_API_KEY", raising=False)
    installer = _file_installer(_options(layout, api_key_file=None))
    lines: list[str] = []
    assert installer.report(lines.append) is False
    assert any("API key credential: PROBLEM" in line and "--api-key-file" in line for line in lines)
    with pytest.raises(InstallError, match="--api-key-file"):
        installer.run(lambda line: None)
    assert not layout["config_dir"].exists()  # a later step's problem stops the run before any change
    empty = layout["tmp"] / "empty"
    empty.write_text("\n")
    with pytest.raises(InstallError, match="is empty"):
        _file_installer(_options(layout, api_key_file=empty)).run(lambda line: None)


def test_a_missing_example_config_is_reported(layout):
    installer = _file_installer(_options(layout, example_config=layout["tmp"] / "nope.toml"))
    lines: list[str] = []
    assert installer.report(lines.append) is False
    assert any("config file: PROBLEM" in line and "--example-config" in line for line in lines)


def test_a_venv_under_home_is_refused(layout):
    installer = Installer(_options(layout, prefix=Path("/home/pi/edgevoice")))
    state = next(s for s in installer.steps if s.name == "venv").check()
    assert state.problem and "ProtectHome" in state.problem


def test_steps_that_need_root_are_refused_up_front(layout, monkeypatch):
    installer = Installer(_options(layout))
    installer.steps = [step for step in installer.steps if step.name in FILE_STEPS | {"groups"}]
    installer.steps[0].needs_root = True
    installer.steps[0].check = lambda: install.StepState(False, "missing groups: gpio")  # as on a non-Pi machine
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(InstallError, match="need root: groups"):
        installer.run(lambda line: None)
    assert not layout["config_dir"].exists()  # refused before doing anything


def test_rendering_with_the_default_paths_is_the_shipped_unit():
    text = UNIT.read_text()
    assert render_unit(text, install.DEFAULT_PREFIX, install.DEFAULT_CONFIG_DIR) == text
    moved = render_unit(text, Path("/srv/ev"), Path("/etc/kiosk/voice"))
    assert "ExecStart=/srv/ev/venv/bin/edgevoice run --config /etc/kiosk/voice/edgevoice.toml" in moved
    assert "ConfigurationDirectory=kiosk/voice" in moved
    assert "/opt/edgevoice" not in moved and "/etc/edgevoice" not in moved


def test_the_unit_template_is_this_checkout():
    assert install.source_tree() == ROOT
    assert install.unit_template() == UNIT


def test_an_installed_package_carries_the_unit_and_the_example_config():
    """A wheel has no checkout beside it: the package data holds the same two files (symlinks here)."""
    unit = install._packaged("systemd", install.UNIT_NAME)
    example = install._packaged(install.CONFIG_NAME)
    assert unit is not None and unit.read_bytes() == UNIT.read_bytes()
    assert example is not None and example.read_bytes() == (ROOT / "config" / "edgevoice.toml").read_bytes()


def test_apt_packages_match_scripts_system_deps():
    script = (ROOT / "scripts" / "system-deps.sh").read_text()
    runtime = re.search(r"^runtime=\(([^)]*)\)", script, re.M)
    assert runtime, "scripts/system-deps.sh has no runtime=(...) list"
    assert tuple(runtime.group(1).split()) == install.RUNTIME_APT_PACKAGES


def test_the_package_step_notices_a_missing_or_stale_install(layout):
    import shutil

    from edgevoice import __version__

    venv = layout["prefix"] / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    installer = Installer(_options(layout, source=str(ROOT)))
    step = next(s for s in installer.steps if s.name == "edgevoice package")
    assert "not installed" in step.check().detail

    # What a wheel install leaves behind: the package and its dist-info in site-packages.
    site = Path(subprocess.check_output(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip())
    shutil.copytree(ROOT / "edgevoice", site / "edgevoice", ignore=shutil.ignore_patterns("__pycache__"))
    dist_info = site / f"edgevoice-{__version__}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: edgevoice\nVersion: {__version__}\n")
    assert step.check().done, step.check().detail

    (site / "edgevoice" / "service" / "notify.py").write_text("# an older edgevoice\n")
    state = step.check()
    assert not state.done and "service/notify.py" in state.detail
