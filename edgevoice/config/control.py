"""The [control] table: the local socket through which scripts ask the running daemon for its status,
make it say something, mute it or reload it (``edgevoice status``, ``say``, ``mute``, ``reload``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgevoice.config.errors import ConfigError
from edgevoice.config.fields import setting

#: systemd's RuntimeDirectory=edgevoice: /run/edgevoice, announced to the service as $RUNTIME_DIRECTORY.
DEFAULT_RUNTIME_DIR = Path("/run/edgevoice")
SOCKET_NAME = "control.sock"
MAX_SOCKET_PATH = 107  # sockaddr_un.sun_path holds 108 bytes with the terminating NUL
_GROUP_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def default_socket(environ: dict[str, str] | None = None) -> Path:
    """Where the socket is when the config does not say: in $RUNTIME_DIRECTORY, else /run/edgevoice."""
    env = os.environ if environ is None else environ
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    return (Path(runtime) if runtime else DEFAULT_RUNTIME_DIR) / SOCKET_NAME


@dataclass(frozen=True)
class ControlConfig:
    """The control socket: where it is and who may use it."""

    enabled: bool = setting(True, "listen on the control socket")
    socket: Path | None = setting(None, "path of the Unix socket (default: control.sock in the service's "
                                  "runtime directory, /run/edgevoice)")
    group: str = setting("edgevoice", "members of this group (and root) may use the socket (mode 0660); "
                         "\"\" = the daemon's own group")
    recent_turns: int = setting(5, "`edgevoice status` shows the latency breakdown of this many last turns",
                                min=0, max=50)

    def check(self) -> None:
        if self.socket is not None and len(os.fsencode(str(self.socket))) > MAX_SOCKET_PATH:
            raise ConfigError("socket", f"is longer than {MAX_SOCKET_PATH} bytes, the limit of a Unix socket path")
        if self.group and not _GROUP_NAME.fullmatch(self.group):
            raise ConfigError("group", f"{self.group!r} is not a group name (lower case letters, digits, _ and -)")

    def socket_path(self) -> Path:
        return self.socket if self.socket is not None else default_socket()
