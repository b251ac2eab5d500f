"""Secrets: the planted API key never shows in `edgevoice check`, journal fields, exceptions or reprs.

Every way the session's connect can fail (refused credentials, 429, 5xx, a server that hangs, a
refused port, a name that does not resolve, TLS spoken to a plain server, a 400 that echoes the
request, a redirect, a server that quotes the key back in its error event) is run for real against
servers on 127.0.0.1, with the logs going through the journal handler (its fields captured) and no
secret registered with the redactor, so a leak by the code itself is not hidden. The config and
credential loading errors and `edgevoice check` in all its modes are checked the same way.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgevoice.cli import main as cli_main
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import parse_config
from edgevoice.config.secrets import ApiKey, ConfiguredCredential, TokenFile, find_credential
from edgevoice.daemon.sessions import session_factory
from edgevoice.service.journal import setup_logging
from edgevoice.voicelive.emulator import Emulator, FaultPlan
from edgevoice.voicelive.protocol.session_config import realtime_url
from edgevoice.voicelive.errors import (
    AuthRejected,
    ConnectTimeout,
    NetworkError,
    ProtocolFailure,
    ServiceError,
    SessionError,
    SessionRejected,
    Throttled,
    TlsError,
)
from edgevoice.voicelive.session import VoiceLiveSession
from secret_helpers import PLANTED_KEY, assert_no_leak
from service_helpers import restore_root_logger  # noqa: F401 - a fixture

ENDPOINT = "https://my-resource.services.ai.azure.com"


def config(tmp_path: Path, endpoint: str = ENDPOINT, **voicelive: Any) -> Path:
    lines = ["[voicelive]", f"endpoint = {json.dumps(endpoint)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in voicelive.items()]
    path = tmp_path / "edgevoice.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def secret_file(path: Path, text: str = PLANTED_KEY + "\n", mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def everything_about(exc: BaseException) -> list[Any]:
    """What an exception can show: its message, repr, args, attributes, traceback and the causes a traceback shows."""
    shown: list[Any] = []
    seen = 0
    while exc is not None and seen < 5:
        shown += [str(exc), repr(exc), exc.args, {k: repr(v) for k, v in vars(exc).items()},
                  "".join(traceback.format_exception(exc))]
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)  # type: ignore[assignment]
        seen += 1
    return shown


# --- `edgevoice check`, every mode ---------------------------------------------------------------------------


def check(argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    for name in ("AZURE_VOICELIVE_API_KEY", "CREDENTIALS_DIRECTORY", "EDGEVOICE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = cli_main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.usefixtures("restore_root_logger")
@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]], ids=["quiet", "v", "vv"])
@pytest.mark.parametrize("mode", ["env", "systemd", "key_file", "token_file", "world_readable", "bad_characters",
                                  "pasted_in_key_file", "pasted_in_token_file", "in_the_config", "key_file_unused"])
def test_check_never_shows_the_key(tmp_path: Path, capsys, monkeypatch, caplog, mode: str, verbosity: list[str]) -> None:
    env: dict[str, str] = {}
    settings: dict[str, Any] = {}
    expect = 0
    if mode == "env":
        env["AZURE_VOICELIVE_API_KEY"] = PLANTED_KEY
    elif mode == "systemd":
        (tmp_path / "creds").mkdir()
        secret_file(tmp_path / "creds" / "voicelive-api-key")
        env["CREDENTIALS_DIRECTORY"] = str(tmp_path / "creds")
    elif mode == "key_file":
        settings["api_key_file"] = str(secret_file(tmp_path / "key"))
    elif mode == "token_file":
        settings["token_file"] = str(secret_file(tmp_path / "token", f"Bearer {PLANTED_KEY}\n"))
    elif mode == "world_readable":
        settings["api_key_file"] = str(secret_file(tmp_path / "key", mode=0o644))
        expect = 78
    elif mode == "bad_characters":
        settings["api_key_file"] = str(secret_file(tmp_path / "key", f"{PLANTED_KEY} \x01{PLANTED_KEY}"))
        expect = 78
    elif mode == "pasted_in_key_file":
        settings["api_key_file"] = PLANTED_KEY
        expect = 78
    elif mode == "pasted_in_token_file":
        settings["token_file"] = f"Bearer {PLANTED_KEY}"
        expect = 78
    elif mode == "in_the_config":
        settings["api_key"] = PLANTED_KEY
        expect = 78
    elif mode == "key_file_unused":
        env["AZURE_VOICELIVE_API_KEY"] = PLANTED_KEY
        settings["api_key_file"] = str(secret_file(tmp_path / "key"))
    path = config(tmp_path, **settings)
    code, text = check([*verbosity, "check", "--config", str(path)], env, capsys, monkeypatch)
    assert code == expect, text
    assert_no_leak(f"edgevoice check ({mode})", text, caplog.text)
    if expect == 78:
        (line,) = [line for line in text.splitlines() if line.strip()]
        assert line.startswith("edgevoice: config error:"), text
    else:
        assert "<redacted>" in text


def test_check_as_a_process_never_shows_the_key(tmp_path: Path) -> None:
    path = config(tmp_path, api_key_file=str(secret_file(tmp_path / "key")))
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEVOICE_CONFIG", "CREDENTIALS_DIRECTORY")}
    env["AZURE_VOICELIVE_API_KEY"] = PLANTED_KEY
    result = subprocess.run([sys.executable, "-m", "edgevoice", "-vv", "check", "--config", str(path)],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "file " + str(tmp_path / "key") not in result.stdout  # the environment wins ...
    assert "voicelive.api_key_file not used" in result.stdout  # ... and check says so
    assert_no_leak("edgevoice check", result.stdout, result.stderr)


# --- config and credential loading ---------------------------------------------------------------------------


def _loading_failures(tmp_path: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    def cfg(**voicelive: Any):
        return parse_config(config(tmp_path, **voicelive).read_text(), "edgevoice.toml").voicelive

    yield "world-readable key file", lambda: find_credential(
        cfg(api_key_file=str(secret_file(tmp_path / "a", mode=0o644))), environ={})
    yield "a key with a space", lambda: find_credential(
        cfg(api_key_file=str(secret_file(tmp_path / "b", f"{PLANTED_KEY} {PLANTED_KEY}"))), environ={})
    yield "a key with a control character", lambda: ApiKey(PLANTED_KEY + "\x00" + PLANTED_KEY)
    yield "a key in the environment with a newline", lambda: find_credential(
        cfg(), environ={"AZURE_VOICELIVE_API_KEY": f"{PLANTED_KEY}\n{PLANTED_KEY}"})
    yield "the key pasted as the key file", lambda: find_credential(cfg(api_key_file=PLANTED_KEY), environ={})
    yield "the key pasted as the token file", lambda: TokenFile(PLANTED_KEY)
    yield "the key in the config", lambda: cfg(api_key=PLANTED_KEY)
    yield "the key as a config table", lambda: parse_config(f'[voicelive]\napi_key = {{ value = "{PLANTED_KEY}" }}\n', "x")
    creds = tmp_path / "creds"
    creds.mkdir()
    secret_file(creds / "voicelive-api-key", f"{PLANTED_KEY}\t{PLANTED_KEY}")
    yield "a systemd credential with a tab", lambda: find_credential(cfg(), environ={"CREDENTIALS_DIRECTORY": str(creds)})
    yield "a token with a space", lambda: TokenFile(secret_file(tmp_path / "t", f"Bearer {PLANTED_KEY} {PLANTED_KEY}"))


def test_config_and_credential_errors_never_show_the_key(tmp_path: Path) -> None:
    for what, load in _loading_failures(tmp_path):
        with pytest.raises(ConfigError) as info:
            load()
        assert_no_leak(f"the error for {what}", *everything_about(info.value))


def test_credentials_and_session_factories_never_show_the_key(tmp_path: Path) -> None:
    cfg = parse_config(config(tmp_path, api_key_file=str(secret_file(tmp_path / "key"))).read_text(), "x").voicelive
    credential = ConfiguredCredential(cfg, environ={})
    assert credential.headers() == {"api-key": PLANTED_KEY}  # it is the key ...
    sessions = session_factory(cfg, credential)
    session = sessions(on_event=lambda event: None)
    shown = [repr(credential), str(credential), credential.describe(), credential.redacted_headers(),
             credential.fingerprint(), repr(sessions), repr(session), vars(credential)]
    assert_no_leak("credential and session reprs", *shown)  # ... and nothing shows it


# --- every way a connect can fail --------------------------------------------------------------------------------


class RawServer:
    """A TCP server on 127.0.0.1 answering each connection with ``answer(request bytes) -> response bytes``."""

    def __init__(self, answer: Callable[[bytes], bytes]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._answer = answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                request = b""
                try:
                    while b"\r\n\r\n" not in request:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    conn.sendall(self._answer(request))
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def _echo_400(request: bytes) -> bytes:
    body = b"bad request: " + request.replace(b"\r\n", b" | ")
    return b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _redirect(request: bytes) -> bytes:
    key = [line.split(b":", 1)[1].strip() for line in request.split(b"\r\n") if line.lower().startswith(b"api-key:")]
    location = b"wss://elsewhere.example/realtime?api-key=" + (key[0] if key else b"")
    return b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"


def _garbage(request: bytes) -> bytes:
    return b"SSH-2.0-OpenSSH_9.2 " + request[:200]


class QuotingServer:
    """A WebSocket server that quotes the api-key header back in an error event: during session setup,
    or (``later``) once the session is set up."""

    def __init__(self, *, later: bool = False) -> None:
        from websockets.sync.server import serve

        def handler(ws) -> None:
            key = ws.request.headers.get("api-key", "")
            ws.send(json.dumps({"type": "session.created", "event_id": "e1", "session": {"id": "s1"}}))
            ws.recv()
            if later:
                ws.send(json.dumps({"type": "session.updated", "event_id": "e2", "session": {"id": "s1"}}))
            ws.send(json.dumps({"type": "error", "event_id": "e3", "error": {
                "type": "invalid_request_error", "code": "invalid_api_key", "message": f"the key {key} is not valid here"}}))
            try:
                ws.recv(timeout=2)
            except Exception:
                pass

        self.server = serve(handler, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def connect_failures() -> Iterator[tuple[str, str, type[SessionError], Callable[[], None]]]:
    """(name, ws url, expected error, cleanup) for every way a connect can fail, each server started."""
    emulators = {
        "401": (Emulator(api_key="another-key-entirely"), AuthRejected),
        "429": (Emulator(api_key=PLANTED_KEY, faults=FaultPlan(reject_status=429, retry_after_s=7)), Throttled),
        "500": (Emulator(api_key=PLANTED_KEY, faults=FaultPlan(reject_status=500)), ServiceError),
        "503": (Emulator(api_key=PLANTED_KEY, faults=FaultPlan(reject_status=503)), ServiceError),
        "hang": (Emulator(api_key=PLANTED_KEY, faults=FaultPlan(hang_on_connect=True)), ConnectTimeout),
    }
    for name, (emu, error) in emulators.items():
        emu.start()
        yield name, realtime_url(parse_config(f'[voicelive]\nendpoint = "{emu.url}"\n', "x").voicelive), error, emu.stop
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    yield "refused", f"ws://127.0.0.1:{closed}/voice-live/realtime", NetworkError, lambda: None
    yield "dns", "wss://edgevoice-secrets-test.invalid/voice-live/realtime", SessionError, lambda: None
    plain = Emulator(api_key=PLANTED_KEY).start()
    yield "tls to a plain server", f"wss://127.0.0.1:{plain.port}/voice-live/realtime", TlsError, plain.stop
    for name, answer in (("400 echoing the request", _echo_400), ("redirect", _redirect), ("garbage", _garbage)):
        raw = RawServer(answer)
        yield name, f"ws://127.0.0.1:{raw.port}/voice-live/realtime", ProtocolFailure, raw.close
    quoting = QuotingServer()
    yield "error event quoting the key", f"ws://127.0.0.1:{quoting.port}/voice-live/realtime", SessionRejected, quoting.close


@pytest.mark.usefixtures("restore_root_logger")
def test_no_connect_failure_shows_the_key_in_exceptions_logs_or_journal_fields() -> None:
    # The journal handler, its fields captured; no secret registered, so the redactor hides nothing.
    setup_logging(logging.DEBUG, target="journal", environ={})
    sent: list[dict[str, Any]] = []
    logging.getLogger().handlers[0].send = lambda MESSAGE, **fields: sent.append({"MESSAGE": MESSAGE, **fields})  # type: ignore[attr-defined]
    seen: dict[str, str] = {}
    for name, url, expected, cleanup in connect_failures():
        try:
            session = VoiceLiveSession(url, {"api-key": PLANTED_KEY}, {"voice": "alloy"}, on_event=lambda e: None,
                                       connect_timeout=1.0)
            with pytest.raises(SessionError) as info:
                session.connect()
            assert isinstance(info.value, expected), (name, info.value)
            seen[name] = str(info.value)
            logging.getLogger("edgevoice.test.secrets").warning("connect failed", exc_info=info.value)
            assert_no_leak(f"the {name} failure", *everything_about(info.value), repr(session))
        finally:
            cleanup()
    ours = [entry for entry in sent if str(entry["LOGGER"]).startswith("edgevoice")]  # not the test servers' own
    assert ours, "the journal handler saw the failures"
    assert_no_leak("journal fields", ours)
    # The failures say what happened (checked loosely: the messages are the session tests' business).
    assert "401" in seen["401"] and "429" in seen["429"] and "retry after 7" in seen["429"]
    assert "is not valid here" in seen["error event quoting the key"]


def test_an_error_event_quoting_the_key_mid_session_reaches_nobody_with_it() -> None:
    """What the session hands on (to the link, the machine, the events file) has the key blanked."""
    server = QuotingServer(later=True)
    received: list[Any] = []
    arrived = threading.Event()

    def on_event(event: Any) -> None:
        received.append(event)
        if type(event).__name__ == "Error":
            arrived.set()

    session = VoiceLiveSession(f"ws://127.0.0.1:{server.port}/voice-live/realtime", {"api-key": PLANTED_KEY},
                               {"voice": "alloy"}, on_event=on_event, connect_timeout=2.0)
    try:
        session.connect()
        assert arrived.wait(5), received
    finally:
        session.close()
        server.close()
    (error,) = [e for e in received if type(e).__name__ == "Error"]
    assert error.message == "the key *** is not valid here"
    assert_no_leak("server events handed on", [repr(e) for e in received])
