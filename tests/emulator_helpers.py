"""Fixtures and helpers for tests that need a Voice Live service: a real emulator on a free port.

Use in a test module::

    from emulator_helpers import KEY, Client, emulator, make_emulator, speech_pcm  # noqa: F401

    def test_something(emulator):                  # running, key KEY, no faults
        emulator.set_faults(FaultPlan(reject_status=503, connections=1))
        ...                                        # endpoint: emulator.url, key: KEY

``make_emulator(**kwargs)`` builds more (pacing, scripted transcripts/replies, faults) and stops
them at teardown. ``Client`` is a plain ``websockets`` sync client for driving the protocol
by hand; ``speech_pcm`` renders real espeak-ng speech.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import ClientConnection, connect

from edgevoice.voicelive.emulator import Emulator
from edgevoice.audio.speech import Speech

KEY = "emulator-test-key"
MODEL = "gpt-realtime"
API_VERSION = "2026-07-15"

_speech = Speech()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator that requires the key ``KEY``; faults can be set with ``set_faults``."""
    with Emulator(api_key=KEY) as emu:
        yield emu


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """Factory: ``make_emulator(pacing="realtime", replies=[...], faults=...)`` -> a started emulator."""
    started: list[Emulator] = []

    def make(**kwargs: Any) -> Emulator:
        kwargs.setdefault("api_key", KEY)
        emu = Emulator(**kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


def speech_pcm(text: str, rate: int = 16000) -> bytes:
    """Real espeak-ng speech as PCM16 little-endian mono at ``rate``."""
    assert shutil.which("espeak-ng"), "espeak-ng is required for speech tests (apt-get install espeak-ng)"
    return _speech.render(text, rate)


def silence(ms: int, rate: int = 16000) -> bytes:
    return bytes(2 * rate * ms // 1000)


def pcm_of(delta_b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(delta_b64), dtype="<i2")


class Client:
    """A plain WebSocket client speaking Voice Live JSON by hand (no edgevoice code involved)."""

    def __init__(self, emu: Emulator, *, key: str | None = KEY, model: str = MODEL, api_version: str = API_VERSION, timeout: float = 20.0) -> None:
        # ``timeout`` bounds each wait for an event: a passing test never waits it out, and a loaded
        # machine (espeak-ng rendering the replies, real-time pacing) may need more than a few seconds.
        query = f"api-version={api_version}&model={model}"
        headers = {"api-key": key} if key else {}
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(f"{emu.ws_url}?{query}", additional_headers=headers, open_timeout=timeout)
        )
        self.timeout = timeout
        self.received: list[dict[str, Any]] = []

    def send(self, event: dict[str, Any]) -> None:
        self.ws.send(json.dumps(event))

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        event = json.loads(self.ws.recv(timeout=self.timeout if timeout is None else timeout))
        self.received.append(event)
        return event

    def until(self, kind: str, timeout: float | None = None) -> list[dict[str, Any]]:
        """Events received up to and including the first of type ``kind``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        events = []
        while True:
            event = self.recv(timeout=max(0.01, deadline - time.monotonic()))
            events.append(event)
            if event["type"] == kind:
                return events

    def append(self, pcm: bytes, chunk_ms: int = 20, rate: int = 16000) -> None:
        """Send audio as input_audio_buffer.append events of ``chunk_ms`` each (as fast as possible)."""
        step = 2 * rate * chunk_ms // 1000
        for i in range(0, len(pcm), step):
            self.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + step]).decode()})

    def configure(self, **session: Any) -> dict[str, Any]:
        """session.update; returns the session.updated event (after session.created if still unread)."""
        self.send({"type": "session.update", "session": session})
        return self.until("session.updated")[-1]

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]
