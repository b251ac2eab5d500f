"""Where the Voice Live credential comes from, without ever showing it.

In order: the environment variable ``AZURE_VOICELIVE_API_KEY``; the systemd credential
``voicelive-api-key`` (``LoadCredential=`` puts it under ``$CREDENTIALS_DIRECTORY``); the key file
named by ``voicelive.api_key_file`` (refused when group- or world-readable); an Entra ID bearer
token file named by ``voicelive.token_file`` (re-read whenever it changes, so a sidecar can
refresh it). The secret is never in a repr, a log line or an exception message.

The daemon uses :class:`ConfiguredCredential`, which looks the credential up afresh for every
session: a key file that cannot be used is an error state it recovers from once the file is fixed,
not a reason to stop.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path

from edgevoice.config.errors import ConfigError
from edgevoice.config.voicelive import VoiceLiveConfig

logger = logging.getLogger(__name__)

API_KEY_ENV = "AZURE_VOICELIVE_API_KEY"
CREDENTIAL_NAME = "voicelive-api-key"
REDACTED = "<redacted>"
PROBLEM = "problem: "  # how a ConfiguredCredential's fingerprint says it cannot be used
HOW_TO_SET = (
    f"set ${API_KEY_ENV}, add LoadCredential={CREDENTIAL_NAME}:/path/to/key to the systemd unit, "
    "or name a key file in voicelive.api_key_file (or an Entra ID token file in voicelive.token_file)"
)


class Credential(ABC):
    """A secret that opens a Voice Live session; says where it came from but never what it is."""

    def __init__(self, source: str) -> None:
        self._source = source

    @abstractmethod
    def headers(self) -> dict[str, str]:
        """The HTTP headers that authenticate the WebSocket handshake."""

    def redacted_headers(self) -> dict[str, str]:
        """The same header names with the values hidden: safe to log."""
        return {name: REDACTED for name in self.headers()}

    def describe(self) -> str:
        """Where the secret came from, e.g. "env AZURE_VOICELIVE_API_KEY" or "file /etc/edgevoice/key"."""
        return self._source

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from {self._source!r})"

    __str__ = describe


class ApiKey(Credential):
    """An Azure resource key, sent as the ``api-key`` header."""

    def __init__(self, key: str, source: str = "given explicitly") -> None:
        super().__init__(source)
        self.__key = _clean_secret(key, source)

    def headers(self) -> dict[str, str]:
        return {"api-key": self.__key}


class TokenFile(Credential):
    """An Entra ID bearer token kept in a file by someone else (a sidecar), re-read when it changes."""

    def __init__(self, path: str | Path, *, key: str = "voicelive.token_file") -> None:
        self.path = Path(path)
        self._key = key
        super().__init__(f"token file {self.path}")
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self.__token = ""
        self._refresh()  # a missing or unreadable file is reported now, not at the first connect

    def headers(self) -> dict[str, str]:
        with self._lock:
            self._refresh()
            return {"Authorization": f"Bearer {self.__token}"}

    def _refresh(self) -> None:
        try:
            info = self.path.stat()
        except OSError as exc:
            raise _file_error(self._key, self.path, exc) from None
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        if stamp == self._stamp:
            return
        text = read_secret_file(self.path, self._key)
        if text.lower().startswith("bearer "):
            text = text[7:].strip()
        self.__token = _clean_secret(text, f"{self._key} {self.path}")
        if self._stamp is not None:
            logger.info("re-read the bearer token from %s", self.path)
        self._stamp = stamp


def read_secret_file(path: Path, key: str) -> str:
    """The stripped contents of a secret file; refuses group- or world-readable files."""
    try:
        info = path.stat()
    except OSError as exc:
        raise _file_error(key, path, exc) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(key, f"{str(path)!r} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o044:
        who = " and ".join(w for w, bit in (("group", 0o040), ("others", 0o004)) if mode & bit)
        raise ConfigError(
            key, f"{str(path)!r} is readable by {who} (mode {mode:04o}); run: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _file_error(key, path, exc) from None
    except UnicodeDecodeError:
        raise ConfigError(key, f"{str(path)!r} is not UTF-8 text") from None
    if not text:
        raise ConfigError(key, f"{str(path)!r} is empty")
    return text


def find_credential(cfg: VoiceLiveConfig, *, environ: Mapping[str, str] = os.environ) -> Credential | None:
    """The first credential available, in the documented order; None when there is none at all.

    A configured key or token file that exists but cannot be used is a ConfigError, so a broken
    file is reported rather than silently skipped.
    """
    key = environ.get(API_KEY_ENV, "").strip()
    if key:
        return ApiKey(key, f"env {API_KEY_ENV}")
    directory = environ.get("CREDENTIALS_DIRECTORY", "")
    if directory:
        path = Path(directory) / CREDENTIAL_NAME
        if path.exists():
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise _file_error("", path, exc, what=f"systemd credential {CREDENTIAL_NAME}") from None
            except UnicodeDecodeError:
                raise ConfigError("", f"systemd credential {CREDENTIAL_NAME} ({path}) is not UTF-8 text") from None
            if not text:
                raise ConfigError("", f"systemd credential {CREDENTIAL_NAME} ({path}) is empty")
            return ApiKey(text, f"credential {CREDENTIAL_NAME}")
    if cfg.api_key_file is not None:
        return ApiKey(read_secret_file(cfg.api_key_file, "voicelive.api_key_file"), f"file {cfg.api_key_file}")
    if cfg.token_file is not None:
        return TokenFile(cfg.token_file)
    return None


class ConfiguredCredential(Credential):
    """The credential the config names, looked up afresh for every session: what a running kiosk uses.

    A key file that cannot be used (unreadable, readable by others, empty) does not stop the
    daemon: each session, and :meth:`problem`, looks again, so fixing the file heals a running
    assistant without a restart (and a rotated key is picked up at the next connect). Only having
    no credential configured at all is a ConfigError here. ``on_secret`` learns every secret value
    read (the log redactor), before it can reach a session.
    """

    def __init__(
        self,
        cfg: VoiceLiveConfig,
        *,
        environ: Mapping[str, str] = os.environ,
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        self._cfg = cfg
        self._environ = environ
        self._on_secret = on_secret
        try:
            found = find_credential(cfg, environ=environ)
        except ConfigError:
            found = None  # configured but not usable now: problem() says why
        else:
            if found is None:
                raise ConfigError("", f"no Voice Live credential: {HOW_TO_SET}")
        super().__init__(found.describe() if found is not None else _configured_source(cfg))

    def resolve(self) -> Credential:
        """The credential as it is now (raises ConfigError naming the file and the problem)."""
        found = require_credential(self._cfg, environ=self._environ)
        self._source = found.describe()
        return found

    def headers(self) -> dict[str, str]:
        headers = self.resolve().headers()
        if self._on_secret is not None:
            for value in headers.values():
                self._on_secret(value.removeprefix("Bearer "))
        return headers

    def problem(self) -> str | None:
        """Why the credential cannot be used right now (one line naming the file), or None when it can.

        Reads the file again; no network.
        """
        try:
            self.headers()
        except ConfigError as exc:
            return str(exc)
        return None

    def fingerprint(self) -> str:
        """What the credential is now, without the secret: a hash of it, or its problem. Two calls that
        differ mean the credential changed (a file fixed, a key rotated, a token refreshed)."""
        try:
            headers = self.headers()
        except ConfigError as exc:
            return f"{PROBLEM}{exc}"
        blob = "\n".join(f"{name}: {value}" for name, value in sorted(headers.items()))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _configured_source(cfg: VoiceLiveConfig) -> str:
    if cfg.api_key_file is not None:
        return f"file {cfg.api_key_file}"
    if cfg.token_file is not None:
        return f"token file {cfg.token_file}"
    return f"credential {CREDENTIAL_NAME}"


def require_credential(cfg: VoiceLiveConfig, *, environ: Mapping[str, str] = os.environ) -> Credential:
    """The credential for a session; having none at all is a ConfigError saying how to provide one."""
    credential = find_credential(cfg, environ=environ)
    if credential is None:
        raise ConfigError("", f"no Voice Live credential: {HOW_TO_SET}")
    return credential


def _clean_secret(value: str, source: str) -> str:
    value = value.strip()
    if not value:
        raise ConfigError("", f"the credential from {source} is empty")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
        raise ConfigError("", f"the credential from {source} contains spaces or characters an HTTP header cannot carry")
    return value


# A bare word this long and without a path separator is the secret itself pasted where a file name goes.
_LOOKS_LIKE_A_SECRET = re.compile(r"^(?:[Bb]earer\s+)?[A-Za-z0-9._~+=-]{20,}$")


def _file_error(key: str, path: Path, exc: OSError, *, what: str = "") -> ConfigError:
    """The error for a secret file that cannot be read: names the file and why, never its contents."""
    if isinstance(exc, FileNotFoundError) and _LOOKS_LIKE_A_SECRET.match(str(path)) and not path.suffix:
        return ConfigError(
            key, "names no file: its value looks like the secret itself (not shown); "
            "put the secret in a file (mode 0600) and give that file's path here"
        )
    name = f"{what} {str(path)!r}" if what else repr(str(path))
    if isinstance(exc, FileNotFoundError):
        return ConfigError(key, f"{name} does not exist")
    if isinstance(exc, PermissionError):
        return ConfigError(key, f"{name} cannot be read: permission denied (edgevoice runs as uid {os.getuid()})")
    return ConfigError(key, f"{name} cannot be read: {exc.strerror or type(exc).__name__}")
