"""The ``openai`` package's realtime types as the oracle for the Azure OpenAI (GA) dialect.

``client_problems`` validates a client event against the ``RealtimeClientEventParam`` union with
unknown keys forbidden; ``server_problems`` validates a server event against ``RealtimeServerEvent``
and then walks the parsed models for fields the package does not know (its models keep extras).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError


@cache
def _client_adapter() -> TypeAdapter:
    from openai.types.realtime.realtime_client_event_param import RealtimeClientEventParam

    return TypeAdapter(RealtimeClientEventParam, config=ConfigDict(extra="forbid"))


@cache
def _server_models() -> dict[str, type[BaseModel]]:
    """The server event models of the union, by the value of their ``type`` field."""
    import typing

    from openai.types.realtime.realtime_server_event import RealtimeServerEvent

    union = typing.get_args(RealtimeServerEvent)[0]  # Annotated[Union[...], PropertyInfo]
    models: dict[str, type[BaseModel]] = {}
    for model in typing.get_args(union):
        for kind in typing.get_args(model.model_fields["type"].annotation):
            models[kind] = model
    return models


def client_problems(event: dict[str, Any]) -> list[str]:
    """Why the openai types would not accept ``event`` as a client event ([] when they do)."""
    try:
        _client_adapter().validate_python(event)
    except ValidationError as exc:
        # a union reports every member; the member named by the event's type is the one that matters
        wanted = "".join(part.capitalize() for part in str(event.get("type", "")).replace(".", "_").split("_"))
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors() if wanted.lower() in str(e["loc"][0]).lower()]
        return lines or [str(exc).splitlines()[0]]
    return []


def _extras(model: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(model, BaseModel):
        found += [f"{path}.{key}: not in {type(model).__name__}" for key in (model.model_extra or {})]
        for name in type(model).model_fields:
            found += _extras(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for i, value in enumerate(model):
            found += _extras(value, f"{path}[{i}]")
    return found


def server_problems(event: dict[str, Any]) -> list[str]:
    """Why ``event`` is not a server event the openai types model exactly ([] when it is)."""
    model = _server_models().get(str(event.get("type")))
    if model is None:
        return [f"{event.get('type')!r} is not a server event of the openai types"]
    try:
        parsed = model.model_validate(event)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()][:5]
    return _extras(parsed, "$")
