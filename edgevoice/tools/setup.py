"""Build the toolbox and the session's tool declarations from the config."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edgevoice.config.errors import ConfigError
from edgevoice.config.schema import Config
from edgevoice.tools.builtin import end_conversation_tool, get_time_tool, search_knowledge_tool
from edgevoice.tools.gpio import GpioSwitch, gpio_tool
from edgevoice.tools.toolbox import Tool, Toolbox
from edgevoice.voicelive.protocol.tools import mcp_tool

if TYPE_CHECKING:  # the index (sqlite3) is loaded only when [knowledge] has paths
    from edgevoice.knowledge.index import KnowledgeIndex

logger = logging.getLogger(__name__)


def build_toolbox(config: Config, index: KnowledgeIndex | None, *, pin_factory: Any = None, gpio: bool = True) -> Toolbox:
    """The tools ``config`` declares; ``index`` is the opened knowledge index (None: no search).

    ConfigError (naming the key) when a GPIO device cannot be had (a pin in use, say).
    """
    tools: list[Tool] = []
    closers = []
    if index is not None:
        tools.append(search_knowledge_tool(index, config.knowledge))
    if config.tools.get_time:
        tools.append(get_time_tool())
    if config.tools.end_conversation:
        tools.append(end_conversation_tool())
    for i, device in enumerate(config.tools.gpio if gpio else ()):
        try:
            switch = GpioSwitch(device, pin_factory=pin_factory)
        except Exception as exc:  # gpiozero: pin in use, no such pin, no pin factory
            for close in closers:
                close()
            raise ConfigError(f"tools.gpio[{i}].pin", f"{device.pin!r} cannot be used for {device.name}: {exc}") from None
        closers.append(switch.close)
        tools.append(switch.tool())
    remote = [mcp_tool(m.server_label, m.server_url, allowed_tools=m.allowed_tools, require_approval=m.require_approval)
              for m in config.tools.mcp]
    return Toolbox(tools, remote, closers)


def declared_fields(config: Config) -> dict[str, Any]:
    """What ``session_fields`` will be for ``config``, without opening the index or any GPIO device
    (``edgevoice check``): every declared tool as if it could be had."""
    def not_here(_args: Any) -> Any:
        raise RuntimeError("declared only")

    tools: list[Tool] = []
    if config.knowledge.paths:
        tools.append(search_knowledge_tool(None, config.knowledge))  # type: ignore[arg-type] - never run
    if config.tools.get_time:
        tools.append(get_time_tool())
    if config.tools.end_conversation:
        tools.append(end_conversation_tool())
    tools += [gpio_tool(g, not_here) for g in config.tools.gpio]
    remote = [mcp_tool(m.server_label, m.server_url, allowed_tools=m.allowed_tools, require_approval=m.require_approval)
              for m in config.tools.mcp]
    return session_fields(config, Toolbox(tools, remote))


def session_fields(config: Config, toolbox: Toolbox) -> dict[str, Any]:
    """What the tools add to ``session.update``: ``tools``, ``tool_choice`` and, with knowledge, the
    instructions that say when to search (after the configured ones)."""
    declarations = toolbox.declarations()
    if not declarations:
        return {}
    fields: dict[str, Any] = {"tools": declarations, "tool_choice": "auto"}
    if "search_knowledge" in toolbox:
        base = config.voicelive.instructions.strip()
        fields["instructions"] = f"{base}\n\n{config.knowledge.instructions.strip()}".strip()
    return fields


class ToolSessions:
    """A session factory whose sessions declare the tools (wraps the configured factory)."""

    def __init__(self, factory: Any, fields: Mapping[str, Any]) -> None:
        self.factory = factory
        self.credential = getattr(factory, "credential", None)  # CredentialWatch looks at it
        self.fields = dict(fields)

    def __repr__(self) -> str:
        return f"<ToolSessions {self.factory!r} tools={len(self.fields.get('tools', ()))}>"

    def __call__(self, **callbacks: Any) -> Any:
        session = self.factory(**callbacks)
        if self.fields:
            session.extend_session(self.fields)
        return session
