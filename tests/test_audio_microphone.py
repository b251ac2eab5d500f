"""The microphone: real PyAudio through ALSA's file plugin, and the stall/deaf/missing logic.

ALSA reads ~/.asoundrc once per process, so every real-device test runs the microphone in a
fresh interpreter with HOME pointing at a directory whose .asoundrc captures from a raw file
(or a FIFO, which lets the test starve the device the way a stuck driver would).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import soxr

from edgevoice.audio import microphone as mic_module
from edgevoice.audio.microphone import Microphone
from edgevoice.audio.portaudio import DeviceError

from listening_helpers import alsa_home, best_correlation, pcm16, run_with_home, scene, tts

# -- a scripted backend: the stall / deaf / missing logic without a sound card ----------------------


class FakeInput:
    def __init__(self, backend: FakeBackend, name: str, rate: int, channels: int, callback) -> None:
        self.name, self.rate, self.channels = name, rate, channels
        self.callback = callback
        self.closed = threading.Event()
        self.backend = backend

    def feed(self, data: bytes) -> bool:
        return self.callback(data)

    def close(self) -> None:
        if self.backend.close_hangs:
            threading.Event().wait(30)  # a driver stuck in a read never returns
        self.closed.set()


class FakeBackend:
    """Opens scripted streams: ``plans[i]`` is what the i-th opened stream delivers, then it goes silent."""

    def __init__(self, plans, *, fail_first: int = 0, rate: int = 16000, channels: int = 1) -> None:
        self.plans = list(plans)
        self.fail_first = fail_first
        self.opens = 0
        self.attempts = 0
        self.inputs: list[FakeInput] = []
        self.close_hangs = False
        self.rate, self.channels = rate, channels

    def open(self, device, rate, buffer_ms, callback):
        self.attempts += 1
        if self.attempts <= self.fail_first:
            raise DeviceError(f"no input device matches {device!r}; input devices: 0: 'default'")
        plan = self.plans[min(self.opens, len(self.plans) - 1)]
        self.opens += 1
        stream = FakeInput(self, f"fake{self.opens}", self.rate, self.channels, callback)
        self.inputs.append(stream)
        threading.Thread(target=lambda: [stream.feed(c) for c in plan], daemon=True).start()
        return stream


def chunks(seconds: float, seed: int, size: int = 640) -> list[bytes]:
    """Noise-like audio (never repeating, never silent) in 20 ms chunks."""
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal(int(seconds * 16000)) * 500).astype("<i2").tobytes()
    return [data[i : i + size] for i in range(0, len(data), size)]


def collect(mic: Microphone, n: int) -> list[bytes]:
    out = []
    for f in mic.frames():
        out.append(f)
        if len(out) >= n:
            break
    mic.close()
    return out


def make_mic(backend, statuses, **kw) -> Microphone:
    kw.setdefault("stall_timeout_s", 0.2)
    kw.setdefault("backoff_s", 0.01)
    return Microphone("USB", backend=backend, on_status=lambda s: statuses.append(s.state), **kw)


def test_frames_pass_through_in_order():
    first = chunks(0.5, 1)
    backend = FakeBackend([first])
    statuses: list[str] = []
    frames = collect(make_mic(backend, statuses), 50)
    assert b"".join(frames) == b"".join(first)
    assert statuses[:3] == ["opening", "opening", "listening"] and statuses[-1] == "closed"


def test_a_stalled_device_is_noticed_reopened_and_frames_resume(caplog):
    first, second = chunks(0.2, 1), chunks(0.2, 2)
    backend = FakeBackend([first, second])
    statuses: list[str] = []
    with caplog.at_level(logging.WARNING, logger="edgevoice.audio.microphone"):
        frames = collect(make_mic(backend, statuses), 40)
    assert b"".join(frames) == b"".join(first + second)
    assert backend.opens == 2 and backend.inputs[0].closed.is_set()
    assert statuses.index("stalled") < len(statuses) - 1 - statuses[::-1].index("listening")
    assert any("stalled" in r.getMessage() and "reopening" in r.getMessage() for r in caplog.records)


def test_a_stream_whose_close_hangs_is_abandoned(monkeypatch, caplog):
    monkeypatch.setattr(mic_module, "_CLOSE_TIMEOUT_S", 0.1)
    backend = FakeBackend([chunks(0.1, 1), chunks(0.1, 2)])
    backend.close_hangs = True
    statuses: list[str] = []
    with caplog.at_level(logging.WARNING, logger="edgevoice.audio.microphone"):
        frames = collect(make_mic(backend, statuses), 20)
    assert len(frames) == 20 and backend.opens == 2
    assert any("abandoned" in r.getMessage() for r in caplog.records)


def test_late_audio_from_an_abandoned_stream_is_ignored():
    backend = FakeBackend([chunks(0.1, 1), chunks(0.3, 2)])
    statuses: list[str] = []
    mic = make_mic(backend, statuses)
    frames = []
    for f in mic.frames():
        frames.append(f)
        if backend.opens == 2 and len(frames) == 10:
            assert backend.inputs[0].feed(b"\x7f" * 640) is False  # the old stream is told to stop
        if len(frames) >= 40:
            break
    mic.close()
    assert b"\x7f" * 320 not in frames


def test_digital_silence_and_repeated_buffers_count_as_deaf():
    silence = [bytes(640)] * 20
    stale = [b"\x01\x02" * 320, b"\x03\x04" * 320] * 10  # a stuck driver replaying two buffers
    good = chunks(0.2, 3)
    backend = FakeBackend([silence, stale, good])
    statuses: list[str] = []
    mic = make_mic(backend, statuses)
    last = []
    for f in mic.frames():
        if backend.opens == 3:
            last.append(f)
            if len(last) == 20:
                break
    mic.close()
    assert statuses.count("deaf") == 2 and backend.opens == 3
    assert b"".join(last) == b"".join(good)


def test_digital_silence_can_be_allowed():
    silence = [bytes(640)] * 25
    backend = FakeBackend([silence])
    statuses: list[str] = []
    frames = collect(make_mic(backend, statuses, deaf_on_digital_silence=False), 50)
    assert len(frames) == 50 and "deaf" not in statuses and backend.opens == 1


def test_a_missing_device_is_a_clear_error_and_retried(caplog):
    backend = FakeBackend([chunks(0.2, 1)], fail_first=3)
    statuses: list[str] = []
    mic = make_mic(backend, statuses)
    with caplog.at_level(logging.INFO, logger="edgevoice.audio.microphone"):
        frames = collect(mic, 10)
    assert len(frames) == 10 and backend.attempts == 4
    assert statuses.count("missing") == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "no input device matches 'USB'" in errors[0].getMessage()
    assert "'default'" in errors[0].getMessage()


def test_backoff_doubles_up_to_the_maximum():
    mic = Microphone("x", backoff_s=0.5, backoff_max_s=3.0, backend=FakeBackend([[]]))
    waits = []
    for failures in range(1, 6):
        mic._failures = failures
        waits.append(mic._backoff())
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_close_from_another_thread_ends_frames_while_the_device_is_missing():
    backend = FakeBackend([[]], fail_first=10**6)
    statuses: list[str] = []
    mic = make_mic(backend, statuses, backoff_s=0.05)
    threading.Timer(0.3, mic.close).start()
    assert list(mic.frames()) == []
    assert mic.status.state == "closed" and "missing" in statuses


def test_device_rate_and_channels_are_converted():
    x = scene(0.1, tts("okay nabu"), 0.1)
    y = soxr.resample(x, 16000, 48000)
    stereo = pcm16(np.stack([y, y], 1).reshape(-1))
    plan = [stereo[i : i + 3840] for i in range(0, len(stereo), 3840)]
    backend = FakeBackend([plan], rate=48000, channels=2)
    statuses: list[str] = []
    frames = collect(make_mic(backend, statuses), len(x) // 160 - 20)
    got = np.frombuffer(b"".join(frames), "<i2")
    corr, _ = best_correlation(np.frombuffer(pcm16(x), "<i2"), got, max_lag=100)
    assert corr > 0.99


# -- the real PyAudio / PortAudio / ALSA path -------------------------------------------------------

MIC_SCRIPT = r"""
import json, os, sys, numpy as np
from edgevoice.audio.microphone import Microphone
from edgevoice.config.listening import ListeningConfig
from edgevoice.listening.frontend import ListeningFrontend
args = json.loads(sys.argv[1])
statuses = []
def on_status(s):
    statuses.append([s.state, s.detail])
    if len(statuses) >= args.get("max_statuses", 50):
        mic.close()
