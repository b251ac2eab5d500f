"""``edgevoice detect`` on recordings, and the CPU measurement helper."""

from __future__ import annotations

import re
import subprocess

import pytest

from edgevoice.cli import main
from edgevoice.bench.listening_accuracy import measure_overhead

from listening_helpers import pcm16, scene, tts

LINE = re.compile(r"^(\d+\.\d\d) s  ([a-z_]+)  (0\.\d\d|1\.00)$")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """espeak-ng's own 22.05 kHz output: 'okay nabu' at ~0.5 s and 'alexa' at ~4 s."""
    path = tmp_path_factory.mktemp("detect") / "talk.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path),
         "[[_:_:]] okay nabu. [[_:_:_:_:_:]] what time is it? [[_:_:_:_:_:_:_:_:]] alexa. [[_:_:_:_:_:_:]]"],
        check=True,
    )
    return path


def detect(capsys, *args):
    code = main(["detect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_one_line_per_detection(capsys, recording):
    code, out, _ = detect(capsys, "--input-wav", str(recording))
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1
    m = LINE.match(lines[0])
    assert m and m.group(2) == "okay_nabu" and 0.5 < float(m.group(1)) < 2.5 and float(m.group(3)) > 0.85


def test_several_wake_words(capsys, recording):
    code, out, _ = detect(capsys, "--input-wav", str(recording), "--wake-word", "alexa", "--wake-word", "okay_nabu")
    assert code == 0
    found = [LINE.match(line).group(2) for line in out.splitlines()]
    assert found == ["okay_nabu", "alexa"]
    times = [float(LINE.match(line).group(1)) for line in out.splitlines()]
    assert times[1] > times[0] + 2


def test_events_show_the_endpointing_too(capsys, recording):
    code, out, _ = detect(capsys, "--input-wav", str(recording), "--events", "--no-noise")
    assert code == 0
    kinds = [line.split("  ", 1)[1] for line in out.splitlines()]
    assert kinds[:2] == ["speech started", "okay_nabu  " + out.splitlines()[1].rsplit("  ", 1)[1]]
    assert "utterance ended (silence)" in kinds
    assert kinds.count("speech started") >= 3


def test_a_custom_config_file_is_used(capsys, recording, tmp_path):
    config = tmp_path / "edgevoice.toml"
    config.write_text('[voicelive]\nendpoint = "https://x.services.ai.azure.com"\n[listening.wake]\nwords = ["alexa"]\n')
    code, out, _ = detect(capsys, "--input-wav", str(recording), "--config", str(config))
    assert code == 0 and [LINE.match(line).group(2) for line in out.splitlines()] == ["alexa"]


def test_a_strict_cutoff_finds_nothing(capsys, recording):
    code, out, _ = detect(capsys, "--input-wav", str(recording), "--cutoff", "0.9999")
    assert code == 0 and out == ""


def test_bad_input_is_a_clear_error(capsys, tmp_path):
    code, out, err = detect(capsys, "--input-wav", str(tmp_path / "missing.wav"))
    assert code == 66 and "cannot read" in err and "missing.wav" in err and out == ""
    (tmp_path / "text.wav").write_text("hello")
    code, _, err = detect(capsys, "--input-wav", str(tmp_path / "text.wav"))
    assert code == 66 and "not a WAV file" in err


def test_unknown_wake_word_is_a_config_error(capsys, recording):
    code, _, err = detect(capsys, "--input-wav", str(recording), "--wake-word", "hey_siri")
    assert code == 78 and "hey_siri" in err and "okay_nabu, hey_jarvis, alexa, hey_mycroft" in err


def test_the_installed_command_runs(recording):
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "edgevoice"
    result = subprocess.run([str(exe), "detect", "--input-wav", str(recording)], capture_output=True, text=True)
    assert result.returncode == 0 and LINE.match(result.stdout.strip())


def test_measure_overhead_reports_both_sides():
    pcm = pcm16(scene(0.5, tts("okay nabu"), 0.3, tts("what is the weather like tomorrow in the mountains"), 0.5))
    report = measure_overhead(pcm, repeats=1)
    assert report.audio_s == pytest.approx(len(pcm) / 32000, abs=0.01)
    assert report.bare_cpu_s > 0 and report.frontend_cpu_s > 0
    assert "ratio" in str(report) and report.ratio > 0
