"""Declare config keys as dataclass fields that carry their own rules and documentation.

Every section of the config file is a dataclass whose fields are made with :func:`setting`.
The loader reads the rules (range, allowed values) from the field metadata, so the schema,
the validation and the documentation live in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

# Metadata keys understood by the loader (edgevoice.config.load).
DOC = "doc"
MIN = "min"
MAX = "max"
CHOICES = "choices"
PARSE = "parse"

_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    doc: str = "",
    *,
    default_factory: Callable[[], Any] | Any = _MISSING,
    min: float | None = None,  # noqa: A002 - reads naturally at the call site
    max: float | None = None,  # noqa: A002
    choices: Sequence[Any] | None = None,
    parse: Callable[[Any, str], Any] | None = None,
) -> Any:
    """Declare one config key: its default, a one-line doc, and the values it accepts.

    ``parse(raw_value, key_path)``, when given, turns the raw TOML value into the field value
    and raises ``ConfigError`` itself for bad input (for keys such as ``voice`` that take a
    string or a table).
    """
    metadata: dict[str, Any] = {DOC: doc}
    if min is not None:
        metadata[MIN] = min
    if max is not None:
        metadata[MAX] = max
    if choices is not None:
        metadata[CHOICES] = tuple(choices)
    if parse is not None:
        metadata[PARSE] = parse
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
