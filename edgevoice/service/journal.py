"""Logging setup: structured journald entries under systemd, plain stderr lines elsewhere.

Under systemd every record goes to journald through systemd-python with
``SYSLOG_IDENTIFIER=edgevoice``, and ``extra=`` fields in upper case become journal fields::

    logger.info("turn %d done", 3, extra=turn_fields(3, state="listening",
                latency_ms={"wake_to_audio": 812.0, "speech_end_to_reply": 640.5}))

    journalctl -u edgevoice -o json     # ... "EDGEVOICE_TURN": "3", "EDGEVOICE_WAKE_TO_AUDIO_MS": "812" ...

Every handler carries a :class:`~edgevoice.service.redact.Redactor`, so a registered secret never
reaches a message, a traceback or a field.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from typing import IO, Any, Literal

from edgevoice.service.redact import Redactor, is_extra_attribute, secrets_from_environment

logger = logging.getLogger(__name__)

SYSLOG_IDENTIFIER = "edgevoice"
JOURNAL_SOCKET = "/run/systemd/journal/socket"

Target = Literal["auto", "journal", "stderr"]

# journald accepts field names of upper-case letters, digits and underscores, not starting
# with an underscore or a digit (those are trusted fields set by journald itself).
_FIELD_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Fields the handler sets itself; an ``extra`` with one of these names must not override them.
_HANDLER_FIELDS = frozenset(
    {"MESSAGE", "PRIORITY", "LOGGER", "THREAD_NAME", "PROCESS_NAME", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "SYSLOG_IDENTIFIER"}
)


def is_journal_field_name(name: str) -> bool:
    """True if journald accepts ``name`` as a field name sent by a client."""
    return bool(_FIELD_NAME.match(name))


def field_name(name: str) -> str:
    """``"wake to audio"`` -> ``"WAKE_TO_AUDIO"``: a name made valid for the journal."""
    cleaned = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
    if not cleaned or cleaned[0].isdigit():
        cleaned = "X_" + cleaned
    return cleaned[:64]


def state_fields(state: str) -> dict[str, str]:
    """``extra=`` for a state change: ``{"EDGEVOICE_STATE": state}``."""
    return {"EDGEVOICE_STATE": str(state)}


def turn_fields(
    turn: int,
    *,
    state: str | None = None,
    latency_ms: Mapping[str, float | None] | None = None,
    **more: object,
) -> dict[str, str]:
    """``extra=`` for one conversation turn: its number, state and latency breakdown.

    ``latency_ms={"wake_to_audio": 812.4}`` becomes ``EDGEVOICE_WAKE_TO_AUDIO_MS="812"``
    (whole milliseconds; figures that are None, e.g. not measured this turn, are left out).
    Other keyword arguments become ``EDGEVOICE_<NAME>`` fields.
    """
    fields = {"EDGEVOICE_TURN": str(int(turn))}
    if state is not None:
        fields["EDGEVOICE_STATE"] = str(state)
    for name, value in (latency_ms or {}).items():
        if value is not None:
            key = field_name(name)
            key = key if key.endswith("_MS") else key + "_MS"
            fields[f"EDGEVOICE_{key}"] = str(round(float(value)))
    for name, value in more.items():
        if value is not None:
            fields[f"EDGEVOICE_{field_name(name)}"] = str(value)
    return fields


def journal_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The extra journal fields for ``record``: its upper-case ``extra=`` attributes.

    Lower-case or reserved names are left out, and so are the raw format arguments (the message
    is sent already formatted), so nothing reaches the journal that the redactor has not seen.
    """
    fields: dict[str, Any] = {}
    for name, value in vars(record).items():
        if not is_extra_attribute(name) or not is_journal_field_name(name) or name in _HANDLER_FIELDS:
            continue
        if value is None:
            continue
        if name == "MESSAGE_ID":
            fields[name] = value.hex if isinstance(value, uuid.UUID) else str(value)
        else:
            fields[name] = value if isinstance(value, bytes) else str(value)
    return fields


