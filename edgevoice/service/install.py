"""Install edgevoice as a systemd service, one idempotent step at a time.

Each :class:`Step` knows how to tell whether it is already done and how to do it, so running
the installer again only does what is missing, and a dry run shows every step and what it
would do without changing anything. ``edgevoice install-service`` is the command line.
"""

from __future__ import annotations

import dataclasses
import getpass
import grp
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from edgevoice import __version__
from edgevoice.files import atomic_write

logger = logging.getLogger(__name__)

UNIT_NAME = "edgevoice.service"
CREDENTIAL_NAME = "voicelive-api-key"
CONFIG_NAME = "edgevoice.toml"
DEFAULT_PREFIX = Path("/opt/edgevoice")
DEFAULT_CONFIG_DIR = Path("/etc/edgevoice")
DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
DEFAULT_PYTHON = Path("/usr/bin/python3")

# The same list as the "runtime" set in scripts/system-deps.sh (a test keeps them equal):
# PyAudio and systemd-python build from source, espeak-ng speaks the cached replies.
RUNTIME_APT_PACKAGES = ("portaudio19-dev", "libsystemd-dev", "pkg-config", "gcc", "espeak-ng")
# The groups the unit's SupplementaryGroups= names: systemd refuses to start if one is missing.
# edgevoice: who may use the control socket (`edgevoice status`, `say`, `mute` ...); [control] group.
SERVICE_GROUPS = ("audio", "gpio", "edgevoice")

# ProtectHome=yes makes these invisible to the service, so the venv cannot live there.
_HIDDEN_FROM_SERVICE = (Path("/home"), Path("/root"), Path("/run/user"))

# The paths the shipped unit is written for; rendering replaces them with the chosen ones.
_UNIT_PREFIX = "/opt/edgevoice"
_UNIT_CONFIG_DIR = "/etc/edgevoice"


class InstallError(Exception):
    """A step that cannot be done; the message says what to do about it."""


@dataclasses.dataclass(frozen=True)
class InstallOptions:
    """Where and how to install; the defaults are the layout the shipped unit expects."""

    prefix: Path = DEFAULT_PREFIX
    config_dir: Path = DEFAULT_CONFIG_DIR
    unit_dir: Path = DEFAULT_UNIT_DIR
    python: Path = DEFAULT_PYTHON
    source: str | None = None  # what to pip install; None: this source tree, else edgevoice==version
    example_config: Path | None = None
    api_key_file: Path | None = None
    start: bool = True
    interactive: bool = True  # may prompt for the API key

    @property
    def venv(self) -> Path:
        return self.prefix / "venv"

    @property
    def config_file(self) -> Path:
        return self.config_dir / CONFIG_NAME

    @property
    def credential_file(self) -> Path:
        return self.config_dir / CREDENTIAL_NAME

    @property
    def unit_file(self) -> Path:
        return self.unit_dir / UNIT_NAME


@dataclasses.dataclass(frozen=True)
class StepState:
    """What a step found: done or not, and a short explanation (or the problem blocking it)."""

    done: bool
    detail: str
    problem: str | None = None


@dataclasses.dataclass
class Step:
    """One install step: a name, what it does, a check whether it is done, and the doing."""

    name: str
    action: str  # what apply() does, as the commands or file operations a person would run
    check: Callable[[], StepState]
    apply: Callable[[], None]
    needs_root: bool = True


# --- helpers -------------------------------------------------------------------------------


