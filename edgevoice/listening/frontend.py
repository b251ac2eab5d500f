"""The listening front-end: one 10 ms frame in, the events it caused out.

    frame -> noise filter -> VAD (+ near field, hysteresis) -> wake words -> gate (pre-roll / utterance)

The daemon drives it::

    frontend = ListeningFrontend.from_config(config.listening)
    for frame in microphone.frames():
        for event in frontend.process(frame):
            ...                                  # WakeWordDetected -> preroll = frontend.open_gate("wake")
                                                 # UtteranceAudio  -> send event.pcm
                                                 # UtteranceEnded  -> commit (the gate closed itself)

Time is audio-stream time (frames x 10 ms), so a recording gives the same events every run.
The front-end never opens the gate by itself: the daemon decides (a wake word while a reply
plays may mean barge-in, or nothing). ``set_muted`` and ``press_button``/``release_button`` may
be called from any thread (GPIO callbacks); they take effect at the next frame, in order.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from edgevoice.audio.frames import FRAME_BYTES, FRAME_SECONDS
from edgevoice.config.errors import ConfigError
from edgevoice.listening.echo import power_of
from edgevoice.listening.endpoint import Endpointer
from edgevoice.listening.frontend_events import (
    ButtonPressed,
    ButtonReleased,
    ListeningEvent,
    Muted,
    SpeechEnded,
    LocalSpeechStarted,
    Unmuted,
    UtteranceAudio,
    UtteranceEnded,
)
from edgevoice.listening.gate import Gate
from edgevoice.listening.hold import WakeHold
from edgevoice.listening.nearfield import BackgroundAttenuator
from edgevoice.listening.noise import NoiseFilter
from edgevoice.listening.voice_activity import END, START, VoiceActivity
from edgevoice.listening.wake import WakeWordDetector, WakeWordError

logger = logging.getLogger(__name__)

_MUTE, _UNMUTE, _PRESS, _RELEASE = "mute", "unmute", "press", "release"
_OFF, _ON = "off", "on"  # set_listening
#: A gate opened this soon after a wake word opened for that wake word (its speaker is the visitor).
WAKE_RECENT_FRAMES = 50
#: A gate opened this soon (frames) after a wake word opened on it: hold the audio until the words start.
WAKE_OPEN_FRAMES = 30


class ListeningFrontend:
    """Decides locally when someone talks to the device and hands over exactly their words."""

    def __init__(
        self,
        *,
        noise: NoiseFilter | None = None,
        vad: VoiceActivity | None = None,
        wake: WakeWordDetector | None = None,
        gate: Gate | None = None,
        endpointer: Endpointer | None = None,
        send_processed: bool = False,
        attenuator: BackgroundAttenuator | None = None,
    ) -> None:
        self.noise = noise if noise is not None else NoiseFilter(enabled=False)
        self.vad = vad if vad is not None else VoiceActivity()
        self.wake = wake
        self.gate = gate if gate is not None else Gate()
        self.endpointer = endpointer if endpointer is not None else Endpointer()
        self.send_processed = send_processed
        self.attenuator = attenuator
        self._last_wake_frame = -(10**9)  # frame count at the last wake word detected
        self.frames = 0  #: frames seen so far (muted ones included): stream time = frames x 10 ms
        self.muted = False
        self.listening = True  #: False while the assistant itself is muted (from a script): frames are dropped
        self._requests: deque[str] = deque()  # from other threads; deque.append is atomic
        self._lock = threading.Lock()
        # The VAD's verdicts on the frames the gate keeps as pre-roll (same length as its ring).
        self._preroll_voiced: deque[bool] = deque(maxlen=self.gate.preroll_frames or 1)
        self._hold = WakeHold(self.gate.preroll_frames)
        self._holding = False  # the gate opened on a wake word and the words have not started

    @classmethod
    def from_config(cls, listening, *, server_endpointing: bool = False, echo_reference: bool = False) -> ListeningFrontend:
        """The front-end described by the [listening] table (loads the wake word models);
        ``server_endpointing``: the service finds the end of a turn (background is attenuated for it,
        unless ``echo_reference``: the service cancels the echo against what the device played, and a
        microphone channel turned up and down under the echo lets it through as false turns)."""
        # listening: edgevoice.config.listening.ListeningConfig
        try:
            wake = WakeWordDetector.from_config(listening.wake)
        except WakeWordError as exc:
            raise ConfigError("listening.wake", str(exc)) from exc
        return cls(
            noise=NoiseFilter.from_config(listening.noise),
            vad=VoiceActivity.from_config(listening.vad),
            wake=wake,
            gate=Gate(listening.vad.preroll_ms),
            endpointer=Endpointer(listening.vad.max_utterance_s, listening.vad.no_speech_timeout_s),
            send_processed=listening.noise.send_processed,
            attenuator=(BackgroundAttenuator(listening.vad.attenuate_background_db)
                        if server_endpointing and not echo_reference and listening.vad.attenuate_background_db > 0
                        else None),
        )

    @property
    def t(self) -> float:
        """Audio-stream time in seconds: the end of the last frame processed."""
        return self.frames * FRAME_SECONDS

    @property
    def gate_open(self) -> bool:
        return self.gate.is_open

    # -- the daemon's controls -----------------------------------------------------------

    def open_gate(self, reason: str = "wake") -> bytes:
        """Let audio out: returns the pre-roll (send it first); ``UtteranceAudio`` follows per frame.

        Right after a wake word (``reason`` "wake"), nothing comes back yet: the pre-roll and what
        follows are held until the person's own words start, and the wake word's tail is dropped
        (see :mod:`edgevoice.listening.hold`); the first ``UtteranceAudio`` then carries them.
        Does nothing (returns b"") while muted or when already open.
        """
        with self._lock:
            if self.muted or not self.listening or self.gate.is_open:
                return b""
            self._listen_to(reason)
            self.endpointer.start(self.vad.in_speech)
            voiced = list(self._preroll_voiced)
            self._preroll_voiced.clear()
            preroll = self.gate.open(reason)
            if self.attenuator is not None:
                preroll = self.attenuator.start(self.vad.in_speech, preroll)
            if reason != "wake" or self.frames - self._last_wake_frame > WAKE_OPEN_FRAMES:
                return preroll
            frames = [preroll[i : i + FRAME_BYTES] for i in range(0, len(preroll), FRAME_BYTES)]
            flags = [False] * (len(frames) - len(voiced)) + voiced[-len(frames):] if frames else []
            self._hold.start(list(zip(frames, flags)))
            self._holding = True
            return b""

    def hold_for_words(self) -> None:
        """The wake word was just heard with the gate open: from now, hold the audio until the person's
        words start, as :meth:`open_gate` does after a wake word (nothing is sent of the wake word)."""
        with self._lock:
            if self.muted or not self.listening or not self.gate.is_open:
                return
            self.endpointer.start(self.vad.in_speech)
            self._hold.start([])
            self._holding = True

    @property
    def holding(self) -> bool:
        """The gate opened on a wake word and holds the audio until the person's words start."""
        return self._holding

    def _listen_to(self, reason: str) -> None:
        """Whose level the near field follows: whoever just said the wake word; for a button, whoever
        speaks next; otherwise (a follow-up, the same turn going on) the visitor it already follows."""
        near = self.vad.near
        if near is None:
            return
        if reason == "button":
            near.learn()
        elif self.frames - self._last_wake_frame <= WAKE_RECENT_FRAMES:
            near.lock_on()

    def close_gate(self) -> None:
        """Stop letting audio out (the daemon ended the turn itself); no event follows."""
        with self._lock:
            self.gate.close()
            self._drop_hold()

    def _drop_hold(self) -> None:
        if self._holding:
            self._holding = False
            self._hold.release()

    def set_muted(self, muted: bool) -> None:
        """Mute (nothing processed, gate closed) or unmute; any thread; ``Muted``/``Unmuted`` follow."""
        self._requests.append(_MUTE if muted else _UNMUTE)

    def set_listening(self, on: bool) -> None:
        """Hear the microphone, or drop its frames (any thread), with no ``Muted`` event: the assistant's
        own mute (``edgevoice mute``), while ``set_muted`` follows the mute switch."""
        self._requests.append(_ON if on else _OFF)

    def press_button(self) -> None:
        """The push-to-talk button went down (any thread); ``ButtonPressed`` follows unless muted."""
        self._requests.append(_PRESS)

    def release_button(self) -> None:
        """The push-to-talk button came up (any thread); ``ButtonReleased`` follows unless muted."""
        self._requests.append(_RELEASE)

    # -- the pipeline --------------------------------------------------------------------

    def process(self, frame: bytes, echo_floor: float = 0.0) -> list[ListeningEvent]:
        """Run one 10 ms frame (320 bytes of 16 kHz mono int16) through everything.

        ``echo_floor``: the mean square (full scale 1.0) the device's own sound could reach at the
        microphone now (0.0 while the speaker is silent); a frame no louder is not speech to the VAD,
        so a chime, a cached phrase or a reply coming back never starts or ends an utterance.
        """
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"a frame is {FRAME_BYTES} bytes of 16 kHz mono int16, not {len(frame)}")
        with self._lock:
            self.frames += 1
            events: list[ListeningEvent] = []
            if self._requests:
                self._apply_requests(events)
            if self.muted or not self.listening:
                return events
            return self._process(frame, events, echo_floor)

    def _process(self, frame: bytes, events: list[ListeningEvent], echo_floor: float) -> list[ListeningEvent]:
        t = self.frames * FRAME_SECONDS
        clean = self.noise.process(frame)
        vad = self.vad
        gate = self.gate
        transition = vad.update(clean, frame, gate.is_open, echo_floor > 0.0 and power_of(frame) <= echo_floor)
        if transition == START:
            events.append(LocalSpeechStarted(t - vad.lag * FRAME_SECONDS))
        elif transition == END:
            events.append(SpeechEnded(t - vad.lag * FRAME_SECONDS))
        if self.wake is not None:
            found = self.wake.process(clean, t)
            if found:
                events.extend(found)
                self._last_wake_frame = self.frames
        out = clean if self.send_processed else frame
        if not gate.is_open:
            gate.push(out)
            self._preroll_voiced.append(vad.voiced)
            return events
        if self.attenuator is not None:
            out = self.attenuator.process(out, vad.voiced and vad.in_speech)
        endpointer = self.endpointer
        if self._holding:
            self._hold.push(out, vad.voiced)
            reason = endpointer.step(vad.voiced, transition)
            if endpointer.heard_speech:  # the person's words started: what was held goes first
                self._holding = False
                events.append(UtteranceAudio(self._hold.release(), t))
        else:
            events.append(UtteranceAudio(out, t))
            reason = endpointer.step(vad.voiced, transition)
        if reason is not None:
            gate.close()
            self._drop_hold()
            events.append(UtteranceEnded(reason, t))
        return events

    def _apply_requests(self, events: list[ListeningEvent]) -> None:
        t = (self.frames - 1) * FRAME_SECONDS  # they happened before this frame
        while self._requests:
            request = self._requests.popleft()
            if request == _MUTE and not self.muted:
                self.muted = True
                self.gate.close()
                self._drop_hold()
                events.append(Muted(t))
            elif request == _UNMUTE and self.muted:
                self.muted = False
                self._forget()
                events.append(Unmuted(t))
            elif request == _OFF and self.listening:
                self.listening = False
                self.gate.close()
                self._drop_hold()
            elif request == _ON and not self.listening:
                self.listening = True
                self._forget()
            elif request == _PRESS and not self.muted:
                events.append(ButtonPressed(t))
            elif request == _RELEASE and not self.muted:
                events.append(ButtonReleased(t))

    def _forget(self) -> None:
        """Start afresh after mute: no speech, wake word state or pre-roll from before."""
        self.vad.reset()
        self.gate.clear()
        self._preroll_voiced.clear()
        if self.wake is not None:
            self.wake.reset()

    def close(self) -> None:
        """Release the wake word models."""
        if self.wake is not None:
            self.wake.close()
