"""The emulator calling tools, as the service does when the model decides to call a function.

``--tool-call NAME:JSON_ARGS`` (or ``tool_calls`` in a scenario) scripts the model's next
responses: instead of speaking, the n-th scripted response calls function NAME with those
arguments. On the wire that is ``response.created``, ``response.output_item.added`` (a
``function_call`` item), ``response.function_call_arguments.delta`` in small pieces, ``.done``,
``response.output_item.done`` and ``response.done``. The client then sends a
``function_call_output`` item and ``response.create``; the emulator's answer is built from that
output (:func:`answer_from_output`), so a test can hear what the tool returned.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from edgevoice.voicelive.emulator.response import ResponseStream

ARGUMENT_DELTA_CHARS = 12  # the model streams its arguments in small pieces, like tokens
MAX_ANSWER_WORDS = 40  # an answer read from a tool's output stays a spoken sentence or two
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class ToolCall:
    """One scripted function call: the tool's ``name`` and its ``arguments`` as JSON text."""

    name: str
    arguments: str = "{}"


def parse_tool_call(spec: str) -> ToolCall:
    """``NAME:JSON_ARGS`` (``NAME`` alone means no arguments) -> ToolCall; ValueError says what is wrong.

    The arguments are kept as given when they are JSON (a model may call with malformed arguments,
    and the emulator can script that too: ``NAME:!not json`` sends ``not json`` verbatim).
    """
    name, sep, args = spec.partition(":")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ValueError(f"tool call {spec!r}: the name must be 1-64 letters, digits, _ or - (NAME:JSON_ARGS)")
    if not sep or not args.strip():
        return ToolCall(name, "{}")
    if args.startswith("!"):
        return ToolCall(name, args[1:])  # deliberately malformed arguments, sent as written
    try:
        json.loads(args)
    except ValueError as exc:
        raise ValueError(f"tool call {spec!r}: the arguments are not JSON ({exc}); prefix them with ! to send them anyway") from None
    return ToolCall(name, args)


class ToolCallStream(ResponseStream):
    """A response in which the model calls a function instead of speaking (no content parts)."""

    def __init__(self, *, call: ToolCall, call_id: str, **kwargs: Any) -> None:
        self.call = call
        self.call_id = call_id
        super().__init__(text="", **kwargs)
        self.audio = False
        self._ready = deque(
            [
                {"type": "response.created", "response": {**self._head, "status": "in_progress", "status_details": None, "output": [], "usage": None}},
                {"type": "response.output_item.added", "response_id": self.id, "output_index": 0, "item": self.item_data("in_progress", "")},
            ]
        )
        self._body = self._arguments()

    def item_data(self, status: str, arguments: str) -> dict[str, Any]:
        """The ``function_call`` item in the shape the service sends."""
        return {
            "id": self.item_id, "object": "realtime.item", "type": "function_call", "status": status,
            "name": self.call.name, "call_id": self.call_id, "arguments": arguments,
        }

    def _where(self) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": self.item_id, "output_index": 0, "call_id": self.call_id}

    def _arguments(self) -> Iterator[dict[str, Any]]:
        args = self.call.arguments
        for start in range(0, len(args), ARGUMENT_DELTA_CHARS):
            yield {"type": "response.function_call_arguments.delta", **self._where(), "delta": args[start : start + ARGUMENT_DELTA_CHARS]}
        yield {"type": "response.function_call_arguments.done", **self._where(), "name": self.call.name, "arguments": args}

    def _finish(self, status: str, details: dict[str, Any] | None) -> None:
        self.status = status
        self._tail_queued = True
        item = self.item_data("completed" if status == "completed" else "incomplete", self.call.arguments)
        self._ready.append({"type": "response.output_item.done", "response_id": self.id, "output_index": 0, "item": item})
        self._ready.append(
            {
                "type": "response.done",
                "response": {**self._head, "status": status, "status_details": details, "output": [item], "usage": self._usage(self.call.arguments)},
            }
        )


def answer_from_output(output: str) -> str:
    """What the emulator says after a tool answered: the output read out, in a sentence or two.

    An ``error`` in the output is said as a failure; ``passages`` (search results) are read from
    the first one's text; other JSON objects are read as "key value" pairs. The emulator cannot
    think, so it repeats what the tool said rather than inventing an answer.
    """
    try:
        data = json.loads(output)
    except ValueError:
        return _words(f"The tool answered: {output}")
    if isinstance(data, dict):
        if data.get("error"):
            return _words(f"The tool failed: {data['error']}")
        passages = data.get("passages")
        if isinstance(passages, list):
            if not passages:
                return "I found nothing about that."
            first = passages[0]
            text = first.get("text", "") if isinstance(first, dict) else str(first)
            return _words(f"I found this: {text}")
        pairs = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in data.items() if isinstance(v, (str, int, float, bool)))
        return _words(f"The tool answered: {pairs}" if pairs else f"The tool answered: {output}")
    return _words(f"The tool answered: {output}")


def _words(text: str) -> str:
    words = text.split()
    return " ".join(words[:MAX_ANSWER_WORDS])
