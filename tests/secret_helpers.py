"""A planted API key and the check that it leaked nowhere: for the reliability and security tests.

The key looks like a real Azure key (32 hex digits) with a marker, so a leak is unmistakable. A
leak is the whole key, its URL-quoted or base64 form, or any 12-character piece of it (a log line
cut short, a key split across two fields).
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The secret every reliability test plants; it must never show up anywhere the tests can read.
PLANTED_KEY = "3f9c1e7ab24d4e08a6c5PLANTED0b17de92f4c8"

_PIECE = 12


def leak_forms(key: str = PLANTED_KEY) -> set[str]:
    """Every form of ``key`` whose presence in a text counts as a leak."""
    forms = {key, urllib.parse.quote(key, safe=""), base64.b64encode(key.encode()).decode()}
    forms |= {key[i:i + _PIECE] for i in range(len(key) - _PIECE + 1)}
    return forms


def leaks(text: str, key: str = PLANTED_KEY) -> list[str]:
    """The forms of ``key`` found in ``text`` (empty when it is clean)."""
    return sorted(form for form in leak_forms(key) if form in text)


def texts_of(value: Any) -> Iterable[str]:
    """Every string inside ``value`` (nested dicts, lists, tuples), keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from texts_of(k)
            yield from texts_of(v)
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            yield from texts_of(v)
    elif value is not None:
        yield repr(value)


def assert_no_leak(where: str, *values: Any, key: str = PLANTED_KEY) -> None:
    """Fail, naming ``where`` and the context of the first hit, if ``key`` appears in any of ``values``."""
    for value in values:
        for text in texts_of(value):
            found = leaks(text, key)
            if found:
                at = text.find(found[0])
                context = text[max(0, at - 80):at + 80].replace(key, "<KEY>")
                raise AssertionError(f"the planted API key leaked into {where}: ...{context}...")


def assert_no_leak_in_files(*paths: Path, key: str = PLANTED_KEY) -> None:
    """``assert_no_leak`` over the bytes of files (logs, events files, caches); missing files are skipped."""
    for path in paths:
        if path.is_file():
            assert_no_leak(str(path), path.read_bytes(), key=key)