mic = Microphone(args["device"], sample_rate=args.get("rate"), stall_timeout_s=args.get("stall", 2.0),
                 backoff_s=0.05, on_status=on_status)
frames = []
for f in mic.frames():
    frames.append(f)
    if len(frames) >= args["frames"]:
        break
mic.close()
open(args["out"], "wb").write(b"".join(frames))
front = ListeningFrontend.from_config(ListeningConfig())
wakes = [e.t for f in frames for e in front.process(f) if type(e).__name__ == "WakeWordDetected"]
print(json.dumps({"statuses": statuses, "wakes": wakes, "reopens": mic.reopens}))
"""


def run_mic(home: Path, **args) -> dict:
    result = run_with_home(home, MIC_SCRIPT, json.dumps(args))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def speech_raw(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """~2 s of real speech with a wake word, as the raw s16le file ALSA reads."""
    x = scene(0.2, tts("okay nabu, what time is it", speed=175), 0.2, floor_dbfs=-60)
    path = tmp_path_factory.mktemp("alsa") / "in.raw"
    path.write_bytes(pcm16(x))
    return path, np.frombuffer(pcm16(x), "<i2")


def test_alsa_capture_delivers_the_speech_and_the_wake_word_is_heard(tmp_path, speech_raw):
    infile, ref = speech_raw
    home = alsa_home(tmp_path / "home", infile)
    out = tmp_path / "got.raw"
    n = len(ref) // 160
    res = run_mic(home, device="default", frames=n, out=str(out))
    got = np.fromfile(out, "<i2")
    # ALSA's file plugin is not paced, so the device outruns the reader and chunks past the
    # microphone's 2 s queue may be dropped (counted as overruns); the first 1.8 s always arrive.
    m = 180 * 160
    assert np.array_equal(got[:m], ref[:m])  # bit-exact through PortAudio and ALSA
    assert len(res["wakes"]) == 1
    assert [s for s, _ in res["statuses"]][:3] == ["opening", "opening", "listening"]


def test_alsa_device_gone_deaf_is_reopened(tmp_path, speech_raw):
    # When its input file runs out, ALSA's file plugin keeps handing out its last buffer: the
    # device is "alive but deaf". The microphone must notice, reopen, and hear the file again.
    infile, ref = speech_raw
    home = alsa_home(tmp_path / "home", infile)
    out = tmp_path / "got.raw"
    n = len(ref) // 160
    res = run_mic(home, device="default", frames=3 * n, out=str(out), stall=0.5)
    states = [s for s, _ in res["statuses"]]
    assert "deaf" in states and res["reopens"] >= 1
    deaf = next(d for s, d in res["statuses"] if s == "deaf")
    assert "the same audio repeats" in deaf
    assert states[states.index("deaf") + 1 :].count("listening") >= 1
    got = np.fromfile(out, "<i2")
    starts = [i for i in range(0, len(got) - 1600, 160) if np.array_equal(got[i : i + 1600], ref[:1600])]
    assert len(starts) >= 2  # heard from the start again after the reopen
    assert len(res["wakes"]) >= 2


def test_alsa_capture_at_48k_is_resampled(tmp_path, speech_raw):
    _, ref = speech_raw
    x48 = soxr.resample(ref.astype(np.float32) / 32768, 16000, 48000)
    infile = tmp_path / "in48.raw"
    infile.write_bytes(pcm16(x48))
    home = alsa_home(tmp_path / "home", infile)
    out = tmp_path / "got.raw"
    n = len(ref) // 160 - 10
    res = run_mic(home, device="default", rate=48000, frames=n, out=str(out))
    corr, _ = best_correlation(ref[: n * 160], np.fromfile(out, "<i2"), max_lag=200)
    assert corr > 0.98
    assert "48000 Hz" in next(d for s, d in res["statuses"] if s == "listening")
    assert len(res["wakes"]) == 1


def test_alsa_missing_device_is_a_clear_error_and_retried(tmp_path, speech_raw):
    home = alsa_home(tmp_path / "home", speech_raw[0])
    res = run_mic(home, device="USB Mic", frames=1, out=str(tmp_path / "x.raw"), max_statuses=6)
    missing = [d for s, d in res["statuses"] if s == "missing"]
    assert len(missing) >= 2  # kept retrying, no crash
    assert "no input device matches 'USB Mic'" in missing[0] and "0: 'default'" in missing[0]


STALL_SCRIPT = r"""
import json, os, sys
from edgevoice.audio.microphone import Microphone
fifo, speech_path = sys.argv[1], sys.argv[2]
speech = open(speech_path, "rb").read()[:32000]
fd = os.open(fifo, os.O_RDWR)  # holds the FIFO open: ALSA's reads block when it is empty
phase = ["start"]
statuses = []
def on_status(s):
    statuses.append(s.state)
    if s.detail.endswith("opened") and phase[0] == "start":
        os.write(fd, speech)  # one second of audio, then nothing: the device starves
        phase[0] = "fed"
    elif s.state == "stalled":
        phase[0] = "stalled"
    elif s.detail.endswith("opened") and phase[0] == "stalled":
        os.close(fd)  # end of file: reads return at once again
        phase[0] = "eof"
