"""The parts a config decides, in one bundle: built at start, and built anew and swapped in on reload."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from edgevoice.assistant import actions as A
from edgevoice.assistant.settings import AssistantSettings
from edgevoice.config.schema import Config
from edgevoice.daemon.leds import StatusLeds
from edgevoice.daemon.link import SessionFactory, SessionLink, TextDelta, Transcript
from edgevoice.daemon.sessions import CredentialWatch
from edgevoice.listening.buttons import Buttons
from edgevoice.listening.echo import EchoGuard
from edgevoice.listening.frontend import ListeningFrontend
from edgevoice.listening.presence import PresenceSensor
from edgevoice.offline.answers import OfflineAnswers
from edgevoice.offline.learned import LearnedAnswers
from edgevoice.offline.phrases import PhraseBook
from edgevoice.offline.shell import OfflineSupport
from edgevoice.playback.sound import Sound, load_chime
from edgevoice.tools.device import DeviceTools

logger = logging.getLogger(__name__)


def assistant_settings(config: Config) -> AssistantSettings:
    """The machine's settings: the [assistant] table, and who endpoints (server turn detection or the device)."""
    return AssistantSettings.from_config(
        config.assistant, server_turn_detection=config.voicelive.turn_detection.type != "none",
        offline_answers=bool(config.offline.answers) or config.offline.learn, presence=config.presence,
        over_budget=config.cost.over_budget,
    )


def listening_frontend(config: Config) -> ListeningFrontend:
    """The listening front-end for a config (what it sends depends on who endpoints, too)."""
    return ListeningFrontend.from_config(config.listening,
                                         server_endpointing=config.voicelive.turn_detection.type != "none",
                                         echo_reference=config.voicelive.echo_mode == "client")


@dataclass(frozen=True)
class LinkHooks:
    """What the session link tells the daemon: audio went out, a transcript came in."""

    on_audio_sent: Callable[[], None]
    on_transcript: Callable[[Transcript], None]
    on_connect: Callable[[str], None] | None = None  # each connection attempt's outcome (metrics)
    on_text_delta: Callable[[TextDelta], None] | None = None  # streamed words (captions)


@dataclass
class Parts:
    """Everything built from one config. A reload builds a whole new bundle (what can fail first)
    and swaps it in between turns once the old one is closed."""

    config: Config
    settings: AssistantSettings
    frontend: ListeningFrontend
    buttons: Buttons
    leds: StatusLeds
    echo_guard: EchoGuard
    tools: DeviceTools
    link: SessionLink
    credentials: CredentialWatch
    offline: OfflineSupport
    answers: OfflineAnswers
    presence: PresenceSensor
    chimes: dict[A.Chime, Sound] = field(default_factory=dict)

    @property
    def phrases(self) -> PhraseBook:
        return self.offline.phrases

    @classmethod
    def build(cls, config: Config, factory: SessionFactory, frontend: ListeningFrontend, *,
              post: Callable[..., None], clock: Callable[[], float], hooks: LinkHooks,
              pin_factory: object = None) -> Parts:
        """Build every part a config decides (the front-end and the session factory are given: they
        are what a config can fail on, so they are made first)."""
        buttons = Buttons.from_config(config.buttons, frontend, pin_factory=pin_factory)
        leds = StatusLeds(config.leds, pin_factory=pin_factory)
        presence = PresenceSensor.from_config(config.presence, post, pin_factory=pin_factory)
        # The knowledge index is brought up to date here: at start and on reload, never in a turn.
        tools = DeviceTools(config, post, pin_factory=pin_factory)
        link = SessionLink(
            tools.sessions(factory),
            post,
            output_rate=config.voicelive.output_sample_rate,
            on_audio_sent=hooks.on_audio_sent,
            on_transcript=hooks.on_transcript,
            on_connect=hooks.on_connect,
            on_text_delta=hooks.on_text_delta,
            answer_timeout_s=config.voicelive.connect_timeout_s,  # a silent session is a dead one
            stall_timeout_s=config.voicelive.stall_timeout_s,  # ... and so is a reply that stops
        )
        # Cached replies, connectivity, background checks and warming the cache (edgevoice.offline).
        offline = OfflineSupport(config, post=post, factory=factory, clock=clock)
        learned = (LearnedAnswers(config.offline.cache_dir, offline.voice, max_entries=config.offline.learn_max,
                                  min_count=config.offline.learn_min_count) if config.offline.learn else None)
        if learned is not None and config.voicelive.transcription.model == "none":
            logger.warning("offline.learn is on but [voicelive.transcription] model is none: without the user's "
                           "words nothing can be learned")
        answers = OfflineAnswers(config.offline, offline.phrases, post=post, clock=clock, learned=learned,
                                 rate=config.voicelive.output_sample_rate)
        chimes = {A.Chime(name): load_chime(name) for name in ("wake", "end")} if config.assistant.chimes else {}
        return cls(config=config, settings=assistant_settings(config), frontend=frontend, buttons=buttons,
                   leds=leds, echo_guard=EchoGuard.from_config(config.assistant), tools=tools, link=link,
                   credentials=CredentialWatch(factory, clock=clock),  # in the error state: retry once fixed
                   offline=offline, answers=answers, presence=presence, chimes=chimes)

    def close(self) -> None:
        """Release what the bundle holds (GPIO pins, the session, background work, the wake word model)."""
        self.offline.close()
        self.answers.close()
        self.link.close()
        self.tools.close()
        self.buttons.close()
        self.presence.close()
        self.leds.close()
        self.frontend.close()
