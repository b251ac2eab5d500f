"""The tools the model may call, and one safe way to call them: ``Toolbox.call(name, arguments)``.

``call`` never raises. An unknown name, arguments that are not a JSON object or miss a required
field, and a tool that raises all give a :class:`ToolResult` whose output says what went wrong,
so the model can tell the visitor and the conversation goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgevoice.voicelive.protocol.tools import function_tool

logger = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 4000  # what one tool says back to the model, at most


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool said (a JSON object for the model), which files it used, and whether it ends the conversation."""

    output: Mapping[str, Any]
    sources: tuple[str, ...] = ()
    ok: bool = True
    ends_conversation: bool = False

    @classmethod
    def failure(cls, message: str) -> ToolResult:
        return cls({"error": message}, ok=False)

    def output_json(self) -> str:
        text = json.dumps(self.output, ensure_ascii=False, separators=(",", ":"), default=str)
        if len(text) > MAX_OUTPUT_CHARS:
            text = json.dumps({"error": f"the tool's answer was too long ({len(text)} characters)"})
        return text


@dataclass(frozen=True)
class Tool:
    """One function the model may call: its declaration and what runs when it does."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    run: Callable[[Mapping[str, Any]], ToolResult] = field(repr=False)

    def declaration(self) -> dict[str, Any]:
        return function_tool(self.name, self.description, self.parameters)


def object_schema(properties: Mapping[str, Any] | None = None, required: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON Schema for an object with these properties."""
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties or {})}
    if required:
        schema["required"] = list(required)
    return schema


class Toolbox:
    """The device's tools by name (``tools``), plus the MCP servers only declared (``remote``)."""

    def __init__(self, tools: Sequence[Tool] = (), remote: Sequence[Mapping[str, Any]] = (),
                 closers: Sequence[Callable[[], None]] = ()) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self.remote = [dict(r) for r in remote]
        self._closers = list(closers)

    def declarations(self) -> list[dict[str, Any]]:
        """The ``tools`` of session.update: the device's functions, then the MCP servers."""
        return [tool.declaration() for tool in self.tools.values()] + [dict(r) for r in self.remote]

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def call(self, name: str, arguments: str) -> ToolResult:
        """Run tool ``name`` with ``arguments`` (JSON text); never raises."""
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            return ToolResult.failure(f"there is no tool named {name!r} on this device (tools: {known})")
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            return ToolResult.failure(f"the arguments for {name} are not valid JSON ({exc.msg} at character {exc.pos})")
        if not isinstance(args, dict):
            return ToolResult.failure(f"the arguments for {name} must be a JSON object, not {type(args).__name__}")
        problem = _argument_problem(tool.parameters, args)
        if problem is not None:
            return ToolResult.failure(f"{name}: {problem}")
        try:
            return tool.run(args)
        except Exception as exc:  # a tool's failure is the model's news, not the daemon's crash
            logger.warning("tool %s failed: %s: %s", name, type(exc).__name__, exc, exc_info=True)
            return ToolResult.failure(f"{name} failed on the device ({type(exc).__name__}: {exc})"[:300])

    def close(self) -> None:
        """Release what the tools hold (GPIO pins)."""
        for close in self._closers:
            try:
                close()
            except Exception:
                logger.exception("closing a tool failed")
        self._closers.clear()


_JSON_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


def _argument_problem(schema: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """The first way ``args`` breaks the (flat) schema: a missing field, an unknown one, a wrong type or value."""
    props = schema.get("properties", {})
    for key in schema.get("required", ()):
        if key not in args:
            return f"the argument {key!r} is missing"
    for key, value in args.items():
        spec = props.get(key)
        if spec is None:
            return f"there is no argument {key!r} (arguments: {', '.join(props) or 'none'})"
        kind = _JSON_TYPES.get(spec.get("type", ""))
        if kind is not None and not isinstance(value, kind):
            return f"the argument {key!r} must be a {spec['type']}"
        if "enum" in spec and value not in spec["enum"]:
            return f"the argument {key!r} must be one of {', '.join(map(str, spec['enum']))}, not {value!r}"
    return None