def _run(command: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    logger.info("running: %s", shlex.join(command))
    return subprocess.run(list(command), check=True, text=True, **kwargs)  # type: ignore[call-overload]


def _output(command: Sequence[str]) -> str | None:
    """The stdout of a read-only query, or None if it could not run."""
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _writable(path: Path) -> bool:
    """True if this user could create or replace ``path``."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            target = candidate if candidate.is_dir() and candidate != path else candidate.parent
            return os.access(target, os.W_OK)
    return False


def source_tree() -> Path | None:
    """The edgevoice checkout this code runs from, or None when installed from a package."""
    root = Path(__file__).resolve().parents[2]
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if project.get("project", {}).get("name") == "edgevoice" else None


def _packaged(*parts: str) -> Path | None:
    try:
        path = resources.files("edgevoice").joinpath("data", *parts)
    except (ModuleNotFoundError, OSError):
        return None
    return Path(str(path)) if path.is_file() else None


def unit_template() -> Path | None:
    """The unit file to install: the checkout's ``systemd/edgevoice.service`` or the packaged copy."""
    tree = source_tree()
    if tree is not None and (tree / "systemd" / UNIT_NAME).is_file():
        return tree / "systemd" / UNIT_NAME
    return _packaged("systemd", UNIT_NAME)


def example_config() -> Path | None:
    """The commented example config: the checkout's ``config/edgevoice.toml`` or the packaged copy."""
    tree = source_tree()
    if tree is not None and (tree / "config" / CONFIG_NAME).is_file():
        return tree / "config" / CONFIG_NAME
    return _packaged(CONFIG_NAME)


def render_unit(template: str, prefix: Path, config_dir: Path) -> str:
    """The unit text with the venv and config paths moved to ``prefix`` and ``config_dir``."""
    text = template.replace(_UNIT_PREFIX + "/", f"{prefix}/").replace(_UNIT_CONFIG_DIR + "/", f"{config_dir}/")
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("ConfigurationDirectory="):
            # systemd only manages directories under /etc; elsewhere the directory is ours to make.
            if not config_dir.is_relative_to("/etc") or config_dir == Path("/etc"):
                continue
            line = f"ConfigurationDirectory={config_dir.relative_to('/etc')}\n"
        lines.append(line)
    return "".join(lines)


# Prints the installed edgevoice's version and package directory without importing it.
_INSTALLED_QUERY = (
    "import importlib.metadata as m, importlib.util as u; "
    "print(m.version('edgevoice')); print(u.find_spec('edgevoice').submodule_search_locations[0])"
)


def _differing_files(package: Path, installed: Path) -> list[str]:
    """Files of a checkout's package (code and data) that are missing or different in an installed copy."""
    differing = []
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if not path.is_file() or "__pycache__" in relative.parts:
            continue
        if path.suffix != ".py" and relative.parts[0] != "data":
            continue
        copy = installed / relative
        try:
            if copy.read_bytes() != path.read_bytes():
                differing.append(str(relative))
        except OSError:
            differing.append(str(relative))
    return differing


def systemd_running() -> bool:
    """True if systemd is the init system here (``systemctl start`` can work)."""
    return os.path.isdir("/run/systemd/system")


# --- the plan ------------------------------------------------------------------------------


class Installer:
    """The install steps for one set of options, in order."""

    def __init__(self, options: InstallOptions) -> None:
        self.options = options
        self._unit = self._unit_step()
        self.steps: list[Step] = [
            self._apt_step(),
            self._groups_step(),
            self._venv_step(),
            self._package_step(),
            self._config_dir_step(),
            self._config_step(),
            self._credential_step(),
            self._unit,
            self._daemon_reload_step(),
            self._enable_step(),
        ]
        self.changed: list[str] = []  # names of the steps applied by run()
        self.notes: list[str] = []  # what the person has to do next
        self.started = False  # run() started (or restarted) the service

    # -- system packages
    def _python_apt_packages(self) -> list[str]:
        py = str(self.options.python)
        extra = []
        if _output([py, "-I", "-c", "import venv, ensurepip; print('ok')"]) != "ok":
            extra.append("python3-venv")
        headers = _output(
            [py, "-I", "-c", "import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"]
        )
        if headers != "True":
            extra.append("python3-dev")
        return extra

    def wanted_apt_packages(self) -> list[str]:
        return [*RUNTIME_APT_PACKAGES, *self._python_apt_packages()]

    def _missing_apt_packages(self) -> list[str] | None:
        if shutil.which("dpkg-query") is None:
            return None
        missing = []
        for package in self.wanted_apt_packages():
            status = _output(["dpkg-query", "-W", "-f=${Status}", package])
            if status != "install ok installed":
                missing.append(package)
        return missing

    def _apt_step(self) -> Step:
        def check() -> StepState:
            missing = self._missing_apt_packages()
            if missing is None:
                wanted = " ".join(self.wanted_apt_packages())
                return StepState(False, "", problem=f"no dpkg-query here: install the equivalents of {wanted} yourself")
            if not missing:
                return StepState(True, "all installed")
            return StepState(False, "missing: " + " ".join(missing))

        def apply() -> None:
            missing = self._missing_apt_packages() or []
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            _run(["apt-get", "update", "-qq"], env=env)
            _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)

        return Step(
            "system packages",
            "apt-get update && apt-get install -y --no-install-recommends " + " ".join(RUNTIME_APT_PACKAGES)
            + " (and python3-venv python3-dev if the Python lacks them)",
            check,
            apply,
        )

    # -- groups
    def _groups_step(self) -> Step:
        def missing() -> list[str]:
            absent = []
            for name in SERVICE_GROUPS:
                try:
                    grp.getgrnam(name)
                except KeyError:
                    absent.append(name)
            return absent

        def check() -> StepState:
            absent = missing()
            if not absent:
                return StepState(True, "groups " + " ".join(SERVICE_GROUPS) + " exist")
            return StepState(False, "missing groups: " + " ".join(absent))

        def apply() -> None:
            for name in missing():
                _run(["groupadd", "--system", name])

        return Step(
            "groups",
            "groupadd --system for any of " + " ".join(SERVICE_GROUPS) + " that is missing "
            "(Raspberry Pi OS has audio and gpio; edgevoice may use the control socket: "
            "usermod -aG edgevoice USER; the unit's SupplementaryGroups= needs them all to exist)",
            check,
            apply,
        )

    # -- venv
    def _venv_step(self) -> Step:
        venv = self.options.venv
        python = self.options.python

        def check() -> StepState:
            hidden = next((p for p in _HIDDEN_FROM_SERVICE if venv.is_relative_to(p)), None)
            if hidden is not None:
                return StepState(False, "", problem=f"{venv} is under {hidden}, which ProtectHome= hides from the service")
            if (venv / "bin" / "python").exists() and (venv / "pyvenv.cfg").exists():
                return StepState(True, f"{venv} exists")
            if not python.exists():
                return StepState(False, "", problem=f"{python} not found: pass --python PATH (Python >= 3.11)")
            version = _output([str(python), "-I", "-c", "import sys; print(sys.version_info >= (3, 11))"])
            if version != "True":
                return StepState(False, "", problem=f"{python} is older than Python 3.11")
            return StepState(False, f"{venv} does not exist")

        def apply() -> None:
            _run([str(python), "-m", "venv", str(venv)])

        return Step("venv", f"{python} -m venv {venv}", check, apply, needs_root=not _writable(venv))

    # -- the package
    def pip_source(self) -> str:
        """What pip installs: ``--source``, this checkout, or edgevoice at this version from PyPI."""
        if self.options.source:
            return self.options.source
        tree = source_tree()
        return str(tree) if tree is not None else f"edgevoice=={__version__}"

    def _package_step(self) -> Step:
        venv = self.options.venv
        source = self.pip_source()

        def installed() -> tuple[str, Path] | None:
            python = venv / "bin" / "python"
            if not python.exists():
                return None
            found = _output([str(python), "-I", "-c", _INSTALLED_QUERY])  # -I: not the checkout in the cwd
            if not found or "\n" not in found:
                return None
            version, location = found.split("\n", 1)
            return version, Path(location)

        def check() -> StepState:
            found = installed()
            if found is None:
                return StepState(False, f"edgevoice is not installed in {venv}")
            version, location = found
            if not location.resolve().is_relative_to(venv.resolve()):
                return StepState(False, f"{venv} has an editable install of {location}; the service needs a real one")
            if version != __version__:
                return StepState(False, f"{venv} has edgevoice {version}, this is {__version__}")
            tree = Path(source) if Path(source).is_dir() else None
            if tree is not None:
                stale = _differing_files(tree / "edgevoice", location)
                if stale:
                    return StepState(False, f"{len(stale)} files differ from {tree}, e.g. {stale[0]}")
            return StepState(True, f"edgevoice {version} is installed in {venv}")

        def apply() -> None:
            pip = [str(venv / "bin" / "python"), "-m", "pip"]
            # A real (not editable) install: the service cannot see a checkout under /home.
            _run([*pip, "install", "--quiet", "--upgrade", source])

        return Step(
            "edgevoice package",
            f"{venv}/bin/python -m pip install --upgrade {shlex.quote(source)}",
            check,
            apply,
            needs_root=not _writable(venv),
        )

    # -- config
    def _config_dir_step(self) -> Step:
        directory = self.options.config_dir

        def check() -> StepState:
            if directory.is_dir():
                return StepState(True, f"{directory} exists")
            return StepState(False, f"{directory} does not exist")

        def apply() -> None:
            directory.mkdir(mode=0o755, parents=True, exist_ok=True)

        return Step("config directory", f"mkdir -m 0755 {directory}", check, apply, needs_root=not _writable(directory))

    def _config_step(self) -> Step:
        target = self.options.config_file
        source = self.options.example_config or example_config()

        def check() -> StepState:
            if target.exists():
                return StepState(True, f"{target} exists (never overwritten)")
            if source is None or not source.is_file():
                return StepState(
                    False, "", problem=f"no example config to copy to {target}: pass --example-config FILE"
                )
            return StepState(False, f"{target} does not exist")

        def apply() -> None:
            if target.exists():
                return
            if source is None or not source.is_file():
                raise InstallError(f"no example config to copy to {target}: pass --example-config FILE")
            atomic_write(target, source.read_bytes(), 0o644, make_parents=True)

        return Step(
            "config file",
            f"copy {source or '(example config)'} to {target} if it does not exist",
            check,
            apply,
            needs_root=not _writable(target),
        )

    # -- the API key
    def _new_key(self) -> str | None:
        """The key given on this run (--api-key-file or $AZURE_VOICELIVE_API_KEY), if any."""
        if self.options.api_key_file is not None:
            try:
                key = self.options.api_key_file.read_text("utf-8").strip()
            except OSError as exc:
                raise InstallError(f"cannot read the API key file {self.options.api_key_file}: {exc.strerror}") from None
            if not key:
                raise InstallError(f"the API key file {self.options.api_key_file} is empty")
            return key
        key = os.environ.get("AZURE_VOICELIVE_API_KEY", "").strip()
        return key or None

    def _credential_step(self) -> Step:
        target = self.options.credential_file

        def current() -> str | None:
            try:
                return target.read_text("utf-8").strip() or None
            except OSError:
                return None

        def check() -> StepState:
            try:
                new = self._new_key()
            except InstallError as exc:
                return StepState(False, "", problem=str(exc))
            have = current()
            if have is None:
                if new is None and not self.options.interactive:
                    return StepState(
                        False, "", problem=f"{target} is missing: pass --api-key-file FILE or run interactively"
                    )
                how = "the key given will be written" if new is not None else "you will be asked for the key"
                return StepState(False, f"{target} is missing; {how}")
            if new is not None and new != have:
                return StepState(False, f"{target} holds a different key; will replace it")
            mode = target.stat().st_mode & 0o777
            if mode != 0o600:
                return StepState(False, f"{target} has mode {mode:04o}; will set 0600")
            return StepState(True, f"{target} exists with mode 0600")

        def apply() -> None:
            new = self._new_key()
            have = current()
            if have is not None and (new is None or new == have):
                os.chmod(target, 0o600)
                return
            if new is None:
                if not self.options.interactive or not sys.stdin.isatty():
                    raise InstallError(f"{target} is missing: pass --api-key-file FILE or run interactively")
                new = getpass.getpass("Azure Voice Live API key (not shown): ").strip()
                if not new:
                    raise InstallError("no API key given")
            atomic_write(target, (new + "\n").encode("utf-8"), 0o600, make_parents=True)

        return Step(
            "API key credential",
            f"write the key to {target} (mode 0600; the unit hands it to the service with LoadCredential=)",
            check,
            apply,
            needs_root=not _writable(target),
        )

    # -- the unit
    def rendered_unit(self) -> str | None:
        template = unit_template()
        if template is None:
            return None
        return render_unit(template.read_text("utf-8"), self.options.prefix, self.options.config_dir)

    def _unit_step(self) -> Step:
        target = self.options.unit_file

        def check() -> StepState:
            wanted = self.rendered_unit()
            if wanted is None:
                return StepState(False, "", problem="the edgevoice.service unit file is not found in this installation")
            try:
                have = target.read_text("utf-8")
            except OSError:
                return StepState(False, f"{target} does not exist")
            if have == wanted:
                return StepState(True, f"{target} is up to date")
            return StepState(False, f"{target} differs; will replace it")

        def apply() -> None:
            wanted = self.rendered_unit()
            if wanted is None:
                raise InstallError("the edgevoice.service unit file is not found in this installation")
            atomic_write(target, wanted.encode("utf-8"), 0o644, make_parents=True)

        template = unit_template()
        return Step(
            "systemd unit",
            f"write {target} from {template or UNIT_NAME} (paths: {self.options.prefix}, {self.options.config_dir})",
            check,
            apply,
            needs_root=not _writable(target),
        )

    # -- systemctl
    def _daemon_reload_step(self) -> Step:
        unit_step_name = "systemd unit"

        def check() -> StepState:
            if not systemd_running():
                return StepState(True, "systemd is not running here; nothing to reload")
            if unit_step_name in self.changed:
                return StepState(False, "the unit file changed")
            if not self._unit.check().done:
                return StepState(False, "the unit file will change")
            state = _output(["systemctl", "show", UNIT_NAME, "--property=LoadState,NeedDaemonReload"]) or ""
            if "LoadState=loaded" in state and "NeedDaemonReload=no" in state:
                return StepState(True, "systemd has loaded the current unit")
            return StepState(False, "systemd has not loaded the current unit")

        def apply() -> None:
            if systemd_running():
                _run(["systemctl", "daemon-reload"])

        return Step("systemd reload", "systemctl daemon-reload", check, apply)

    def _enable_step(self) -> Step:
        start = self.options.start

        def check() -> StepState:
            enabled = _output(["systemctl", "is-enabled", UNIT_NAME]) == "enabled"
            if not start:
                return StepState(enabled, "enabled" if enabled else "not enabled")
            if not systemd_running():
                return StepState(enabled, ("enabled" if enabled else "not enabled") + "; systemd is not running, so not started")
            active = _output(["systemctl", "is-active", UNIT_NAME]) == "active"
            if enabled and active and not self._restart_needed():
                return StepState(True, "enabled and running")
            return StepState(False, f"{'enabled' if enabled else 'not enabled'}, {'running' if active else 'not running'}")

        def apply() -> None:
            if not start or not systemd_running():
                _run(["systemctl", "enable", UNIT_NAME])
            elif "config file" in self.changed:
                _run(["systemctl", "enable", UNIT_NAME])
                self.notes.append(
                    f"{self.options.config_file} is the example config: set voicelive.endpoint, check it with "
                    f"`{self.options.venv}/bin/edgevoice check --config {self.options.config_file}`, "
                    f"then `systemctl start {UNIT_NAME}`"
                )
            elif self._restart_needed():
                _run(["systemctl", "enable", UNIT_NAME])
                _run(["systemctl", "restart", UNIT_NAME])
                self.started = True
            else:
                _run(["systemctl", "enable", "--now", UNIT_NAME])
                self.started = True

        if not start:
            action = f"systemctl enable {UNIT_NAME}"
        elif not systemd_running():
            action = f"systemctl enable {UNIT_NAME} (systemd is not running here, so it is not started)"
        else:
            action = (
                f"systemctl enable --now {UNIT_NAME} (restart if anything above changed; "
                "only enable if the config file is new, so that you can edit it first)"
            )
        return Step("enable service", action, check, apply)

    def _restart_needed(self) -> bool:
        return any(name in self.changed for name in ("edgevoice package", "config file", "API key credential", "systemd unit"))

    # -- running the plan
    def report(self, out: Callable[[str], None] = print) -> bool:
        """Print every step with its state and action (the dry run); True if nothing blocks the install."""
        ok = True
        total = len(self.steps)
        for number, step in enumerate(self.steps, 1):
            state = step.check()
            if state.problem:
                ok = False
                out(f"[{number}/{total}] {step.name}: PROBLEM: {state.problem}")
            elif state.done:
                out(f"[{number}/{total}] {step.name}: done ({state.detail})")
            else:
                out(f"[{number}/{total}] {step.name}: to do ({state.detail})")
                out(f"{'':{len(str(total)) * 2 + 3}}would: {step.action}")
        return ok

    def run(self, out: Callable[[str], None] = print) -> None:
        """Do every step that is not done yet, in order; raises InstallError at the first that fails."""
        self.changed, self.notes, self.started = [], [], False
        states = [(step, step.check()) for step in self.steps]
        problems = [f"{step.name}: {state.problem}" for step, state in states if state.problem]
        if problems:  # refuse before changing anything
            raise InstallError("; ".join(problems))
        pending = [step for step, state in states if not state.done]
        if os.geteuid() != 0:
            root_only = [step.name for step in pending if step.needs_root]
            if root_only:
                raise InstallError("these steps need root: " + ", ".join(root_only) + " (run with sudo)")
        total = len(self.steps)
        for number, step in enumerate(self.steps, 1):
            state = step.check()
            if state.done:
                out(f"[{number}/{total}] {step.name}: already done ({state.detail})")
                continue
            if state.problem:
                raise InstallError(f"{step.name}: {state.problem}")
            out(f"[{number}/{total}] {step.name}: {step.action}")
            try:
                step.apply()
            except subprocess.CalledProcessError as exc:
                raise InstallError(f"{step.name}: {shlex.join(exc.cmd)} failed with status {exc.returncode}") from None
            except PermissionError as exc:
                raise InstallError(f"{step.name}: permission denied on {exc.filename} (run with sudo)") from None
            except OSError as exc:
                raise InstallError(f"{step.name}: {exc}") from None
            self.changed.append(step.name)

