"""GPIO tools on gpiozero's MockFactory, in the real daemon (in-process, so the pins can be read):
a switched light, a relay board that fails, a slow buzzer that outlasts ``tools.timeout_s`` while
the visitor interrupts with the push-to-talk button."""

from __future__ import annotations

import dataclasses

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import KEY, SPEECH, AudioCues, InProcessDaemon, Recordings, Say, Scene, recordings, write_config  # noqa: F401
from gpiozero.pins.mock import MockFactory, MockPin

from edgevoice.config.load import load_config, parse_config
from edgevoice.config.errors import ConfigError
from edgevoice.tools.gpio import GpioSwitch
from edgevoice.voicelive.emulator import Emulator
from edgevoice.voicelive.emulator.faults import FaultPlan
from edgevoice.voicelive.emulator.tool_calls import ToolCall

LIGHTS, RELAY, BUZZER, PTT = 26, 20, 21, 17
SLOW_S = 3.0
WAKE, QUESTION = "okay nabu", "switch it on please"

GPIO_TOML = f"""
[tools]
timeout_s = 1.0

[[tools.gpio]]
name = "lights"
pin = {LIGHTS}
description = "the display case lights"
actions = ["on", "off"]

[[tools.gpio]]
name = "relay"
pin = {RELAY}
description = "the door relay"
actions = ["on"]

[[tools.gpio]]
name = "buzzer"
pin = {BUZZER}
description = "the shop bell"
actions = ["on", "off", "toggle"]
"""


class KioskPin(MockPin):
    """Mock pins wired like a kiosk under test: the relay board does not answer (hardware fault),
    the buzzer's driver takes seconds to switch on; ``buzzer_busy`` is set when it starts to."""

    buzzer_busy = threading.Event()

    def _set_state(self, value: Any) -> None:
        if value and self._number == RELAY:
            raise OSError("relay board not answering")
        if value and self._number == BUZZER:
            KioskPin.buzzer_busy.set()
            time.sleep(SLOW_S)
        super()._set_state(value)


def test_a_switch_does_only_what_was_declared():
    factory = MockFactory()
    config = parse_config('[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n' + GPIO_TOML, "<t>")
    switch = GpioSwitch(config.tools.gpio[0], pin_factory=factory)
    tool = switch.tool()
    assert tool.parameters["properties"]["action"]["enum"] == ["on", "off"]
    assert switch.run({"action": "on"}).output == {"device": "lights", "action": "on", "state": "on"}
    assert factory.pin(LIGHTS).state
    switch.close()


def test_gpio_config_is_checked():
    base = '[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n'
    with pytest.raises(ConfigError, match=r"tools.gpio\[0\].actions.*'explode'"):
        parse_config(base + '[[tools.gpio]]\nname = "x"\npin = 5\ndescription = "d"\nactions = ["explode"]\n', "<t>")
    with pytest.raises(ConfigError, match=r"built-in"):
        parse_config(base + '[[tools.gpio]]\nname = "get_time"\npin = 5\ndescription = "d"\n', "<t>")
    with pytest.raises(ConfigError, match=r"tools.timeout_s.*not shorter than assistant.reply_timeout_s"):
        parse_config(base + "[assistant]\nreply_timeout_s = 10\n[tools]\ntimeout_s = 12\n", "<t>")
    with pytest.raises(ConfigError, match=r"tools.mcp\[0\].server_url.*https"):
        parse_config(base + '[[tools.mcp]]\nserver_label = "x"\nserver_url = "http://m.example.com"\n', "<t>")


@dataclass
class Driven:
    """One in-process run of this module, driven to its end: what its test then checks."""

    run: InProcessDaemon
    emu: Emulator
    factory: MockFactory


