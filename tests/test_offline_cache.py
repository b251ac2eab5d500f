"""The phrase cache on disk: keys, checksums, atomic writes, and healing itself; the PhraseBook on top."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from edgevoice.config.offline import DEFAULT_PHRASES
from edgevoice.offline import cache as cache_module
from edgevoice.offline.cache import MANIFEST, PhraseCache, Status, VoiceKey
from edgevoice.offline.phrases import PhraseBook
from edgevoice.playback.sound import Sound

ALLOY = VoiceKey("alloy", "gpt-realtime", "pcm16_16000hz")
TEXT = "Sorry, I can't reach the internet right now."


def tone(seconds: float = 0.5, freq: float = 440.0, rate: int = 16000) -> Sound:
    t = np.arange(int(seconds * rate)) / rate
    return Sound((0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes(), rate)


def manifest(directory: Path) -> dict:
    return json.loads((directory / MANIFEST).read_text())


def test_a_stored_phrase_loads_back_exactly_and_the_manifest_describes_it(tmp_path):
    cache = PhraseCache(tmp_path / "cache")
    assert not cache.writable and cache.load("offline", TEXT, ALLOY) is None  # nothing yet, nothing created
    assert not (tmp_path / "cache").exists()
    sound = tone()
    entry = cache.store("offline", TEXT, ALLOY, sound)
    assert cache.writable
    assert cache.load("offline", TEXT, ALLOY) == sound
    data = manifest(tmp_path / "cache")
    assert data["version"] == 1
    recorded = data["entries"][entry.key]
    assert recorded["name"] == "offline" and recorded["text"] == TEXT
    assert (recorded["voice"], recorded["model"], recorded["output_audio_format"]) == ("alloy", "gpt-realtime", "pcm16_16000hz")
    assert recorded["rate"] == 16000 and recorded["bytes"] == len(sound.pcm)
    wav = (tmp_path / "cache" / recorded["file"]).read_bytes()
    import hashlib

    assert hashlib.sha256(wav).hexdigest() == recorded["sha256"]
    assert Sound.from_wav(wav) == sound  # a plain WAV anyone can play


def test_the_key_covers_text_voice_model_and_format_so_a_config_change_renders_again(tmp_path):
    keys = {
        ALLOY.key(TEXT),
        ALLOY.key(TEXT + " "),
        VoiceKey("echo", "gpt-realtime", "pcm16_16000hz").key(TEXT),
        VoiceKey("alloy", "gpt-realtime-mini", "pcm16_16000hz").key(TEXT),
        VoiceKey("alloy", "gpt-realtime", "pcm16").key(TEXT),
        VoiceKey("alloy", "gpt-realtime", "pcm16_16000hz", "http://127.0.0.1:8765").key(TEXT),  # the emulator
    }
    assert len(keys) == 6
    cache = PhraseCache(tmp_path)
    cache.store("offline", TEXT, ALLOY, tone())
    phrases = {"offline": TEXT, "busy": "Busy."}
    assert [s.status for s in cache.states(phrases, ALLOY)] == [Status.CACHED, Status.MISSING]
    echo = VoiceKey("echo", "gpt-realtime", "pcm16_16000hz")
    assert cache.load("offline", TEXT, echo) is None
    stale = cache.states(phrases, echo)[0]
    assert stale.status is Status.STALE and stale.entry.voice == "alloy"
    assert cache.states({"offline": "New words."}, ALLOY)[0].status is Status.STALE


def test_azure_voice_options_are_part_of_the_key():
    from edgevoice.config.load import parse_config

    def key(voice: str) -> VoiceKey:
        text = f'[voicelive]\nendpoint = "https://r.services.ai.azure.com"\nmodel = "gpt-4o"\nvoice = {voice}\n'
        return VoiceKey.from_config(parse_config(text, "<t>").voicelive)

    plain = key('"en-US-AvaNeural"')
    faster = key('{name = "en-US-AvaNeural", rate = "+10%"}')
    assert plain != faster and plain.key(TEXT) != faster.key(TEXT)
    assert json.loads(faster.voice) == {"type": "azure-standard", "name": "en-US-AvaNeural", "rate": "+10%"}


def test_a_corrupt_file_is_detected_removed_and_reported_missing(tmp_path, caplog):
    cache = PhraseCache(tmp_path)
    entry = cache.store("offline", TEXT, ALLOY, tone())
    path = tmp_path / entry.file
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte in the audio
    path.write_bytes(bytes(data))
    assert cache.states({"offline": TEXT}, ALLOY)[0].status is Status.CORRUPT
    assert not path.exists() and entry.key not in manifest(tmp_path)["entries"]
    assert "does not match its checksum" in caplog.text
    assert cache.states({"offline": TEXT}, ALLOY)[0].status is Status.MISSING
    # A file that vanished is the same story.
    entry = cache.store("offline", TEXT, ALLOY, tone())
    (tmp_path / entry.file).unlink()
    assert cache.load("offline", TEXT, ALLOY) is None and manifest(tmp_path)["entries"] == {}


@pytest.mark.parametrize("junk", [b"", b"{not json", b'{"version": 99, "entries": {}}', b"\xff\xfe",
                                  b'{"version": 1, "entries": {"abc": {"name": "x"}}}', b"[1, 2]"])
def test_a_corrupt_manifest_starts_the_cache_afresh(tmp_path, junk, caplog):
    cache = PhraseCache(tmp_path)
    entry = cache.store("offline", TEXT, ALLOY, tone())
    (tmp_path / MANIFEST).write_bytes(junk)
    assert cache.load("offline", TEXT, ALLOY) is None
    # (A manifest with only a malformed entry loses that entry alone: there is nothing else to keep.)
    assert "starting the cache afresh" in caplog.text or "is malformed" in caplog.text
    assert not (tmp_path / entry.file).exists(), "audio no manifest describes is removed"
    cache.store("offline", TEXT, ALLOY, tone())  # and the cache works again
    assert cache.load("offline", TEXT, ALLOY) is not None


def test_writes_are_atomic_a_crash_leaves_the_old_file(tmp_path, monkeypatch):
    cache = PhraseCache(tmp_path)
    cache.store("offline", TEXT, ALLOY, tone(freq=440))
    before = (tmp_path / MANIFEST).read_bytes()

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.os, "replace", crash)
    with pytest.raises(OSError):
        cache.store("busy", "Busy.", ALLOY, tone(freq=660))
    monkeypatch.undo()
    assert (tmp_path / MANIFEST).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
    assert cache.load("offline", TEXT, ALLOY) == tone(freq=440)
    # A temporary file left by a real crash (power cut) is cleared away when the cache is tidied.
    (tmp_path / ".tmp-abc.part").write_bytes(b"half a file")
    cache.prune({ALLOY.key(TEXT)})
    assert not (tmp_path / ".tmp-abc.part").exists() and cache.load("offline", TEXT, ALLOY) is not None


def test_prune_keeps_only_what_the_config_still_needs(tmp_path):
    cache = PhraseCache(tmp_path)
    cache.store("offline", TEXT, ALLOY, tone())
    old = cache.store("busy", "Old busy text.", ALLOY, tone())
    removed = cache.prune({ALLOY.key(TEXT)})
    assert [e.key for e in removed] == [old.key] and not (tmp_path / old.file).exists()
    assert set(cache.entries()) == {ALLOY.key(TEXT)}


def test_two_writers_do_not_lose_each_others_entries(tmp_path):
    """The daemon and `edgevoice cache warm` may write at once: the lock file keeps both entries."""
    names = [f"phrase_{i}" for i in range(12)]

    def writer(offset: int) -> None:
        own = PhraseCache(tmp_path)  # its own instance, as another process would have
        for name in names[offset::2]:
            own.store(name, f"Text of {name}.", ALLOY, tone(0.05))

    threads = [threading.Thread(target=writer, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    states = PhraseCache(tmp_path).states({n: f"Text of {n}." for n in names}, ALLOY)
    assert all(s.status is Status.CACHED for s in states)


def test_an_unusable_cache_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = PhraseCache(blocker / "cache")
    assert not cache.writable
    with pytest.raises(cache_module.CacheError, match="cannot create the cache directory"):
        cache.store("offline", TEXT, ALLOY, tone())
    with pytest.raises(ValueError):
        PhraseCache(tmp_path).store("offline", TEXT, ALLOY, Sound(b"", 16000))


# --- the PhraseBook ------------------------------------------------------------------------------


def test_a_fresh_device_answers_in_the_local_voice(tmp_path):
    book = PhraseBook(DEFAULT_PHRASES, cache=PhraseCache(tmp_path / "none"), voice=ALLOY)
    assert book.wait_ready(30)
    assert book.missing() == list(DEFAULT_PHRASES)
    for name in DEFAULT_PHRASES:
        sound = book.get(name)
        assert sound.rate == 16000 and sound.duration_ms > 500
        assert book.source_of(name) == book.fallback == "espeak-ng"
    assert not (tmp_path / "none").exists()


def test_without_espeak_ng_a_clear_tone_pattern_stands_in():
    from edgevoice.audio.speech import Speech

    book = PhraseBook({"offline": TEXT}, speech=Speech(espeak=None))
    assert book.wait_ready(10) and book.fallback == "tones" and book.source_of("offline") == "tones"
    samples = np.frombuffer(book.get("offline").pcm, "<i2").astype(float)
    assert len(samples) / 16000 > 1.0 and np.sqrt(np.mean(samples**2)) > 1000  # audible, as long as the words


def test_the_local_voices_cache_is_bounded_by_bytes_most_recent_kept():
    from edgevoice.audio.speech import Speech

    speech = Speech(espeak=None, cache_bytes=100_000)  # the chirp: 65 ms a character, 2 bytes a sample
    first = speech.render("a" * 20, 16000)  # 1.3 s: 41,600 bytes
    assert speech.render("a" * 20, 16000) is first  # cached
    second = speech.render("b" * 20, 16000)
    assert speech.cached_bytes == 2 * len(first)
    speech.render("c" * 20, 16000)  # over 100,000 bytes: the least recently used goes
    assert speech.cached_bytes == 2 * len(first) <= 100_000
    assert speech.render("b" * 20, 16000) is second
    assert speech.render("a" * 20, 16000) is not first  # rendered again
    assert len(speech.render("x" * 200, 16000)) > 100_000 and speech.cached_bytes <= 100_000  # too big to keep


def test_announcements_in_the_local_voice_do_not_pile_up(tmp_path):
    from edgevoice.audio.speech import Speech
    from edgevoice.offline.phrases import SAID_CACHE_BYTES

    book = PhraseBook({"offline": TEXT}, speech=Speech(espeak=None, cache_bytes=SAID_CACHE_BYTES))
    assert book.wait_ready(10)
    for minute in range(100):  # an announcement with the time in it, every quarter of an hour for a day
        assert book.say(f"The next tour starts at {minute // 4 + 9}:{minute % 4 * 15:02d}. Please gather at the door.")
    assert book._speech.cached_bytes <= SAID_CACHE_BYTES
    assert book.get("offline").duration_ms > 1000  # the phrases themselves are all still there


def test_the_daemons_phrase_book_bounds_its_local_voices_cache():
    from edgevoice.offline.phrases import SAID_CACHE_BYTES

    book = PhraseBook({"offline": TEXT})  # as the daemon builds it: its own Speech
    assert book.wait_ready(30)
    assert book._speech._cache_bytes == SAID_CACHE_BYTES == 2 * 1024 * 1024


def test_cached_phrases_are_used_in_the_assistants_voice_and_picked_up_after_a_warm_up(tmp_path):
    cache = PhraseCache(tmp_path)
    texts = {"offline": TEXT, "busy": "Busy."}
    cache.store("offline", TEXT, ALLOY, tone(freq=440, rate=24000))
    book = PhraseBook(texts, cache=cache, voice=ALLOY)
    assert book.wait_ready(30)
    assert book.get("offline") == tone(freq=440, rate=24000) and book.source_of("offline") == "cache"
    assert book.missing() == ["busy"] and book.source_of("busy") == "espeak-ng"
    cache.store("busy", "Busy.", ALLOY, tone(freq=660))
    assert book.reload() == 2 and book.missing() == [] and book.get("busy") == tone(freq=660)
    # A phrase cached for another voice is not used.
    other = PhraseBook(texts, cache=cache, voice=VoiceKey("echo", "gpt-realtime", "pcm16_16000hz"))
    assert other.wait_ready(30) and other.missing() == ["offline", "busy"]


def test_a_broken_cache_falls_back_to_the_local_voice(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    os.chmod(blocker, 0o600)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / MANIFEST).write_text("{broken")
    for cache in (PhraseCache(blocker / "c"), PhraseCache(tmp_path / "d")):
        book = PhraseBook({"offline": TEXT}, cache=cache, voice=ALLOY)
        assert book.wait_ready(30) and book.source_of("offline") == "espeak-ng" and book.get("offline").pcm
