"""Tool declarations for ``session.update``, in the Voice Live wire shape; sans I/O.

A *function* tool is run by the client (edgevoice answers the call with a ``function_call_output``
item); an *MCP* tool names a remote MCP server that the service itself calls. Shapes follow the
``azure-ai-voicelive`` SDK models ``FunctionTool`` and ``MCPServer``;
``tests/test_protocol_tools.py`` checks them against the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["APPROVALS", "TOOL_NAME", "function_tool", "mcp_tool"]

#: What a function's name may be (the service's rule for function names).
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: ``require_approval`` values the SDK's ``MCPApprovalType`` knows.
APPROVALS = ("never", "always")


def function_tool(name: str, description: str, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{type: "function", name, description, parameters}``; ``parameters`` is a JSON Schema object."""
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise ValueError(f"a function tool's name must be 1-64 letters, digits, _ or -, not {name!r}")
    schema = dict(parameters) if parameters is not None else {"type": "object", "properties": {}}
    if schema.get("type") != "object":
        raise ValueError(f"tool {name}: parameters must be a JSON Schema of type 'object'")
    return {"type": "function", "name": name, "description": str(description), "parameters": schema}


def mcp_tool(
    server_label: str,
    server_url: str,
    *,
    allowed_tools: Sequence[str] = (),
    require_approval: str = "never",
) -> dict[str, Any]:
    """``{type: "mcp", server_label, server_url, allowed_tools?, require_approval}`` for the service to call."""
    if require_approval not in APPROVALS:
        raise ValueError(f"require_approval must be one of {', '.join(APPROVALS)}, not {require_approval!r}")
    tool: dict[str, Any] = {"type": "mcp", "server_label": server_label, "server_url": server_url}
    if allowed_tools:
        tool["allowed_tools"] = list(allowed_tools)
    tool["require_approval"] = require_approval
    return tool
