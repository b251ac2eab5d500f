"""Drive the pure assistant machine through event sequences and keep the books a shell would keep."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgevoice.assistant import actions as A
from edgevoice.assistant import events as E
from edgevoice.assistant.machine import start, step
from edgevoice.assistant.settings import AssistantSettings
from edgevoice.assistant.state import LED_FOR_STATE, Context, Led, State, Timer


@dataclass
class Conversation:
    """Feeds events to ``step`` and checks, after every step, what a real shell would rely on.

    It tracks the timers, gate, LEDs and microphone the way the shell would, and fails loudly if
    the machine cancels a timer that is not running, opens an open gate, or lets its own record
    drift from the actions it emitted.
    """

    settings: AssistantSettings = field(default_factory=AssistantSettings)
    ctx: Context = field(init=False)
    last: list[A.Action] = field(init=False, default_factory=list)
    log: list[tuple[E.Event, list[A.Action]]] = field(init=False, default_factory=list)
    timers: dict[Timer, int] = field(init=False, default_factory=dict)
    gate_open: bool = field(init=False, default=False)
    streaming: bool = field(init=False, default=False)
    led: Led | None = field(init=False, default=None)
    microphone: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        self.ctx, actions = start(self.settings)
        self._book(actions)

    @property
    def state(self) -> State:
        return self.ctx.state

    def send(self, *events: E.Event) -> list[A.Action]:
        """Feed events in order; return the actions of all of them (telemetry included)."""
        out: list[A.Action] = []
        for event in events:
            if isinstance(event, E.TimerFired) and self.timers.get(event.name) == event.timer_id:
                del self.timers[event.name]  # it ran out: the shell no longer runs it
            self.ctx, actions = step(self.ctx, event, self.settings)
            self.log.append((event, actions))
            self._book(actions)
            out.extend(actions)
        self.last = out
        return out

    def fire(self, name: Timer) -> list[A.Action]:
        """Let the running timer ``name`` run out."""
        assert name in self.timers, f"timer {name} is not running (running: {sorted(self.timers)})"
        return self.send(E.TimerFired(name, self.timers[name]))

    def _book(self, actions: list[A.Action]) -> None:
        for action in actions:
            match action:
                case A.StartTimer(name=name, timer_id=timer_id, seconds=seconds):
                    assert seconds >= 0
                    assert timer_id not in self.timers.values(), "timer ids must be fresh"
                    self.timers[name] = timer_id
                case A.CancelTimer(name=name, timer_id=timer_id):
                    assert self.timers.get(name) == timer_id, f"cancelled {name}#{timer_id}, running {self.timers}"
                    del self.timers[name]
                case A.StartStreaming():
                    assert not self.streaming
                    self.streaming = True
                case A.OpenGate():
                    assert self.streaming and not self.gate_open, "OpenGate comes once, after StartStreaming"
                    self.gate_open = True
                case A.CloseGate():
                    assert self.gate_open
                    self.gate_open = False
                case A.StopStreaming():
                    assert self.streaming and not self.gate_open, "StopStreaming comes after CloseGate"
                    self.streaming = False
                case A.SetLeds(led=led):
                    self.led = led
                case A.SetMicrophone(on=on):
                    self.microphone = on
                case A.Truncate(audio_end_ms=ms):
                    assert ms >= 0
        # The machine's own record must match what it told the shell.
        assert dict(self.ctx.timers) == self.timers, (self.ctx.timers, self.timers)
        assert self.ctx.gate_open == self.gate_open
        assert self.led == LED_FOR_STATE[self.ctx.state]
        if self.ctx.state is State.MUTED:
            assert not self.gate_open and not self.microphone
        else:
            assert self.microphone


def without_telemetry(actions: list[A.Action]) -> list[A.Action]:
    """The actions that change something (telemetry marks left out)."""
    return [a for a in actions if not isinstance(a, A.Telemetry)]


def of_type(actions: list[A.Action], *types: type) -> list[A.Action]:
    return [a for a in actions if isinstance(a, types)]


def marks(actions: list[A.Action]) -> list[str]:
    return [a.name.value for a in actions if isinstance(a, A.Telemetry) and a.name is not A.Mark.STATE]


def chunk(response_id: str = "resp_1", item_id: str = "item_1", ms: float = 500.0) -> E.ReplyAudio:
    """A reply audio chunk of ``ms`` milliseconds (16 kHz int16 silence)."""
    return E.ReplyAudio(response_id, item_id, ms, pcm=bytes(int(ms * 32)))
