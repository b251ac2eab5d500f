"""The [assistant] and [leds] tables: how a conversation flows, and which LEDs show it."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from edgevoice.config.errors import ConfigError
from edgevoice.config.fields import setting

BARGE_IN_MODES = ("vad", "wake", "off")


@dataclass(frozen=True)
class AssistantConfig:
    """Conversation timing, barge-in and feedback sounds."""

    follow_up_s: float = setting(
        5.0, "after a reply, listen this long for a follow-up without the wake word (0: off)", min=0, max=60
    )
    idle_timeout_s: float = setting(
        60.0, "close the session after this much quiet; the next person gets a fresh one", min=5, max=3600
    )
    barge_in: str = setting(
        "vad",
        "interrupt the reply when the user speaks (vad), says the wake word (wake), or never (off)",
        choices=BARGE_IN_MODES,
    )
    barge_in_min_speech_ms: int = setting(
        80,
        "while a reply plays, speech must last this long (ms) before it interrupts (barge_in = vad, "
        "device endpointing): a click or a knock does not",
        min=10, max=2000,
    )
    echo_coupling_db: float = setting(
        -20.0,
        "how loud the microphone hears the speaker, in dB relative to what is played (-20: 20 dB quieter); "
        "raise it if the kiosk interrupts itself",
        min=-80, max=40,
    )
    barge_in_margin_db: float = setting(
        6.0, "while a reply plays, speech must be this much (dB) louder than the expected echo to interrupt",
        min=0, max=40,
    )
    chimes: bool = setting(True, "play a chime when listening starts and ends")
    volume: float = setting(1.0, "speaker volume, 0 (silent) to 1 (as received)", min=0, max=1)
    max_listen_s: float = setting(30.0, "longest one utterance may last before it is sent anyway", min=2, max=300)
    reply_timeout_s: float = setting(
        15.0, "longest wait for a reply to start, or for more of it while it plays, before apologising", min=2, max=120
    )
    offline_retry_s: float = setting(
        30.0, "after a spare session was lost, wait this long before opening another", min=1, max=3600
    )
    error_retry_s: float = setting(
        300.0, "after the service refused the credentials, wait this long before trying again", min=10, max=86400
    )
    prewarm: bool = setting(True, "keep a spare session open so the next wake skips the connect time")
    max_turns_per_conversation: int = setting(
        0, "after this many replies in one session, the next turn starts a fresh one (0: no limit)", min=0, max=1000
    )
    max_context_tokens: int = setting(
        0, "once a reply's input (the conversation so far) reaches this many tokens, the next turn starts a fresh "
        "session (0: no limit)", min=0, max=1_000_000,
    )
    carry_summary: bool = setting(
        True, "a fresh session after a context limit starts with the last exchange, as text (false: forget everything)"
    )


# gpiozero pin names: 17, "17", "GPIO17", "BCM17", "BOARD11", "J8:11", "WPI0".
_PIN_NAME = re.compile(r"^(?:GPIO|BCM|BOARD|J8:|WPI)?\d{1,2}$", re.IGNORECASE)


def parse_pin(raw: Any, key: str) -> int | str | None:
    """A GPIO pin as gpiozero names it: a BCM number 0-27 or a name such as "GPIO17" or "BOARD11"."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ConfigError(key, f"expected a GPIO pin number or name, got {raw!r}")
    if isinstance(raw, int):
        if not 0 <= raw <= 27:
            raise ConfigError(key, f"GPIO {raw} does not exist; BCM numbers run from 0 to 27")
        return raw
    if isinstance(raw, str) and _PIN_NAME.match(raw.strip()):
        return raw.strip()
    raise ConfigError(key, f"expected a GPIO pin such as 17, \"GPIO17\" or \"BOARD11\", got {raw!r}")


@dataclass(frozen=True)
class LedsConfig:
    """One LED (or none) per state; several states may share a pin."""

    listening: int | str | None = setting(
        None, "LED lit while listening (also during the follow-up window)", parse=parse_pin
    )
    thinking: int | str | None = setting(None, "LED lit while waiting for the reply", parse=parse_pin)
    speaking: int | str | None = setting(None, "LED lit while the reply plays", parse=parse_pin)
    muted: int | str | None = setting(None, "LED lit while the mute switch is on", parse=parse_pin)
    offline: int | str | None = setting(None, "LED lit while the service cannot be reached", parse=parse_pin)
    error: int | str | None = setting(None, "LED lit while the service refuses the credentials", parse=parse_pin)
    active_high: bool = setting(True, "true if a pin driven high lights its LED")

    def pins(self) -> dict[str, int | str]:
        """The configured pins by state name (states without an LED left out)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "active_high" and getattr(self, f.name) is not None
        }
