"""Keep secrets out of the logs: a logging filter that blanks every registered secret value.

The daemon registers the API key as soon as it has it (``redactor.add_secret(key)``); the filter,
attached to every handler, rewrites each record before any handler formats or sends it: the
message with its arguments, the traceback text, the stack text and every ``extra`` field.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path

REDACTED = "[redacted]"
REDACTED_MESSAGE = "[redacted: the text kept containing a secret]"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# A credential file bigger than this is not a key; do not read it into memory.
_MAX_SECRET_FILE = 64 * 1024


def is_extra_attribute(name: str) -> bool:
    """True for a record attribute that came from ``extra=`` rather than from logging itself."""
    return name not in _STANDARD_ATTRIBUTES


class Redactor(logging.Filter):
    """A logging filter that replaces every registered secret with ``[redacted]``.

    Add it to each handler (handler filters also see records from child loggers)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add_secret(secret)

    def __repr__(self) -> str:  # never the values themselves
        return f"Redactor({len(self._secrets)} secret values)"

    def add_secret(self, value: str | bytes | None) -> None:
        """Never let ``value`` (nor its URL-quoted form) appear in a log record; blank values are ignored."""
        if value is None:
            return
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        forms = {form for form in (text, text.strip(), urllib.parse.quote(text.strip(), safe="")) if form.strip()}
        # A value inside "[redacted]" would reappear with every replacement; no real key is one.
        forms = {form for form in forms if form not in REDACTED}
        # Longest first, so a secret that contains another is blanked whole.
        self._secrets = tuple(sorted(set(self._secrets) | forms, key=len, reverse=True))

    @property
    def active(self) -> bool:
        """True once at least one secret is registered."""
        return bool(self._secrets)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``[redacted]``."""
        secrets = self._secrets
        for _ in range(4):  # a replacement can join text into a new occurrence; repeat a few times
            found = False
            for secret in secrets:
                if secret in text:
                    text = text.replace(secret, REDACTED)
                    found = True
            if not found:
                return text
        return text if not any(secret in text for secret in secrets) else REDACTED_MESSAGE

    def _redact_value(self, value: object) -> object:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, bytes):
            return self.redact(value.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        text = str(value)
        cleaned = self.redact(text)
        return cleaned if cleaned != text else value

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place so that no secret is left in it; never drops a record."""
        if not self._secrets:
            return True
        # Merge the arguments into the message so that neither the raw arguments nor a handler
        # that sends them separately (systemd's JournalHandler sends CODE_ARGS) can leak.
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep both parts, made safe
            message = f"{record.msg} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            # The exception object itself may carry the secret; the text above replaces it.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if is_extra_attribute(name):
                setattr(record, name, self._redact_value(value))
        return True


def secrets_from_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values this process was given: ``$AZURE_VOICELIVE_API_KEY`` and every systemd credential.

    Everything in ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=``) is a secret by definition.
    """
    env = os.environ if environ is None else environ
    found: list[str] = []
    key = env.get("AZURE_VOICELIVE_API_KEY", "")
    if key.strip():
        found.append(key)
    directory = env.get("CREDENTIALS_DIRECTORY")
    if directory:
        try:
            entries = sorted(Path(directory).iterdir())
        except OSError:
            entries = []
        for path in entries:
            try:
                if path.is_file() and path.stat().st_size <= _MAX_SECRET_FILE:
                    value = path.read_text("utf-8", errors="replace")
                    if value.strip():
                        found.append(value)
            except OSError:
                continue
    return found
