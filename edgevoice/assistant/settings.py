"""The few numbers and choices the state machine needs, decoupled from the config file."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edgevoice.config.assistant import AssistantConfig
from edgevoice.config.presence import PresenceConfig


class BargeIn(StrEnum):
    """What interrupts a reply that is playing."""

    VAD = "vad"  # any speech the VAD hears (or, with server endpointing, the server's VAD)
    WAKE = "wake"  # only the wake word
    OFF = "off"  # nothing: the gate stays closed during playback


class Endpointing(StrEnum):
    """Who decides that the user finished speaking."""

    DEVICE = "device"  # the front-end; the machine commits and asks for the reply (turn_detection null)
    SERVER = "server"  # server_vad / azure_semantic_vad: the server commits and replies by itself


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """Settings for :func:`edgevoice.assistant.machine.step`; times in seconds."""

    follow_up_s: float = 5.0
    idle_timeout_s: float = 60.0
    barge_in: BargeIn = BargeIn.VAD
    endpointing: Endpointing = Endpointing.DEVICE
    chimes: bool = True
    max_listen_s: float = 30.0
    reply_timeout_s: float = 15.0
    offline_retry_s: float = 30.0
    error_retry_s: float = 300.0
    prewarm: bool = True
    offline_answers: bool = False  # [[offline.answers]] configured: recognise an offline question before apologising
    greeting: str = ""  # [presence] greeting: said once to each visitor who arrives ("" = none)
    listen_without_wake: bool = False  # [presence]: while someone is there, speech starts a turn
    leave_s: float = 20.0  # [presence]: nobody seen this long and the visitor has left
    max_announcements: int = 8  # announcements waiting for the turn to end; more are refused

    max_turns: int = 0  # turns in one session before the next turn starts a fresh one (0: no limit)
    max_context_tokens: int = 0  # input tokens of a reply after which the next turn starts afresh (0: no limit)
    carry_summary: bool = True  # a fresh session after a context limit starts with the last exchange
    over_budget: str = "warn"  # cost.over_budget: warn, cheaper_model or cached_only

    @classmethod
    def from_config(cls, config: AssistantConfig, *, server_turn_detection: bool, offline_answers: bool = False,
                    presence: PresenceConfig | None = None, over_budget: str = "warn") -> AssistantSettings:
        """Build from the [assistant] table; ``server_turn_detection``: [voicelive] turn detection is on;
        ``offline_answers``: [offline] has answers to give while the service cannot be reached."""
        return cls(
            follow_up_s=config.follow_up_s,
            idle_timeout_s=config.idle_timeout_s,
            barge_in=BargeIn(config.barge_in),
            endpointing=Endpointing.SERVER if server_turn_detection else Endpointing.DEVICE,
            chimes=config.chimes,
            max_listen_s=config.max_listen_s,
            reply_timeout_s=config.reply_timeout_s,
            offline_retry_s=config.offline_retry_s,
            error_retry_s=config.error_retry_s,
            prewarm=config.prewarm,
            offline_answers=offline_answers,
            **({} if presence is None else presence.machine_settings()),
            max_turns=config.max_turns_per_conversation,
            max_context_tokens=config.max_context_tokens,
            carry_summary=config.carry_summary,
            over_budget=over_budget,
        )

    @property
    def gate_open_while_replying(self) -> bool:
        """Keep streaming through the reply so the server's VAD (with its echo cancellation) can barge in."""
        return self.endpointing is Endpointing.SERVER and self.barge_in is BargeIn.VAD
