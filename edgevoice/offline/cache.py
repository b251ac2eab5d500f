"""The phrase cache on disk: audio rendered in the assistant's voice, checked before it is trusted.

Layout of the cache directory (default /var/cache/edgevoice, the service's CacheDirectory=)::

    manifest.json          {"version": 1, "entries": {KEY: {name, text, voice, model, output_audio_format,
                                                            file, sha256, rate, bytes, rendered_at}}}
    phrase-KEY.wav         one mono 16-bit WAV per entry

KEY is the SHA-256 of the text together with the voice, model and output format it was rendered
with (and the service that rendered it, so the local emulator's stand-in voice is never taken for
the real one), so changing any of them in the config makes the old audio stale: it is rendered again.
Every file is written to a temporary file in the same directory and moved into place with
``os.replace``, so a crash or power cut leaves the old file or the new one, never half of one.
Each WAV's SHA-256 is checked before use; a file that does not match, or a manifest that cannot
be read, is removed (the cache heals itself: what is missing is rendered again when online).
A lock file keeps the daemon and ``edgevoice cache warm`` from overwriting each other's manifest.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from edgevoice.files import TEMP_PREFIX, atomic_write
from edgevoice.playback.sound import Sound

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOCK = ".lock"
VERSION = 1
_HEX = frozenset("0123456789abcdef")


class CacheError(Exception):
    """The cache directory cannot be used (missing and not creatable, not writable)."""


@dataclass(frozen=True, slots=True)
class VoiceKey:
    """What a phrase is rendered with besides its text: the voice, the model and the output format.

    ``voice`` is the session's voice as sent on the wire (a name, or a JSON object for Azure voices
    with their rate, pitch and style), so any change to how the assistant sounds changes the key.
    ``service`` is the endpoint's scheme, host and port.
    """

    voice: str
    model: str
    output_audio_format: str
    service: str = ""

    @classmethod
    def from_config(cls, cfg: Any) -> VoiceKey:
        """The key of a [voicelive] config (``VoiceLiveConfig``)."""
        from urllib.parse import urlsplit

        from edgevoice.voicelive.protocol.session_config import voice_payload

        payload = voice_payload(cfg.effective_voice)
        voice = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True, separators=(",", ":"))
        url = urlsplit(cfg.endpoint)
        return cls(voice, cfg.model, cfg.effective_output_audio_format, f"{url.scheme}://{url.netloc.rpartition('@')[2]}".lower())

    def key(self, text: str) -> str:
        """The cache key of ``text`` spoken with this voice, model and format by this service."""
        blob = json.dumps(
            {"text": text, "voice": self.voice, "model": self.model, "output_audio_format": self.output_audio_format,
             "service": self.service},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def describe(self) -> str:
        where = f" at {self.service}" if self.service else ""
        return f"voice {self.voice}, model {self.model}, {self.output_audio_format}{where}"


class Status(StrEnum):
    """Where a phrase stands in the cache."""

    CACHED = "cached"  # rendered with the current voice, model and format, checksum good
    STALE = "stale"  # rendered, but for another voice, model or format (or an older text)
    MISSING = "missing"  # never rendered
    CORRUPT = "corrupt"  # the file is gone or does not match its checksum (removed when found)


@dataclass(frozen=True, slots=True)
class Entry:
    """One rendered phrase as the manifest records it."""

    key: str
    name: str
    text: str
    voice: str
    model: str
    output_audio_format: str
    service: str
    file: str
    sha256: str
    rate: int
    bytes: int
    rendered_at: str

    @property
    def duration_s(self) -> float:
        return self.bytes / 2 / self.rate if self.rate else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "text": self.text, "voice": self.voice, "model": self.model,
            "output_audio_format": self.output_audio_format, "service": self.service, "file": self.file, "sha256": self.sha256,
            "rate": self.rate, "bytes": self.bytes, "rendered_at": self.rendered_at,
        }

    @classmethod
    def from_json(cls, key: str, data: Any) -> Entry:
        """Raises ValueError (or KeyError/TypeError) when ``data`` is not a well-formed entry."""
        if not isinstance(data, dict):
            raise ValueError("entry is not an object")
        entry = cls(
            key=key, name=_str(data, "name"), text=_str(data, "text"), voice=_str(data, "voice"),
            model=_str(data, "model"), output_audio_format=_str(data, "output_audio_format"),
            service=_str(data, "service"), file=_str(data, "file"),
            sha256=_str(data, "sha256"), rate=_int(data, "rate"), bytes=_int(data, "bytes"),
            rendered_at=_str(data, "rendered_at"),
        )
        if len(key) != 64 or not set(key) <= _HEX or entry.file != _file_name(key):
            raise ValueError("entry key or file name is malformed")
        if len(entry.sha256) != 64 or not set(entry.sha256) <= _HEX or entry.rate <= 0:
            raise ValueError("entry checksum or rate is malformed")
        return entry


@dataclass(frozen=True, slots=True)
class PhraseState:
    """One configured phrase and where it stands (for ``edgevoice cache list``)."""

    name: str
    text: str
    status: Status
    entry: Entry | None = None  # the matching entry (CACHED) or the newest one for this name (STALE)


class PhraseCache:
    """The phrase cache in ``directory``; thread-safe, and safe against a second process."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<PhraseCache {self.directory}>"

    @property
    def writable(self) -> bool:
        """The directory exists and phrases can be stored in it (the daemon never creates it: the
        service's CacheDirectory= or ``edgevoice cache warm`` does)."""
        return self.directory.is_dir() and os.access(self.directory, os.W_OK | os.X_OK)

    # --- reading -------------------------------------------------------------------------

    def load(self, name: str, text: str, voice: VoiceKey) -> Sound | None:
        """The phrase's audio if it is cached for this voice and intact, else None (a bad file is removed)."""
        key = voice.key(text)
        with self._locked(create=False) as ok:
            if not ok:
                return None
            entries = self._read_manifest()
            entry = entries.get(key)
            if entry is None:
                return None
            sound = self._read_verified(entry)
            if sound is None:
                self._forget(entries, key)
            return sound

    def states(self, phrases: Mapping[str, str], voice: VoiceKey) -> list[PhraseState]:
        """Each phrase: cached, stale, missing or corrupt (corrupt files are removed on the way)."""
        out = []
        with self._locked(create=False) as ok:
            entries = self._read_manifest() if ok else {}
            for name, text in phrases.items():
                key = voice.key(text)
                entry = entries.get(key)
                if entry is not None:
                    if self._read_verified(entry) is not None:
                        out.append(PhraseState(name, text, Status.CACHED, entry))
                        continue
                    self._forget(entries, key)
                    out.append(PhraseState(name, text, Status.CORRUPT, entry))
                    continue
                older = [e for e in entries.values() if e.name == name]
                if older:
                    out.append(PhraseState(name, text, Status.STALE, max(older, key=lambda e: e.rendered_at)))
                else:
                    out.append(PhraseState(name, text, Status.MISSING))
        return out

    def entries(self) -> dict[str, Entry]:
        """Every entry in the manifest, by key (unverified)."""
        with self._locked(create=False) as ok:
            return self._read_manifest() if ok else {}

    # --- writing -------------------------------------------------------------------------

    def store(self, name: str, text: str, voice: VoiceKey, sound: Sound) -> Entry:
        """Write the phrase's audio and record it (atomically); replaces an entry with the same key."""
        if not sound.pcm:
            raise ValueError(f"no audio to cache for {name!r}")
        key = voice.key(text)
        data = _wav_bytes(sound)
        entry = Entry(
            key=key, name=name, text=text, voice=voice.voice, model=voice.model,
            output_audio_format=voice.output_audio_format, service=voice.service, file=_file_name(key),
            sha256=hashlib.sha256(data).hexdigest(), rate=sound.rate, bytes=len(sound.pcm),
            rendered_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        )
        with self._locked(create=True):
            atomic_write(self.directory / entry.file, data)
            entries = self._read_manifest()
            entries[key] = entry
            self._write_manifest(entries)
        logger.info("cached phrase %r (%.1f s, %s)", name, entry.duration_s, voice.describe())
        return entry

    def prune(self, keep: set[str]) -> list[Entry]:
        """Remove every entry (and file) whose key is not in ``keep``, and stray files; returns the removed."""
        with self._locked(create=False) as ok:
            if not ok:
                return []
            entries = self._read_manifest()
            removed = [e for k, e in entries.items() if k not in keep]
            for entry in removed:
                del entries[entry.key]
                _unlink(self.directory / entry.file)
            if removed:
                self._write_manifest(entries)
            self._remove_strays(entries)
        return removed

    def clear(self) -> None:
        """Remove every cached phrase."""
        self.prune(set())

    # --- internals (call with the lock held) ----------------------------------------------

    @contextlib.contextmanager
    def _locked(self, *, create: bool) -> Iterator[bool]:
        """Hold the thread lock and the cross-process lock file; yields False if there is no cache yet."""
        with self._lock:
            if not self.directory.is_dir():
                if not create:
                    yield False
                    return
                try:
                    self.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
                except OSError as exc:
                    raise CacheError(f"cannot create the cache directory {self.directory}: {exc.strerror or exc}") from None
            try:
                fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                if not create and not os.access(self.directory, os.W_OK):
                    yield True  # a read-only cache (another user's): read it without the lock
                    return
                raise CacheError(f"cannot use the cache directory {self.directory}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield True
            finally:
                os.close(fd)  # releases the lock

    def _read_manifest(self) -> dict[str, Entry]:
        path = self.directory / MANIFEST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CacheError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("entries"), dict):
                raise ValueError("not a version 1 manifest")
        except (ValueError, UnicodeDecodeError) as exc:
            logger.warning("phrase cache manifest %s is unreadable (%s): starting the cache afresh%s", path, exc, _HEALS)
            _unlink(path)
            self._remove_strays({})
            return {}
        entries: dict[str, Entry] = {}
        malformed = 0
        for key, value in data["entries"].items():
            try:
                entries[key] = Entry.from_json(key, value)
            except (ValueError, KeyError, TypeError) as exc:
                malformed += 1
                why = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
                logger.warning("phrase cache manifest %s: entry %.16s is malformed (%s); removing it%s", path, key, why, _HEALS)
        if malformed:  # keep the good entries; the files of the bad ones become strays
            try:
                self._write_manifest(entries)
            except OSError as exc:
                logger.warning("cannot update the phrase cache manifest %s: %s", path, exc.strerror or exc)
            else:
                self._remove_strays(entries)
        return entries

    def _write_manifest(self, entries: Mapping[str, Entry]) -> None:
        data = {"version": VERSION, "entries": {key: entries[key].to_json() for key in sorted(entries)}}
        atomic_write(self.directory / MANIFEST, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))

    def _read_verified(self, entry: Entry) -> Sound | None:
        path = self.directory / entry.file
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return _bad(entry, path, "is missing")
        except OSError as exc:
            return _bad(entry, path, f"cannot be read ({exc.strerror or exc})")
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            return _bad(entry, path, "does not match its checksum (damaged or cut short)")
        try:
            sound = Sound.from_wav(data)
        except ValueError as exc:
            return _bad(entry, path, f"is not a usable WAV ({exc})")
        if sound.rate != entry.rate or len(sound.pcm) != entry.bytes:
            return _bad(entry, path, "is not what the manifest describes (rate or length)")
        return sound

    def _forget(self, entries: dict[str, Entry], key: str) -> None:
        entry = entries.pop(key, None)
        if entry is None:
            return
        _unlink(self.directory / entry.file)
        try:
            self._write_manifest(entries)
        except OSError as exc:
            logger.warning("cannot update the phrase cache manifest: %s", exc)

    def _remove_strays(self, entries: Mapping[str, Entry]) -> None:
        """Files no entry names (left by a crash, or by a manifest that was lost) are deleted."""
        wanted = {e.file for e in entries.values()}
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            stray_wav = name.startswith("phrase-") and name.endswith(".wav") and name not in wanted
            if stray_wav or name.startswith(TEMP_PREFIX):
                _unlink(self.directory / name)


_HEALS = " (rendered again in the background once Voice Live answers)"


def _bad(entry: Entry, path: Path, problem: str) -> None:
    """Warn that a cached phrase's file cannot be used (the caller removes it)."""
    logger.warning("phrase cache: %s (phrase %r) %s; removing it%s", path, entry.name, problem, _HEALS)
    return None


def _file_name(key: str) -> str:
    return f"phrase-{key}.wav"


def _wav_bytes(sound: Sound) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sound.rate)
        wav.writeframes(sound.pcm)
    return buffer.getvalue()




def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("cannot remove %s: %s", path, exc.strerror or exc)


def _str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{key} is not a count")
    return value
