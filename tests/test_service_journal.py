"""Journal logging: handler selection, structured turn fields, and the stderr fallback."""

from __future__ import annotations

import io
import logging
import os
import sys

import pytest

from edgevoice.service.journal import (
    StderrFormatter,
    field_name,
    is_journal_field_name,
    journal_fields,
    setup_logging,
    state_fields,
    stderr_is_journal,
    turn_fields,
    under_journal,
)

from service_helpers import restore_root_logger  # noqa: F401 - a fixture

log = logging.getLogger("edgevoice.test.journal")


pytestmark = pytest.mark.usefixtures("restore_root_logger")


def _stream_of(fd: int) -> str:
    st = os.fstat(fd)
    return f"{st.st_dev}:{st.st_ino}"


def _capture_journal(handler: logging.Handler) -> list[dict[str, object]]:
    """Swap the handler's sender for a recorder: the fields exactly as systemd-python would send them."""
    sent: list[dict[str, object]] = []

    def record(MESSAGE: str, **fields: object) -> None:  # noqa: N803 - systemd-python's signature
        sent.append({"MESSAGE": MESSAGE, **fields})

    handler.send = record  # type: ignore[attr-defined]
    return sent


def test_turn_fields_carry_the_latency_breakdown():
    extra = turn_fields(
        3,
        state="speaking",
        latency_ms={"wake_to_audio": 812.4, "speech end to reply": 640.5, "first_audio_ms": 90, "barge_in": None},
        model="gpt-realtime",
    )
    assert extra == {
        "EDGEVOICE_TURN": "3",
        "EDGEVOICE_STATE": "speaking",
        "EDGEVOICE_WAKE_TO_AUDIO_MS": "812",
        "EDGEVOICE_SPEECH_END_TO_REPLY_MS": "640",
        "EDGEVOICE_FIRST_AUDIO_MS": "90",
        "EDGEVOICE_MODEL": "gpt-realtime",
    }
    assert all(is_journal_field_name(name) for name in extra)
    assert state_fields("muted") == {"EDGEVOICE_STATE": "muted"}


def test_field_names_are_made_valid():
    assert field_name("wake-to-audio") == "WAKE_TO_AUDIO"
    assert field_name("2nd try") == "X_2ND_TRY"
    assert is_journal_field_name("EDGEVOICE_TURN")
    assert not is_journal_field_name("_PID") and not is_journal_field_name("turn") and not is_journal_field_name("1X")


def test_journal_fields_keep_only_upper_case_extras():
    record = log.makeRecord(
        log.name, logging.INFO, __file__, 1, "turn %d", (3,), None,
        extra={**turn_fields(3, state="listening"), "lowercase": "x", "_TRUSTED": "y", "MESSAGE": "spoof"},
    )
    assert journal_fields(record) == {"EDGEVOICE_TURN": "3", "EDGEVOICE_STATE": "listening"}


def test_stderr_is_journal_when_journal_stream_names_it(tmp_path):
    with open(tmp_path / "stderr", "w") as out, open(tmp_path / "other", "w") as other:
        assert stderr_is_journal({"JOURNAL_STREAM": _stream_of(out.fileno())}, out.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": _stream_of(other.fileno())}, out.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, out.fileno())
        assert not stderr_is_journal({}, out.fileno())


def test_invocation_id_means_journal_only_when_journald_listens(tmp_path):
    socket_path = tmp_path / "journal-socket"
    env = {"INVOCATION_ID": "0123456789abcdef0123456789abcdef"}
    assert not under_journal(env, journal_socket=str(socket_path))
    socket_path.touch()
    assert under_journal(env, journal_socket=str(socket_path))
    assert not under_journal({}, journal_socket=str(socket_path))


def test_under_systemd_the_journal_handler_sends_structured_fields():
    from systemd.journal import JournalHandler

    setup_logging(logging.INFO, environ={"JOURNAL_STREAM": _stream_of(2)})
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, JournalHandler)
    sent = _capture_journal(handler)

    log.info("turn %d done in %s ms", 7, 812, extra=turn_fields(7, state="listening", latency_ms={"wake_to_audio": 812}))
    log.debug("not at INFO")

    (entry,) = sent
    assert entry["MESSAGE"] == "turn 7 done in 812 ms"
    assert entry["SYSLOG_IDENTIFIER"] == "edgevoice"
    assert entry["PRIORITY"] == "6"
    assert entry["LOGGER"] == "edgevoice.test.journal"
    assert entry["EDGEVOICE_TURN"] == "7"
    assert entry["EDGEVOICE_STATE"] == "listening"
    assert entry["EDGEVOICE_WAKE_TO_AUDIO_MS"] == "812"
    assert "CODE_ARGS" not in entry  # raw arguments never travel separately
    assert all(is_journal_field_name(name) for name in entry)


def test_an_exception_travels_as_text_in_the_message():
    setup_logging(target="journal", environ={})
    sent = _capture_journal(logging.getLogger().handlers[0])
    try:
        raise ValueError("bad frame")
    except ValueError:
        log.exception("capture failed")
    assert sent[0]["PRIORITY"] == "3"
    assert "ValueError: bad frame" in str(sent[0]["MESSAGE"])


def test_outside_systemd_logs_are_plain_stderr_lines_with_the_figures():
    out = io.StringIO()
    setup_logging(logging.INFO, environ={}, stream=out)
    (handler,) = logging.getLogger().handlers
    assert type(handler) is logging.StreamHandler
    log.info("turn done", extra=turn_fields(2, latency_ms={"wake_to_audio": 700}))
    line = out.getvalue().strip()
    assert line.endswith("INFO edgevoice.test.journal: turn done [turn=2 wake_to_audio_ms=700]")


def test_without_systemd_python_the_journal_gets_prefixed_stderr_lines(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "systemd.journal", None)
    with open(tmp_path / "stderr", "w+") as out:
        setup_logging(logging.INFO, target="journal", environ={"JOURNAL_STREAM": _stream_of(out.fileno())}, stream=out)
        log.warning("speaker missing")
        out.seek(0)
        lines = out.read().splitlines()
    assert "systemd-python is not installed" in lines[0] and lines[0].startswith("<4>")
    assert lines[1] == "<4>edgevoice.test.journal: speaker missing"


def test_setup_replaces_earlier_handlers():
    logging.basicConfig(stream=io.StringIO(), force=True)
    setup_logging(environ={}, stream=io.StringIO())
    assert len(logging.getLogger().handlers) == 1


def test_stderr_formatter_prefixes_every_line_of_a_traceback():
    formatter = StderrFormatter(syslog_prefix=True)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 1, "one\ntwo", None, None)
    assert formatter.format(record) == "<3>edgevoice.test.journal: one\n<3>two"
