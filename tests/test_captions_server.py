"""The captions server over loopback (issue 17 item 1): the page, the event stream, the Host check,
binding rules, and a port in use that leaves the assistant running without its captions."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request

import pytest

from edgevoice.captions.server import CaptionsServer
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import parse_config
from edgevoice.config.screen import CaptionsConfig
from edgevoice.daemon.outputs import DaemonOutputs
from edgevoice.daemon.telemetry import Telemetry

ENDPOINT = '[voicelive]\nendpoint = "https://my-resource.services.ai.azure.com"\n'


@pytest.fixture
def server():
    srv = CaptionsServer(CaptionsConfig(enabled=True, port=0, language="Deutsch", font_size_px=64,
                                        title='<script>alert("x")</script>')).start()
    yield srv
    srv.close()


def get(srv: CaptionsServer, path: str, host: str | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{srv.port}{path}", headers={"Host": host} if host else {})
    return urllib.request.urlopen(request, timeout=10)


def test_the_page_carries_the_settings_escaped_and_strict_headers(server):
    with get(server, "/") as r:
        body = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-store"
    assert "Deutsch" in body and "font-size: 64px" in body
    assert "<script>alert" not in body and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert 'new EventSource("events")' in body


def _next_data(stream) -> dict:
    while True:
        line = stream.readline().decode()
        assert line, "the stream ended"
        if line.startswith("data: "):
            return json.loads(line[len("data: "):])


def test_the_stream_sends_the_view_at_once_and_after_each_record(server):
    with get(server, "/events") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert _next_data(stream) == {"state": "idle", "label": "ready", "lines": []}
        now = time.monotonic()
        server.record({"t": now, "event": "state", "turn": 1, "state": "listening"})
        assert _next_data(stream)["label"] == "listening"
        server.record({"t": now, "event": "transcript_delta", "turn": 1, "text": "</script><b>hi", "item_id": "i"})
        assert _next_data(stream)["lines"] == [{"role": "user", "text": "</script><b>hi", "final": False, "cut": False}]
        server.record({"t": now, "event": "reply_delta", "turn": 1, "text": "Soon", "response_id": "r", "audio_ms": 200.0})
        server.record({"t": now, "event": "playback_start", "turn": 1})
        view = _next_data(stream)  # the word is due 0.2 s after playback started: the server sends it then
        if len(view["lines"]) < 2:
            view = _next_data(stream)
        assert view["lines"][1] == {"role": "assistant", "text": "Soon", "final": False, "cut": False}


def test_another_host_name_is_refused_on_loopback(server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(server, "/", host=f"attacker.example:{server.port}")
    assert refused.value.code == 421
    with get(server, "/", host=f"localhost:{server.port}") as r:
        assert r.status == 200


def test_binding_beyond_loopback_needs_allow_remote():
    with pytest.raises(ConfigError) as bad:
        parse_config(ENDPOINT + '[captions]\nenabled = true\nhost = "0.0.0.0"\n', "edgevoice.toml")
    assert "captions.host" in str(bad.value) and "allow_remote" in str(bad.value)
    config = parse_config(ENDPOINT + '[captions]\nenabled = true\nhost = "0.0.0.0"\nallow_remote = true\n', "edgevoice.toml")
    assert config.captions.host == "0.0.0.0"
    assert parse_config(ENDPOINT + '[captions]\nhost = "::1"\n', "t").captions.host == "::1"


def test_a_port_in_use_leaves_the_assistant_without_captions(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = parse_config(ENDPOINT + f"[captions]\nenabled = true\nport = {port}\n", "t")
        telemetry = Telemetry()
        with caplog.at_level(logging.ERROR):
            outputs = DaemonOutputs(config, telemetry).start()
        try:
            assert outputs.captions is None
            assert f"cannot listen on 127.0.0.1:{port}" in caplog.text
            telemetry.mark("state", state="listening")  # records still flow
        finally:
            outputs.close()


def test_captions_off_does_not_load_the_web_server():
    import subprocess
    import sys

    code = ("import sys; from edgevoice.config.load import parse_config; from edgevoice.daemon.outputs import DaemonOutputs;"
            "from edgevoice.daemon.telemetry import Telemetry;"
            f"DaemonOutputs(parse_config({ENDPOINT!r}, 't'), Telemetry()).start().close();"
            "print('aiohttp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_captions_without_transcription_say_the_visitors_words_will_be_missing(caplog):
    config = parse_config(ENDPOINT + '[voicelive.transcription]\nmodel = "none"\n[captions]\nenabled = true\nport = 1\n', "t")
    with caplog.at_level(logging.WARNING):
        outputs = DaemonOutputs(config, Telemetry())  # built, not started: the warning comes first
    assert "[voicelive.transcription] model is none" in caplog.text
    outputs.close()
