"""A local stand-in for the Azure Voice Live service (like Azurite for storage).

``Emulator`` serves the Voice Live realtime WebSocket protocol on loopback for tests and demos;
``FaultPlan`` makes it misbehave on purpose; ``Scenario``/``load_scenario`` read both (plus
scripted transcripts and replies) from a TOML or JSON file. The protocol logic itself lives in
the sans-I/O :class:`~edgevoice.voicelive.emulator.conversation.Conversation`.
"""

from edgevoice.voicelive.emulator.faults import FaultPlan, Scenario, load_scenario
from edgevoice.voicelive.emulator.server import Emulator, SessionRecord

__all__ = ["Emulator", "FaultPlan", "Scenario", "SessionRecord", "load_scenario"]