mic = Microphone("default", stall_timeout_s=0.5, backoff_s=0.05, on_status=on_status)
before, after = [], []
for f in mic.frames():
    (after if phase[0] == "eof" else before).append(f)
    if len(after) >= 20:  # fewer than the 0.5 s (50 frames) after which silence counts as deaf
        break
mic.close()
print(json.dumps({"statuses": statuses, "before_equal": b"".join(before) == speech, "after": len(after)}), flush=True)  # os._exit skips the interpreter's own flush
os._exit(0)  # the abandoned stream's thread is still stuck in the driver
"""


def test_alsa_stalled_device_is_noticed_and_a_stuck_stream_abandoned(tmp_path, speech_raw):
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    home = alsa_home(tmp_path / "home", fifo)
    result = run_with_home(home, STALL_SCRIPT, str(fifo), str(speech_raw[0]))
    assert result.returncode == 0, result.stderr[-3000:]
    res = json.loads(result.stdout.strip().splitlines()[-1])
    states = res["statuses"]
    assert res["before_equal"]  # the second of audio before the stall arrived intact
    assert "stalled" in states and states[states.index("stalled") + 1 :].count("listening") == 1
    assert res["after"] == 20  # frames flow again from the reopened device
    assert "abandoned" in result.stderr  # ALSA was stuck in read(): close() hung and was given up on


def test_edgevoice_devices_lists_the_alsa_device(tmp_path, speech_raw):
    home = alsa_home(tmp_path / "home", speech_raw[0])
    result = run_with_home(home, "import sys; from edgevoice.cli import main; sys.exit(main(['devices']))")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Capture devices:" and "Playback devices:" in lines
    capture = lines[1]
    assert capture.split()[0] == "0" and "default" in capture and "16000" in capture and "48000" in capture
    assert "(default)" in capture
    assert "cannot find card" not in result.stderr  # ALSA's probe chatter is kept out


def test_edgevoice_devices_with_no_sound_card(tmp_path):
    (tmp_path / ".asoundrc").write_text("")
    result = run_with_home(tmp_path, "import sys; from edgevoice.cli import main; sys.exit(main(['devices', '--no-probe']))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Capture devices:"
