"""Redaction: a registered key never reaches a log line, a journal field or a traceback."""

from __future__ import annotations

import io
import logging
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgevoice.service.journal import setup_logging
from edgevoice.service.redact import REDACTED, Redactor, secrets_from_environment

from service_helpers import restore_root_logger  # noqa: F401 - a fixture

KEY = "3f9c2a7b1e8d4c6fa0b5d2e7c9f1a3b8"  # the shape of an Azure key; not a real one
log = logging.getLogger("edgevoice.test.redact")


pytestmark = pytest.mark.usefixtures("restore_root_logger")


def _log_the_key_every_way() -> None:
    log.info("connecting with key %s", KEY)
    log.info("headers %(headers)s", {"headers": {"api-key": KEY}})
    log.info("url %s", f"wss://x/voice-live/realtime?api-key={urllib.parse.quote(KEY)}")
    log.info("raw %r", KEY.encode())
    log.warning("session", extra={"EDGEVOICE_DETAIL": f"key={KEY}", "EDGEVOICE_RAW": KEY.encode()})
    try:
        raise PermissionError(f"401 for key {KEY}")
    except PermissionError:
        log.exception("handshake failed")
    log.info("where", stack_info=True, extra={"EDGEVOICE_STACK_NOTE": KEY})


def test_the_key_never_reaches_stderr():
    out = io.StringIO()
    redactor = setup_logging(logging.DEBUG, environ={}, stream=out)
    redactor.add_secret(KEY)
    _log_the_key_every_way()
    text = out.getvalue()
    assert KEY not in text
    assert text.count(REDACTED) >= 7
    assert "PermissionError: 401 for key [redacted]" in text


def test_the_key_never_reaches_a_journal_field():
    redactor = setup_logging(logging.DEBUG, target="journal", environ={})
    redactor.add_secret(KEY)
    sent: list[dict[str, object]] = []
    logging.getLogger().handlers[0].send = lambda MESSAGE, **f: sent.append({"MESSAGE": MESSAGE, **f})  # type: ignore[attr-defined]
    _log_the_key_every_way()
    assert len(sent) == 7
    for entry in sent:
        for name, value in entry.items():
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            assert KEY not in text, name
    assert sent[4]["EDGEVOICE_DETAIL"] == f"key={REDACTED}"


def test_secrets_in_the_environment_are_redacted_from_the_start(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "voicelive-api-key").write_text(KEY + "\n")
    out = io.StringIO()
    setup_logging(environ={"CREDENTIALS_DIRECTORY": str(credentials), "AZURE_VOICELIVE_API_KEY": "env-key-1234"}, stream=out)
    log.warning("a %s and b %s", KEY, "env-key-1234")
    assert out.getvalue().rstrip().endswith(f"a {REDACTED} and b {REDACTED}")


def test_secrets_from_environment_reads_every_credential(tmp_path):
    (tmp_path / "one").write_text("first-secret")
    (tmp_path / "two").write_text("  \n")
    assert secrets_from_environment({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == ["first-secret"]
    assert secrets_from_environment({"CREDENTIALS_DIRECTORY": str(tmp_path / "missing")}) == []
    assert secrets_from_environment({}) == []


def test_blank_and_unprotectable_values_are_ignored():
    redactor = Redactor()
    redactor.add_secret("")
    redactor.add_secret("   ")
    redactor.add_secret(None)
    redactor.add_secret("act")  # inside "[redacted]" itself: could never be blanked
    assert not redactor.active
    assert redactor.redact("an act") == "an act"


def test_repr_shows_no_secret():
    redactor = Redactor([KEY])
    assert KEY not in repr(redactor) and KEY not in str(redactor)


def test_a_broken_format_string_is_still_logged_and_redacted():
    out = io.StringIO()
    setup_logging(environ={}, stream=out, secrets=[KEY])
    log.warning("needs two %s %s", KEY)
    assert KEY not in out.getvalue() and "needs two" in out.getvalue()


@given(
    secret=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and s.strip() not in REDACTED),
    pieces=st.lists(st.text(max_size=20), max_size=6),
)
def test_no_text_keeps_a_registered_secret(secret, pieces):
    redactor = Redactor([secret])
    text = secret.join(pieces) + secret
    assert secret.strip() not in redactor.redact(text)
