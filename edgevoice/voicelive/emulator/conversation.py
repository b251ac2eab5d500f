"""One Voice Live session as a sans-I/O state machine: client event text in, server event dicts out.

Usage, h11 style::

    conv = Conversation(model="gpt-realtime", now=time.time())
    conv.receive('{"type": "session.update", "session": {...}}')
    while (out := conv.next_event()) is not None:
        if isinstance(out, SpeechRequest):
            conv.provide_speech(out, speech.render(out.text, out.sample_rate, out.voice))
        else:
            send(out)

Nothing here touches a socket, a clock or a thread: time is the amount of audio received, and
reply audio is rendered by the caller, so every behaviour is testable without I/O.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edgevoice.voicelive.emulator import vocabulary, formats
from edgevoice.voicelive.emulator.errors import ClientError, invalid_type, invalid_value, missing, unknown_parameter
from edgevoice.voicelive.emulator.response import (
    AUDIO_TOKENS_PER_S_IN,
    InputUsage,
    ResponseStream,
    SpeechRequest,
    text_tokens,
)
from edgevoice.voicelive.emulator.echo import EchoCanceller
from edgevoice.voicelive.emulator.ga import GaWire
from edgevoice.voicelive.emulator.session_settings import RESPONSE_FIELD_CHECKS, apply_update, default_session, input_channels
from edgevoice.voicelive.emulator.tool_calls import ToolCall, ToolCallStream, answer_from_output
from edgevoice.voicelive.emulator.transcription import not_recognised, transcript_deltas
from edgevoice.voicelive.emulator.turn_detector import FRAME_MS, MIN_SPEECH_MS, VadSpeechStarted, VadSpeechStopped, TurnDetector, VoiceActivity

MIN_COMMIT_MS = 100

__all__ = ["Conversation", "SpeechRequest"]


@dataclass
class Item:
    """A conversation item as the emulator remembers it."""

    data: dict[str, Any]
    audio_ms: float = 0.0  # user audio committed (assistant audio: Conversation._assistant_audio_ms)
    speech_ms: float = 0.0
    transcript: str | None = None  # user audio: the scripted transcript, if any
    text: str = ""  # text content (user text, function output, assistant transcript)
    stream: ResponseStream | None = None  # assistant items: the response that produced it
    truncated_ms: float | None = None  # assistant items: audio_end_ms of the last truncate

    @property
    def role(self) -> str | None:
        return self.data.get("role")


class Conversation:
    """The state of one session; see the module docstring for the calling pattern."""

    def __init__(
        self,
        *,
        model: str,
        now: float,
        session_id: str | None = None,
        lifetime_s: float = vocabulary.SESSION_LIFETIME_S,
        transcripts: Sequence[str] = (),
        replies: Sequence[str] = (),
        chunk_ms: int = 100,
        tool_calls: Sequence[ToolCall] = (),
        wire: GaWire | None = None,
    ) -> None:
        self._wire = wire  # the GA dialect's translation at the edges, or None for Voice Live
        self._seed = secrets.token_hex(5)
        self._counter = 0
        self.session = default_session(model, session_id or f"sess_{self._seed}", int(now + lifetime_s))
        self.conversation_id = f"conv_{self._seed}"
        self.audio_received = False
        self._transcripts = list(transcripts)
        self._replies = list(replies)
        self._tool_calls = list(tool_calls)  # the model's next responses call these (emulator.tool_calls)
        self._tool_call_count = 0
        self._last_input: InputUsage | None = None  # what the last response read (its prefix is cached)
        self._chunk_ms = chunk_ms
        self._outbox: deque[dict[str, Any]] = deque([{"type": "session.created", "session": copy.deepcopy(self.session)}])
        self._items: dict[str, Item] = {}  # insertion order is conversation order
        self._order: list[str] = []
        self._streams: deque[ResponseStream] = deque()
        self._pending_auto_response = False
        self._user_audio_count = 0
        self._reply_count = 0
        # input audio
        self._buffer = bytearray()  # PCM16 at the input rate, since the last commit/clear
        self._buffer_start_ms = 0.0
        self._buffer_voiced_ms = 0.0
        self._audio_ms = 0.0  # audio clock: milliseconds received this session
        self._activity: VoiceActivity | None = None
        self._turns: TurnDetector | None = None
        self._echo: EchoCanceller | None = None  # client-reference echo cancellation (stereo input)
        self._speech_item_id: str | None = None
        self._speech_start_ms = 0.0
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit_event,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.delete": self._item_delete,
            "conversation.item.truncate": self._item_truncate,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }

    # --- public API ----------------------------------------------------------------------------

    @property
    def audio_ms(self) -> float:
        """Milliseconds of input audio received in this session."""
        return self._audio_ms

    @property
    def active_response(self) -> ResponseStream | None:
        """The response still producing content (not yet cancelled, failed or completed), if any."""
        return next((s for s in self._streams if s.active), None)

    @property
    def control_pending(self) -> bool:
        """True while events other than the response stream's wait to be sent (errors, acks, ...)."""
        return bool(self._outbox)

    def receive(self, message: str | bytes) -> dict[str, Any] | None:
        """Handle one client message; returns the parsed event (None if it was not a JSON object)."""
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError) as exc:
            self._error(
                ClientError("invalid_json", f"We could not parse the JSON body of your request: {exc}. Send a JSON object."), None
            )
            return None
        if not isinstance(event, dict):
            self._error(invalid_type("event", "an object", event), None)
            return None
        event_id = event.get("event_id")
        if event_id is not None and not isinstance(event_id, str):
            self._error(invalid_type("event_id", "a string", event_id), None)
            return event
        try:
            kind = event.get("type")
            if kind is None:
                raise missing("type")
            if not isinstance(kind, str):
                raise invalid_type("type", "a string", kind)
            if self._wire is not None:
                event = self._wire.incoming(event)
            handler = self._handlers.get(kind)
            if handler is None:
                if kind in vocabulary.UNSUPPORTED_CLIENT_EVENTS:
                    raise ClientError("unsupported_event", f"'{kind}' is not supported by the Voice Live emulator.", "type")
                raise invalid_value("type", kind, self._handlers)
            handler(event)
        except ClientError as exc:
            self._error(exc, event_id)
        return event

    def next_event(self) -> dict[str, Any] | SpeechRequest | None:
        """The next server event to send, a SpeechRequest to fulfil, or None when idle/waiting."""
        if self._outbox:
            return self._stamp(self._outbox.popleft())
        while self._streams:
            stream = self._streams[0]
            out = stream.next()
            if out is None:
                if stream.finished:
                    self._streams.popleft()
                    continue
                return None  # waiting for provide_speech()
            if isinstance(out, SpeechRequest):
                return out
            if out["type"] == "response.done":
                self._streams.popleft()
                self._response_finished(stream)
            return self._stamp(out)
        return None

    def provide_speech(self, request: SpeechRequest, pcm16: bytes) -> None:
        """Hand over the audio for a SpeechRequest (ignored if that response has ended meanwhile)."""
        for stream in self._streams:
            if stream.id == request.response_id:
                stream.provide_speech(pcm16)

    def fail_response(self, code: str, message: str) -> bool:
        """Fault hook: a server error ends the active response with status failed. False if none active."""
        stream = self.active_response
        if stream is None:
            return False
        error = {"type": "server_error", "code": code, "message": message, "param": None, "event_id": None}
        self._outbox.append({"type": "error", "error": error})
        stream.fail(error)
        return True

    def expire(self) -> None:
        """The session hit its maximum duration: queue the error the shell sends before closing."""
        message = f"Your session expired (expires_at {self.session['expires_at']}). Start a new session."
        error = {"type": "invalid_request_error", "code": "session_expired", "message": message, "param": None, "event_id": None}
        self._outbox.append({"type": "error", "error": error})

    # --- helpers -------------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._seed}{self._counter:05d}"

    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        if self._wire is not None:
            event = self._wire.outgoing(event)
        kind = event.pop("type")
        return {"type": kind, "event_id": self._new_id("event"), **event}

    def _emit(self, kind: str, **fields: Any) -> None:
        self._outbox.append({"type": kind, **fields})

    def _error(self, exc: ClientError, event_id: str | None) -> None:
        self._emit("error", error=exc.details(event_id))

    @property
    def _input_rate(self) -> int:
        return formats.input_rate(self.session["input_audio_format"], self.session["input_audio_sampling_rate"])

    def _add_item(self, item: Item, after: str | None = None) -> str | None:
        """Insert ``item`` after ``after`` ("root": first; None: last); returns the id of the item before it."""
        item_id = item.data["id"]
        index = len(self._order) if after is None else 0 if after == "root" else self._order.index(after) + 1
        previous = self._order[index - 1] if index > 0 else None
        self._order.insert(index, item_id)
        self._items[item_id] = item
        return previous

    def _find_item(self, event: dict[str, Any], key: str = "item_id") -> Item:
        item_id = _required(event, key, str)
        if item_id not in self._items:
            raise ClientError("invalid_value", f"Invalid '{key}': no conversation item with id '{item_id}'.", key)
        return self._items[item_id]

    # --- session -------------------------------------------------------------------------------

    def _session_update(self, event: dict[str, Any]) -> None:
        update = _required(event, "session", dict)
        old = self.session
        self.session = apply_update(old, update, audio_received=self.audio_received)
        if self.session["turn_detection"] != old["turn_detection"]:
            self._reset_turns()
            if self._activity is not None:
                self._activity.set_threshold(self._threshold)
        self._emit("session.updated", session=copy.deepcopy(self.session))

    @property
    def _threshold(self) -> float:
        td = self.session["turn_detection"]
        return float(td.get("threshold", 0.5)) if td else 0.5

    def _reset_turns(self) -> None:
        self._turns = None
        self._speech_item_id = None

    # --- input audio ---------------------------------------------------------------------------

    def _append(self, event: dict[str, Any]) -> None:
        audio = _required(event, "audio", str)
        try:
            raw = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise ClientError("invalid_value", "Invalid 'audio': expected base64-encoded audio bytes.", "audio") from None
        audio_format = self.session["input_audio_format"]
        if len(raw) % formats.bytes_per_sample(audio_format):
            raise ClientError(
                "invalid_value", f"Invalid 'audio': pcm16 audio must be whole 16-bit samples, got {len(raw)} bytes.", "audio"
            )
        channels = input_channels(self.session)
        if len(raw) % (2 * channels):
            raise ClientError(
                "invalid_value", f"Invalid 'audio': stereo pcm16 audio must be whole frames of 4 bytes, got {len(raw)} bytes.",
                "audio",
            )
        if not raw:
            return
        self.audio_received = True
        samples = formats.to_pcm16(audio_format, raw)
        rate = self._input_rate
        if channels == 2:
            # Channel 0 is the microphone, channel 1 what the client's speaker played: remove it first.
            if self._echo is None:
                self._echo = EchoCanceller(rate)
            samples = self._echo.process(samples[0::2], samples[1::2])
        if self._activity is None:
            self._activity = VoiceActivity(rate, self._threshold)
        self._buffer.extend(samples.astype("<i2").tobytes())
        decisions = self._activity.feed(samples)
        self._buffer_voiced_ms += sum(decisions) * FRAME_MS
        td = self.session["turn_detection"]
        if td is not None:
            if self._turns is None:
                # decisions cover whole frames ending at the new clock; start the detector where they begin
                self._turns = TurnDetector(
                    prefix_padding_ms=td["prefix_padding_ms"],
                    silence_duration_ms=td["silence_duration_ms"],
                    min_speech_ms=td.get("speech_duration_ms") or MIN_SPEECH_MS,
                    start_ms=self._activity.decided_ms - len(decisions) * FRAME_MS,
                )
            self._audio_ms += len(samples) * 1000 / rate
            for turn in self._turns.feed(decisions):
                if isinstance(turn, VadSpeechStarted):
                    self._speech_started(turn, td)
                else:
                    self._speech_stopped(turn, td)
        else:
            self._audio_ms += len(samples) * 1000 / rate

    def _speech_started(self, turn: VadSpeechStarted, td: dict[str, Any]) -> None:
        start = max(turn.audio_start_ms, int(self._buffer_start_ms))
        self._speech_item_id = self._new_id("item")
        self._speech_start_ms = start
        self._emit("input_audio_buffer.speech_started", audio_start_ms=start, item_id=self._speech_item_id)
        stream = self.active_response
        if stream is not None and td.get("interrupt_response", True):
            stream.cancel("turn_detected")
            self._pending_auto_response = False

    def _speech_stopped(self, turn: VadSpeechStopped, td: dict[str, Any]) -> None:
        item_id = self._speech_item_id or self._new_id("item")
        self._emit("input_audio_buffer.speech_stopped", audio_end_ms=turn.audio_end_ms, item_id=item_id)
        try:
            self._commit(until_ms=turn.audio_end_ms, from_ms=self._speech_start_ms, speech_ms=turn.speech_ms, item_id=item_id)
        except ClientError as exc:
            self._error(exc, None)
            return
        finally:
            self._speech_item_id = None
        if td.get("create_response", True):
            if self.active_response is None:
                self._start_response({})
            else:
                self._pending_auto_response = True

    def _commit_event(self, event: dict[str, Any]) -> None:
        item_id = self._speech_item_id
        self._commit(from_ms=self._speech_start_ms if item_id else None, item_id=item_id)
        self._reset_turns()

    def _commit(
        self, *, until_ms: float | None = None, from_ms: float | None = None, speech_ms: float | None = None, item_id: str | None = None
    ) -> None:
        rate = self._input_rate
        end_ms = self._audio_ms if until_ms is None else min(until_ms, self._audio_ms)
        length_ms = end_ms - self._buffer_start_ms
        if length_ms < MIN_COMMIT_MS:
            raise ClientError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of audio, "
                f"but buffer only has {max(length_ms, 0):.2f}ms of audio.",
            )
        cut = min(len(self._buffer), int(length_ms * rate / 1000) * 2)
        skip = 0 if from_ms is None else min(cut, int(max(0.0, from_ms - self._buffer_start_ms) * rate / 1000) * 2)
        item_ms = (cut - skip) / 2 * 1000 / rate
        del self._buffer[:cut]
        voiced = speech_ms if speech_ms is not None else min(self._buffer_voiced_ms, item_ms)
        self._buffer_voiced_ms = 0.0
        self._buffer_start_ms = end_ms
        transcript = self._transcripts[self._user_audio_count] if self._user_audio_count < len(self._transcripts) else None
        self._user_audio_count += 1
        item_id = item_id or self._new_id("item")
        data = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self._add_item(Item(data, audio_ms=item_ms, speech_ms=voiced, transcript=transcript))
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        self._emit("conversation.item.created", previous_item_id=previous, item=copy.deepcopy(data))
        if self.session["input_audio_transcription"] is not None:
            heard = transcript if transcript is not None else not_recognised(voiced)
            model = str(self.session["input_audio_transcription"].get("model", ""))
            for delta in transcript_deltas(model, heard):
                self._emit("conversation.item.input_audio_transcription.delta", item_id=item_id, content_index=0, delta=delta)
            self._emit(
                "conversation.item.input_audio_transcription.completed", item_id=item_id, content_index=0, transcript=heard
            )

    def _clear(self, event: dict[str, Any]) -> None:
        self._buffer.clear()
        self._buffer_start_ms = self._audio_ms
        self._buffer_voiced_ms = 0.0
        self._reset_turns()
        self._emit("input_audio_buffer.cleared")

    # --- conversation items ----------------------------------------------------------------------

    def _item_create(self, event: dict[str, Any]) -> None:
        raw = _required(event, "item", dict)
        after = event.get("previous_item_id")
        if after is not None:
            if not isinstance(after, str):
                raise invalid_type("previous_item_id", "a string", after)
            if after != "root" and after not in self._items:
                raise ClientError("invalid_value", f"Invalid 'previous_item_id': no conversation item with id '{after}'.", "previous_item_id")
        item = _check_item(raw, self._input_rate)
        item_id = raw.get("id") or self._new_id("item")
        if not isinstance(item_id, str):
            raise invalid_type("item.id", "a string", item_id)
        if item_id in self._items:
            raise ClientError("invalid_value", f"Invalid 'item.id': an item with id '{item_id}' already exists.", "item.id")
        data = {"id": item_id, "object": "realtime.item", **{k: v for k, v in item.data.items() if k != "id"}, "status": "completed"}
        item.data = data
        previous = self._add_item(item, after)
        self._emit("conversation.item.created", previous_item_id=previous, item=copy.deepcopy(data))

    def _item_retrieve(self, event: dict[str, Any]) -> None:
        item = self._find_item(event)
        self._emit("conversation.item.retrieved", item=copy.deepcopy(item.data))

    def _item_delete(self, event: dict[str, Any]) -> None:
        item = self._find_item(event)
        item_id = item.data["id"]
        del self._items[item_id]
        self._order.remove(item_id)
        self._emit("conversation.item.deleted", item_id=item_id)

    def _item_truncate(self, event: dict[str, Any]) -> None:
        item = self._find_item(event)
        content_index = _required(event, "content_index", int)
        audio_end_ms = _required(event, "audio_end_ms", int)
        if item.role != "assistant" or item.stream is None or not item.stream.audio:
            raise ClientError("invalid_value", "Only assistant messages with audio can be truncated.", "item_id")
        if content_index != 0:
            raise ClientError("invalid_value", f"Invalid 'content_index': {content_index}; the item has one content part (0).", "content_index")
        if audio_end_ms < 0:
            raise ClientError("invalid_value", "Invalid 'audio_end_ms': must not be negative.", "audio_end_ms")
        available = self._assistant_audio_ms(item)
        if audio_end_ms > available:
            raise ClientError(
                "invalid_value", f"Audio content of {int(available)}ms is already shorter than {audio_end_ms}ms.", "audio_end_ms"
            )
        if available:
            words = item.text.split()
            item.text = " ".join(words[: round(len(words) * audio_end_ms / available)])
        item.truncated_ms = audio_end_ms
        self._emit("conversation.item.truncated", item_id=item.data["id"], content_index=content_index, audio_end_ms=audio_end_ms)

    def _assistant_audio_ms(self, item: Item) -> float:
        stream = item.stream
        assert stream is not None
        if item.truncated_ms is not None:
            return item.truncated_ms
        if stream.status in ("cancelled", "failed"):
            return stream.sent_audio_ms
        return stream.audio_ms

    # --- responses -----------------------------------------------------------------------------

    def _response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response") or {}
        if not isinstance(params, dict):
            raise invalid_type("response", "an object", params)
        checked: dict[str, Any] = {}
        for key, value in params.items():
            if key == "pre_generated_assistant_message":
                checked[key] = _pre_generated_text(value) if value is not None else None
            elif key in RESPONSE_FIELD_CHECKS:
                checked[key] = RESPONSE_FIELD_CHECKS[key](value, f"response.{key}") if value is not None else None
            else:
                raise unknown_parameter(f"response.{key}")
        active = self.active_response
        if active is not None and checked.get("cancel_previous"):
            active.cancel("client_cancelled")
            active = None
        if active is not None:
            raise ClientError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {active.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        if checked.get("commit") and self._buffer:
            self._commit()
            self._reset_turns()
        self._start_response(checked)

    def _response_cancel(self, event: dict[str, Any]) -> None:
        response_id = event.get("response_id")
        if response_id is not None and not isinstance(response_id, str):
            raise invalid_type("response_id", "a string", response_id)
        stream = self.active_response
        if stream is None:
            raise ClientError("response_cancel_not_active", "Cancellation failed: no active response found.")
        if response_id is not None and response_id != stream.id:
            raise ClientError("invalid_value", f"Cancellation failed: response '{response_id}' is not active.", "response_id")
        stream.cancel("client_cancelled")
        self._pending_auto_response = False

    def _start_response(self, params: dict[str, Any]) -> None:
        text = params.get("pre_generated_assistant_message")
        if text is None and self._tool_call_due():
            self._start_tool_call(params)
            return
        answering_tool = text is None and self._answers_tool()
        if answering_tool:
            text = self._default_reply()
        if text is None:
            if self._reply_count < len(self._replies):
                text = self._replies[self._reply_count]
            else:
                text = self._default_reply()
            self._reply_count += 1
        in_conversation = params.get("conversation") != "none"
        item_id = self._new_id("item")
        stream = ResponseStream(
            response_id=self._new_id("resp"),
            item_id=item_id,
            text=text,
            **self._response_settings(params),
        )
        if in_conversation:
            data = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            self._add_item(Item(data, text=text, stream=stream))
        self._streams.append(stream)

    def _response_settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """What a response.create's parameters (falling back on the session's) say of the response."""
        session = self.session
        return {
            "modalities": params.get("modalities") or session["modalities"],
            "voice": params.get("voice") or session["voice"],
            "output_audio_format": params.get("output_audio_format") or session["output_audio_format"],
            "temperature": params.get("temperature") or session["temperature"],
            "max_output_tokens": params.get("max_output_tokens") or params.get("max_response_output_tokens")
            or session["max_response_output_tokens"],
            "conversation_id": self.conversation_id if params.get("conversation") != "none" else None,
            "metadata": params.get("metadata"),
            "input_usage": self._input_usage(params.get("instructions")),
            "chunk_ms": self._chunk_ms,
        }

    def _tool_call_due(self) -> bool:
        """A scripted tool call is left, and this response does not answer a tool's output."""
        return self._tool_call_count < len(self._tool_calls) and not self._answers_tool()

    def _answers_tool(self) -> bool:
        last = self._items[self._order[-1]] if self._order else None
        return last is not None and last.data.get("type") == "function_call_output"

    def _start_tool_call(self, params: dict[str, Any]) -> None:
        call = self._tool_calls[self._tool_call_count]
        self._tool_call_count += 1
        in_conversation = params.get("conversation") != "none"
        stream = ToolCallStream(
            call=call,
            call_id=self._new_id("call"),
            response_id=self._new_id("resp"),
            item_id=self._new_id("item"),
            **self._response_settings(params),
        )
        if in_conversation:
            self._add_item(Item(stream.item_data("in_progress", ""), stream=stream))
        self._streams.append(stream)

    def _response_finished(self, stream: ResponseStream) -> None:
        item = self._items.get(stream.item_id)
        if isinstance(stream, ToolCallStream):
            if item is not None:
                item.data.update(stream.item_data("completed" if stream.status == "completed" else "incomplete", stream.call.arguments))
        elif item is not None:  # in the conversation: remember what was said
            completed = stream.status == "completed"
            item.text = stream.text if completed else stream.spoken_text
            item.data["status"] = "completed" if completed else "incomplete"
            item.data["content"] = [{"type": "audio", "transcript": item.text} if stream.audio else {"type": "text", "text": item.text}]
        if self._pending_auto_response and self.active_response is None:
            self._pending_auto_response = False
            self._start_response({})

    def _default_reply(self) -> str:
        """A deterministic reply built from the latest user input."""
        for item_id in reversed(self._order):
            item = self._items[item_id]
            if item.data.get("type") == "function_call_output":
                return answer_from_output(item.text)
            if item.role != "user":
                continue
            heard = item.transcript if item.transcript is not None else item.text
            if heard:
                return f"You said: {heard.strip()}"
            if item.speech_ms > 0:
                return f"I heard {item.speech_ms / 1000:.1f} seconds of speech."
            return f"I heard {item.audio_ms / 1000:.1f} seconds of audio but no speech."
        return "Hello from the Voice Live emulator."

    def _input_usage(self, response_instructions: str | None) -> InputUsage:
        """What a new response reads: instructions and tool definitions (text), the conversation's audio
        (the visitor's and the assistant's earlier spoken replies) and text; the part an earlier response
        of this session read is cached."""
        text = text_tokens(self.session["instructions"]) + text_tokens(response_instructions or "")
        if self.session.get("tools"):
            text += text_tokens(json.dumps(self.session["tools"]).replace(",", " "))
        audio = 0.0
        for item_id in self._order:
            item = self._items[item_id]
            if item.stream is not None and item.stream.active:
                continue
            if item.role == "user" and item.data["content"] and item.data["content"][0].get("type") == "input_audio":
                audio += item.audio_ms / 1000 * AUDIO_TOKENS_PER_S_IN
            elif item.role == "assistant" and item.stream is not None and item.stream.audio:
                audio += self._assistant_audio_ms(item) / 1000 * AUDIO_TOKENS_PER_S_IN
            elif item.data.get("type") == "function_call":
                text += text_tokens(str(item.data.get("arguments") or "")) + 4
            else:
                text += text_tokens(item.text)
        usage = InputUsage(text_tokens=text, audio_tokens=round(audio)).cached_after(self._last_input)
        self._last_input = usage
        return usage


def _required(event: dict[str, Any], key: str, kind: type) -> Any:
    if event.get(key) is None:
        raise missing(key)
    value = event[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise invalid_type(key, {str: "a string", int: "an integer", dict: "an object"}[kind], value)
    return value


_PART_TYPES = {
    "user": ("input_text", "input_audio", "input_image"),
    "assistant": ("text", "output_text", "audio"),
    "system": ("input_text", "text"),
}


def _check_item(raw: dict[str, Any], rate: int) -> Item:
    """Validate a client-created item; returns an Item with its text content gathered."""
    kind = raw.get("type")
    if kind is None:
        raise missing("item.type")
    if kind == "message":
        role = raw.get("role")
        if role is None:
            raise missing("item.role")
        if role not in _PART_TYPES:
            raise invalid_value("item.role", role, tuple(_PART_TYPES))
        content = raw.get("content")
        if content is None:
            raise missing("item.content")
        if not isinstance(content, list):
            raise invalid_type("item.content", "an array", content)
        texts = []
        audio_ms = 0.0
        for i, part in enumerate(content):
            where = f"item.content[{i}]"
            if not isinstance(part, dict):
                raise invalid_type(where, "an object", part)
            part_type = part.get("type")
            if part_type not in _PART_TYPES[role]:
                raise invalid_value(f"{where}.type", part_type, _PART_TYPES[role])
            if part_type in ("input_text", "text", "output_text"):
                if not isinstance(part.get("text"), str):
                    raise missing(f"{where}.text")
                texts.append(part["text"])
            elif part_type in ("input_audio", "audio") and part.get("audio") is not None:
                try:
                    audio_ms += len(base64.b64decode(part["audio"], validate=True)) / 2 * 1000 / rate
                except (binascii.Error, ValueError, TypeError):
                    raise ClientError("invalid_value", f"Invalid '{where}.audio': expected base64-encoded audio bytes.", f"{where}.audio") from None
                if part.get("transcript"):
                    texts.append(part["transcript"])
        data = {"type": "message", "role": role, "content": copy.deepcopy(content)}
        return Item(data, audio_ms=audio_ms, text=" ".join(texts))
    if kind == "function_call_output":
        for key in ("call_id", "output"):
            if not isinstance(raw.get(key), str):
                raise missing(f"item.{key}")
        return Item({"type": kind, "call_id": raw["call_id"], "output": raw["output"]}, text=raw["output"])
    if kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            if not isinstance(raw.get(key), str):
                raise missing(f"item.{key}")
        return Item({"type": kind, "call_id": raw["call_id"], "name": raw["name"], "arguments": raw["arguments"]})
    raise invalid_value("item.type", kind, ("message", "function_call", "function_call_output"))


def _pre_generated_text(value: Any) -> str:
    param = "response.pre_generated_assistant_message"
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    if value.get("type", "message") != "message":
        raise invalid_value(f"{param}.type", value.get("type"), ("message",))
    if value.get("role", "assistant") != "assistant":
        raise invalid_value(f"{param}.role", value.get("role"), ("assistant",))
    content = value.get("content")
    if content is None:
        raise missing(f"{param}.content")
    if not isinstance(content, list) or not content:
        raise invalid_type(f"{param}.content", "a non-empty array", content)
    texts = []
    for i, part in enumerate(content):
        where = f"{param}.content[{i}]"
        if not isinstance(part, dict) or part.get("type") not in ("text", "output_text", "input_text"):
            raise invalid_value(f"{where}.type", part.get("type") if isinstance(part, dict) else part, ("text",))
        if not isinstance(part.get("text"), str):
            raise missing(f"{where}.text")
        texts.append(part["text"])
    return " ".join(texts)
