"""One piece of code for each idea: the device lookup, the atomic write, SAMPLE_WIDTH, no private
name imported across modules, and the session errors imported from the module that defines them."""

from __future__ import annotations

import ast
import functools
import os
import stat
from pathlib import Path

import pytest

from edgevoice.audio.portaudio import DeviceError, match_device
from edgevoice.files import TEMP_PREFIX, atomic_write
from edgevoice.playback.speaker import DeviceNotFound, find_output_device

PACKAGE = Path(__file__).resolve().parent.parent / "edgevoice"
DEVICES = [(0, "default"), (3, "USB Audio Device"), (4, "USB Audio Device Mic"), (7, "HDMI 1")]


@pytest.mark.parametrize("kind", ["input", "output"])
@pytest.mark.parametrize(
    ("spec", "index"),
    [(None, None), ("", None), ("default", None), (" Default ", None), (3, 3), ("7", 7),
     ("usb audio device mic", 4), ("usb audio device", 3), ("hdmi", 7), ("Mic", 4)],
)
def test_one_rule_names_microphones_and_speakers(kind: str, spec, index) -> None:
    assert match_device(DEVICES, spec, kind) == index


@pytest.mark.parametrize(("spec", "message"), [("bluetooth", "no output device matches 'bluetooth'"), (9, "no output device with index 9")])
def test_no_match_lists_the_devices(spec, message: str) -> None:
    with pytest.raises(DeviceError) as info:
        match_device(DEVICES, spec, "output")
    assert message in str(info.value) and "3: 'USB Audio Device'" in str(info.value)


class _FakePyAudio:
    """Stands in for pyaudio.PyAudio's device listing (no sound hardware needed for a name lookup)."""

    NAMES = ["default", "USB Audio Device Mic", "USB Audio Device", "USB Audio Device Mic only"]

    def get_device_count(self) -> int:
        return len(self.NAMES)

    def get_device_info_by_index(self, i: int) -> dict:
        return {"index": i, "name": self.NAMES[i], "maxOutputChannels": 0 if self.NAMES[i].endswith("only") else 2}


def test_the_speaker_uses_the_same_rule() -> None:
    pa = _FakePyAudio()
    assert find_output_device(pa, "usb audio device") == 2  # the exact name wins over a name containing it
    assert find_output_device(pa, "USB") == 1
    with pytest.raises(DeviceNotFound, match="no output device matches 'only'"):  # an input-only device is not a speaker
        find_output_device(pa, "only")


def test_atomic_write_replaces_the_file_whole_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(b"old")
    atomic_write(path, b"new", 0o600)
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary file left
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "x", b"")
    atomic_write(tmp_path / "made" / "x", b"y", make_parents=True)
    assert (tmp_path / "made" / "x").read_bytes() == b"y"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old" and not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


@functools.cache
def _modules() -> tuple[tuple[Path, ast.Module], ...]:
    """Every module of the package, parsed once for all the tests here."""
    return tuple((p, ast.parse(p.read_text(), str(p))) for p in PACKAGE.rglob("*.py"))


def test_one_sample_width() -> None:
    defined = [
        str(path.relative_to(PACKAGE)) for path, tree in _modules() for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SAMPLE_WIDTH" for t in node.targets)
    ]
    assert defined == [os.path.join("audio", "frames.py")]


def test_no_module_imports_a_private_name_of_another() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}: {node.module}.{alias.name}" for path, tree in _modules() for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edgevoice")
        for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert found == []


def test_the_session_errors_come_from_their_own_module() -> None:
    from edgevoice.voicelive import errors, session

    tests = [p for p in Path(__file__).resolve().parent.glob("*.py") if "edgevoice.voicelive.session" in p.read_text()]
    trees = [*_modules(), *((p, ast.parse(p.read_text(), str(p))) for p in tests)]
    through_session = [
        f"{path.name}: {alias.name}" for path, tree in trees for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "edgevoice.voicelive.session"
        for alias in node.names if alias.name in errors.__all__
    ]
    assert through_session == []
    assert not set(session.__all__) & set(errors.__all__)  # session.py no longer re-exports them

def test_the_phrase_keys_are_one_list() -> None:
    from edgevoice.assistant import actions as A
    from edgevoice.config.offline import DEFAULT_PHRASES, Phrase

    assert A.Phrase is Phrase  # the machine plays the keys the config gives texts for
    assert list(DEFAULT_PHRASES) == [p.value for p in Phrase]