def _journal_handler_class() -> type[logging.Handler] | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None

    class EdgevoiceJournalHandler(JournalHandler):  # type: ignore[misc, valid-type]
        """systemd-python's JournalHandler, sending only the formatted message and clean fields."""

        def emit(self, record: logging.LogRecord) -> None:
            try:
                message = self.format(record)
                fields = dict(self._extra)
                fields.update(journal_fields(record))
                self.send(
                    message,
                    PRIORITY=format(self.map_priority(record.levelno)),
                    LOGGER=record.name,
                    THREAD_NAME=record.threadName,
                    PROCESS_NAME=record.processName,
                    CODE_FILE=record.pathname,
                    CODE_LINE=record.lineno,
                    CODE_FUNC=record.funcName,
                    **fields,
                )
            except Exception:
                self.handleError(record)

    return EdgevoiceJournalHandler


def journal_handler(level: int = logging.NOTSET) -> logging.Handler | None:
    """A handler that writes structured entries to journald, or None without systemd-python."""
    cls = _journal_handler_class()
    if cls is None:
        return None
    return cls(level, SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER)


def stderr_is_journal(environ: Mapping[str, str] | None = None, stderr_fd: int = 2) -> bool:
    """True if systemd connected stderr to the journal (``$JOURNAL_STREAM`` names stderr's dev:inode)."""
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    try:
        st = os.fstat(stderr_fd)
        return (int(device), int(inode)) == (st.st_dev, st.st_ino)
    except (ValueError, OSError):
        return False


def under_journal(
    environ: Mapping[str, str] | None = None, stderr_fd: int = 2, journal_socket: str = JOURNAL_SOCKET
) -> bool:
    """True when logs belong in the journal: stderr is the journal, or systemd started us and journald runs."""
    env = os.environ if environ is None else environ
    if stderr_is_journal(env, stderr_fd):
        return True
    return bool(env.get("INVOCATION_ID")) and os.path.exists(journal_socket)


class StderrFormatter(logging.Formatter):
    """Plain one-line records; ``EDGEVOICE_*`` fields are appended so a turn's figures show too.

    With ``syslog_prefix`` (stderr is the journal but systemd-python is missing) each line starts
    with ``<priority>`` so journald still gets the level, and without a timestamp journald adds.
    """

    _PRIORITY = ((logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3), (logging.CRITICAL, 2))

    def __init__(self, *, syslog_prefix: bool = False) -> None:
        fmt = "%(name)s: %(message)s" if syslog_prefix else "%(asctime)s %(levelname)s %(name)s: %(message)s"
        super().__init__(fmt)
        self.syslog_prefix = syslog_prefix

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = {k: v for k, v in journal_fields(record).items() if k.startswith("EDGEVOICE_")}
        if fields:
            first, newline, rest = text.partition("\n")
            extra = " ".join(f"{k[len('EDGEVOICE_'):].lower()}={v}" for k, v in fields.items())
            text = f"{first} [{extra}]{newline}{rest}"
        if self.syslog_prefix:
            priority = next((p for level, p in self._PRIORITY if record.levelno <= level), 1)
            text = "\n".join(f"<{priority}>{line}" for line in text.split("\n"))
        return text


def setup_logging(
    level: int = logging.INFO,
    *,
    target: Target = "auto",
    secrets: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    stream: IO[str] | None = None,
) -> Redactor:
    """Route the root logger to the journal (under systemd) or to stderr, with redaction.

    Replaces the root logger's handlers (``edgevoice`` sets up a plain stderr handler before the
    subcommand runs). The secrets found in the environment (``$AZURE_VOICELIVE_API_KEY``, systemd
    credentials) and ``secrets`` are redacted from the start; register more with the returned
    redactor's ``add_secret``.
    """
    env = os.environ if environ is None else environ
    redactor = Redactor([*secrets_from_environment(env), *secrets])
    out = sys.stderr if stream is None else stream
    handler: logging.Handler | None = None
    problem = None
    if target == "journal" or (target == "auto" and under_journal(env)):
        handler = journal_handler()
        if handler is None:
            problem = "systemd-python is not installed; logging to stderr instead of the journal"
    if handler is None:
        handler = logging.StreamHandler(out)
        handler.setFormatter(StderrFormatter(syslog_prefix=stderr_is_journal(env, _fileno(out))))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    if problem:
        logger.warning(problem)
    return redactor


def _fileno(stream: IO[str]) -> int:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return -1
