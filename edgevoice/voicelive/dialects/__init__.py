"""The services edgevoice speaks to, one pure module each; ``[voicelive] service`` picks one.

To add a service: write one module beside these (a :class:`~edgevoice.voicelive.dialects.base.Dialect`
subclass and its ``DIALECT``) and add it to ``DIALECTS`` below.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from edgevoice.voicelive.dialects import azure_openai, voice_live
from edgevoice.voicelive.dialects.base import Dialect

DIALECTS: Mapping[str, Dialect] = MappingProxyType({d.name: d for d in (voice_live.DIALECT, azure_openai.DIALECT)})

__all__ = ["DIALECTS", "Dialect", "dialect_for"]


def dialect_for(name: str) -> Dialect:
    """The dialect called ``name`` (a KeyError names the known ones)."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise KeyError(f"no service dialect {name!r}; known: {', '.join(DIALECTS)}") from None
