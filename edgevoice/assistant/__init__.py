"""The assistant's behaviour as a pure state machine: events in, actions out.

``step(context, event, settings)`` (in :mod:`edgevoice.assistant.machine`) holds every rule of a
conversation: wake, stream, commit, reply, barge-in, follow-up, idle, mute, offline, errors.
Threads, devices and sockets live in the daemon's thin shell, which feeds it events and carries
out its actions.
"""

from edgevoice.assistant.machine import start, step
from edgevoice.assistant.settings import AssistantSettings, BargeIn, Endpointing
from edgevoice.assistant.state import Context, Led, State, Timer

__all__ = ["AssistantSettings", "BargeIn", "Context", "Endpointing", "Led", "State", "Timer", "start", "step"]
