"""Deciding, from the HTTP upgrade request alone, whether a connection may open (sans-I/O).

Checks in the service's order: path (404), credentials (401), ``api-version`` (400), ``model``
(400). The path chooses the dialect: ``/voice-live/realtime`` is Voice Live, ``/openai/v1/realtime``
is Azure OpenAI's GA realtime API (no ``api-version``; ``model`` names the deployment). Rejections carry a JSON body that says what is wrong, like the service's.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edgevoice.voicelive.emulator import ga
from edgevoice.voicelive.emulator.vocabulary import API_VERSIONS, PATH


@dataclass(frozen=True)
class Accepted:
    """The upgrade may proceed: the session's model and API version."""

    model: str
    api_version: str
    dialect: str = "voice-live"  # or "azure-openai" (the GA path)


@dataclass(frozen=True)
class Rejection:
    """Refuse the upgrade with this HTTP status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def message(self) -> str:
        return str(self.body.get("error", {}).get("message", ""))


_AUTH_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)

_FAULT_MESSAGES = {
    401: _AUTH_MESSAGE,
    403: "The principal does not have access to this resource (emulated fault).",
    429: "Requests to the Voice Live API have exceeded the rate limit of your current tier (emulated fault).",
    500: "The server had an error while processing your request (emulated fault).",
    502: "Bad gateway (emulated fault).",
    503: "The service is temporarily unavailable (emulated fault).",
    504: "Gateway timeout (emulated fault).",
}


def _error(status: int, code: str, message: str, *headers: tuple[str, str]) -> Rejection:
    return Rejection(status, {"error": {"code": code, "message": message}}, tuple(headers))


def check_request(target: str, api_keys: Sequence[str], bearer: Sequence[str], expected_key: str | None) -> Accepted | Rejection:
    """Judge an upgrade request.

    ``target`` is the request path with query; ``api_keys``/``bearer`` are the values of the
    ``api-key`` header and of ``Authorization: Bearer`` tokens. With ``expected_key`` None any
    non-empty credential passes (but one is still required); a bearer token is compared with
    the same key, since the emulator has no Entra ID.
    """
    url = urlsplit(target)
    path = url.path.rstrip("/")
    if path not in (PATH, ga.PATH):
        return _error(404, "404", "Resource not found")
    presented = [k for k in (*api_keys, *bearer) if k]
    if not presented or (expected_key is not None and not any(hmac.compare_digest(k.encode(), expected_key.encode()) for k in presented)):
        return _error(401, "401", _AUTH_MESSAGE)
    query = parse_qs(url.query)
    if path == ga.PATH:
        deployment = (query.get("model") or [""])[0].strip()
        if not deployment:
            return _error(400, "BadRequest", "The 'model' query parameter (the deployment name) is required.")
        return Accepted(model=deployment, api_version="v1", dialect="azure-openai")
    versions = query.get("api-version", [])
    if not versions or not versions[0]:
        return _error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
    if versions[0] not in API_VERSIONS:
        return _error(
            400,
            "UnsupportedApiVersion",
            f"The api-version '{versions[0]}' is not supported. Supported versions: {', '.join(API_VERSIONS)}.",
        )
    model = (query.get("model") or [""])[0].strip()
    if not model:
        return _error(400, "BadRequest", "The 'model' query parameter is required and must not be empty.")
    return Accepted(model=model, api_version=versions[0])


def fault_rejection(status: int, retry_after_s: int | None) -> Rejection:
    """The refusal an injected handshake fault sends (401/403/429/5xx, optionally with Retry-After)."""
    headers = (("Retry-After", str(retry_after_s)),) if retry_after_s is not None else ()
    return _error(status, str(status), _FAULT_MESSAGES.get(status, "Emulated failure."), *headers)


def bearer_tokens(authorization: Sequence[str]) -> list[str]:
    """The tokens of ``Authorization: Bearer <token>`` header values."""
    return [v[7:].strip() for v in authorization if v[:7].lower() == "bearer "]