@pytest.fixture(scope="module")
def driven(recordings: Recordings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # noqa: F811
    """Both real-time runs of this module at once (about 30 s each), each set up and driven on a thread
    of its own; a run that went wrong keeps its exception, for its test to raise."""
    scenes = {
        "switch": recordings.make("gpio-tools", 30.0, Say(0.5, WAKE), Say(2.2, QUESTION), Say(11.0, WAKE),
                                  Say(12.7, QUESTION), Say(22.0, WAKE), Say(23.7, QUESTION)),
        "interrupted": recordings.make("gpio-interrupted", 24.0, Say(0.5, WAKE), Say(2.2, QUESTION), Say(19.0, WAKE),
                                       Say(20.7, "what time is it")),
    }
    bases = {name: tmp_path_factory.mktemp(f"gpio-{name}") for name in scenes}
    emulators: list[Emulator] = []
    results: dict[str, Any] = {}

    def started(emu: Emulator) -> Emulator:
        emulators.append(emu.start())
        return emu

    def drive(name: str, how: Callable[[Scene, Path, Callable[[Emulator], Emulator]], Driven]) -> None:
        try:
            results[name] = how(scenes[name], bases[name], started)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            results[name] = exc

    threads = [threading.Thread(target=drive, args=(name, how), name=f"gpio-{name}")
               for name, how in (("switch", drive_switch_fail_and_time_out), ("interrupted", drive_interrupted_call))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    try:
        yield results
    finally:
        for emu in emulators:
            emu.stop()


def finished(driven: dict[str, Any], name: str) -> Driven:
    result = driven.get(name)
    if isinstance(result, BaseException):
        raise result
    assert result is not None, f"the run {name!r} did not finish"
    return result


def drive_switch_fail_and_time_out(scene: Scene, base: Path, started: Callable[[Emulator], Emulator]) -> Driven:
    """Three turns, three tools: the lights switch, the relay board fails, the buzzer's driver hangs
    while the visitor presses the button."""
    calls = (ToolCall("lights", '{"action": "on"}'), ToolCall("relay", '{"action": "on"}'), ToolCall("buzzer", '{"action": "on"}'))
    emu = started(Emulator(api_key=KEY, speech=SPEECH, tool_calls=calls))
    path = write_config(base / "edgevoice.toml", emu.url, tables={"assistant": {"follow_up_s": 1.0},
                                                                  "buttons": {"push_to_talk_pin": PTT}})
    path.write_text(path.read_text() + GPIO_TOML)
    config = load_config(path)
    factory = MockFactory(pin_class=KioskPin)
    KioskPin.buzzer_busy.clear()
    run = InProcessDaemon(config, scene.path, base, factory)
    with run:
        # Turn 3: while the buzzer's driver hangs, the visitor presses the button to say something else.
        assert KioskPin.buzzer_busy.wait(60), "the buzzer tool never ran"
        factory.pin(PTT).drive_low()
        time.sleep(0.3)
        factory.pin(PTT).drive_high()
    return Driven(run, emu, factory)


def test_gpio_tools_switch_fail_and_time_out_and_the_conversation_goes_on(driven: dict[str, Driven]) -> None:
    done = finished(driven, "switch")
    run, emu, factory = done.run, done.emu, done.factory
    assert run.codes == [0]
    events = run.events()
    tools = events.named("tool_call")
    # The buzzer's timeout is marked in turn 4: the button's turn had begun by then.
    assert [(t["turn"], t["name"], t["ok"]) for t in tools] == [(1, "lights", True), (2, "relay", False), (4, "buzzer", False)]
    assert factory.pin(LIGHTS).state is True  # the light the model switched on is on
    assert factory.pin(RELAY).state is False
    outputs = [json.loads(e["item"]["output"]) for s in emu.sessions for e in s.events("conversation.item.create")
               if e["item"]["type"] == "function_call_output"]
    assert outputs[0] == {"device": "lights", "action": "on", "state": "on"}
    assert "relay board not answering" in outputs[1]["error"]
    assert "took longer than 1 s" in outputs[2]["error"]
    assert tools[2]["ms"] < SLOW_S * 1000  # answered at the timeout, not when the driver came back
    texts = [r["text"] for r in events.named("reply_text")]
    assert texts[0] == "The tool answered: device lights, action on, state on"
    assert texts[1].startswith("The tool failed: relay failed on the device (OSError: relay board not answering)")
    # The button took the turn: the buzzer's late answer asked for no reply (no response.create after it).
    session = emu.sessions[-1]
    kinds = [e["type"] for e in session.client_events if e["type"] != "input_audio_buffer.append"]
    last_output = max(i for i, e in enumerate(session.client_events)
                      if e["type"] == "conversation.item.create" and "took longer" in e["item"].get("output", ""))
    after = [e["type"] for e in session.client_events[last_output + 1:] if e["type"] != "input_audio_buffer.append"]
    assert "response.create" not in after[:1], kinds
    assert len(texts) == 2, texts


def drive_interrupted_call(scene: Scene, base: Path, started: Callable[[Emulator], Emulator]) -> Driven:
    """The visitor presses the button while the model's call is on its way (a slow server: every
    event waits 1 s): the call's last piece arrives after the barge-in cancelled its reply. The call
    is not carried out, it gets an output saying why, and the next question is answered."""
    # Only the first session is slow; the idle reset (5 s) gives the next question a fresh one.
    emu = started(Emulator(api_key=KEY, speech=SPEECH, tool_calls=(ToolCall("lights", '{"action": "on"}'),),
                           faults=FaultPlan(event_delay_ms=1000, connections=1)))
    path = write_config(base / "edgevoice.toml", emu.url, tables={
        "assistant": {"follow_up_s": 1.0, "reply_timeout_s": 20.0, "idle_timeout_s": 5.0},
        "buttons": {"push_to_talk_pin": PTT},
        "voicelive": {"connect_timeout_s": 5.0, "stall_timeout_s": 5.0},  # the slow server is not a dead one
    })
    path.write_text(path.read_text() + GPIO_TOML)
    config = load_config(path)
    # No transcript: its word-by-word deltas, a second each on this server, would hold the call back.
    config = dataclasses.replace(config, voicelive=dataclasses.replace(
        config.voicelive, transcription=dataclasses.replace(config.voicelive.transcription, model="none")))
    factory = MockFactory()
    run = InProcessDaemon(config, scene.path, base, factory)
    cues = AudioCues(run.daemon)
    with run:
        # The arguments' last piece has gone out (16 characters: two pieces); their end
        # (response.function_call_arguments.done) is already on its way, 1 s behind: the visitor
        # presses the button now, and lets go half a second later.
        emu.wait_until(lambda e: any(s.server_events.count("response.function_call_arguments.delta") == 2
                                     for s in e.sessions), timeout=60)
        pressed_at = run.daemon.frontend.t
        cues.at(pressed_at, factory.pin(PTT).drive_low).at(pressed_at + 0.5, factory.pin(PTT).drive_high)
        assert pressed_at < 14.0, "the call came too late for this recording"
        assert cues.done.wait(timeout=30), "the daemon never reached the release"
    return Driven(run, emu, factory)


def test_a_tool_call_from_a_reply_the_visitor_interrupted_is_answered_not_run(driven: dict[str, Driven]) -> None:
    done = finished(driven, "interrupted")
    run, emu, factory = done.run, done.emu, done.factory
    assert run.codes == [0]
    events = run.events()
    # Each new session replays the emulator's script, so the next question (a fresh session after the
    # idle reset) calls the switch again, and that call is carried out.
    calls = events.named("tool_call")
    assert [(c["turn"], c["name"], c["ok"]) for c in calls] == [(2, "lights", False), (3, "lights", True)], calls
    assert "interrupted" in calls[0]["error"] and calls[0]["ms"] == 0.0
    assert emu.sessions[0].events("response.cancel")
    outputs = [json.loads(e["item"]["output"]) for s in emu.sessions for e in s.events("conversation.item.create")
               if e["item"]["type"] == "function_call_output"]
    assert outputs == [{"error": "not run: the visitor interrupted this reply"},
                       {"device": "lights", "action": "on", "state": "on"}]
    # The interrupted call did not switch the light: it went on once, in the last turn.
    assert [state.state for state in factory.pin(LIGHTS).states[1:]] == [True]
    assert events.named("reply_text", 3) and events.named("playback_start", 3), events.summary()
