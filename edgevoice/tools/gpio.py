"""GPIO tools: gpiozero output devices the model may switch, only with the actions declared for them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edgevoice.config.tools import GpioToolConfig
from edgevoice.tools.toolbox import Tool, ToolResult, object_schema


class GpioSwitch:
    """One declared output device (a light, a relay) as a tool: on, off or toggle."""

    def __init__(self, config: GpioToolConfig, *, pin_factory: Any = None) -> None:
        from gpiozero import DigitalOutputDevice  # imported only when GPIO tools are configured

        self.config = config
        self.device = DigitalOutputDevice(config.pin, active_high=config.active_high, initial_value=False,
                                          pin_factory=pin_factory)

    def run(self, args: Mapping[str, Any]) -> ToolResult:
        action = args["action"]
        getattr(self.device, action)()
        return ToolResult({"device": self.config.name, "action": action, "state": "on" if self.device.value else "off"})

    def tool(self) -> Tool:
        return gpio_tool(self.config, self.run)

    def close(self) -> None:
        self.device.close()


def gpio_tool(config: GpioToolConfig, run: Callable[[Mapping[str, Any]], ToolResult]) -> Tool:
    """The tool the model sees for one declared device: only its declared actions."""
    actions = list(config.actions)
    return Tool(
        config.name,
        f"Switch {config.description} ({', '.join(actions)}).",
        object_schema({"action": {"type": "string", "enum": actions}}, ["action"]),
        run,
    )
