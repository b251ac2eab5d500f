"""The one error a bad client event raises, and the service-style messages for common cases."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ClientError(Exception):
    """A client event the service would refuse; becomes an ``error`` server event, session stays open."""

    def __init__(self, code: str, message: str, param: str | None = None, *, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.kind = kind

    def details(self, event_id: str | None) -> dict[str, Any]:
        """The ``error`` object of the error event; ``event_id`` names the client event at fault."""
        return {"type": self.kind, "code": self.code, "message": self.message, "param": self.param, "event_id": event_id}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def missing(param: str) -> ClientError:
    return ClientError("missing_required_parameter", f"Missing required parameter: '{param}'.", param)


def invalid_type(param: str, expected: str, value: Any) -> ClientError:
    return ClientError(
        "invalid_type", f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.", param
    )


def invalid_value(param: str, value: Any, allowed: Iterable[Any] | None = None, why: str = "") -> ClientError:
    message = f"Invalid value: {value!r}."
    if allowed is not None:
        message += " Supported values are: " + ", ".join(repr(a) for a in allowed) + "."
    if why:
        message += " " + why
    return ClientError("invalid_value", message, param)


def unknown_parameter(param: str) -> ClientError:
    return ClientError("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def out_of_range(param: str, value: float, low: float, high: float | None) -> ClientError:
    bound = f"between {low} and {high}" if high is not None else f"of at least {low}"
    kind = "decimal" if isinstance(value, float) else "integer"
    direction = "above_max" if high is not None and value > high else "below_min"
    return ClientError(f"{kind}_{direction}_value", f"Invalid '{param}': {value!r}. Expected a value {bound}.", param)
