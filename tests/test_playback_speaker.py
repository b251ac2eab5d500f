"""The real PyAudio output path (PortAudio -> ALSA file plugin), each case in its own process."""

from __future__ import annotations

import numpy as np

from edgevoice.playback.convert import apply_volume
from edgevoice.playback.sound import load_chime
from playback_helpers import dominant_frequency, find, noise, run_scenario


def test_a_streamed_reply_reaches_the_device_sample_for_sample(tmp_path):
    result = run_scenario(tmp_path, "reply", seconds=0.5)
    report = result.report
    assert report["finished"] and report["events"] == ["start", "finished"]
    assert report["played_ms"] == 500.0 and not report["playing"]
    x = noise(8000)
    start = find(result.device_samples, x)
    assert start == 0  # no silence queued in front of the reply
    assert not result.device_samples[len(x):].any()  # then nothing but silence
    assert report["device_buffer_ms"] > 0  # what PortAudio/ALSA holds; logged for the record
    print(f"device buffer beyond our 20 ms blocks: {report['device_buffer_ms']:.0f} ms")


def test_playback_starts_with_the_first_chunk_not_the_whole_reply(tmp_path):
    report = run_scenario(tmp_path, "starts_early").report
    assert report["started_early"] and report["finished"]
    assert report["events"] == ["start", "finished"]


def test_volume_is_applied_on_the_way_to_the_device(tmp_path):
    result = run_scenario(tmp_path, "reply", seconds=0.3, volume=0.25)
    assert result.report["finished"]
    expected = apply_volume(noise(4800), 0.25)
    assert np.array_equal(expected, (noise(4800).astype(np.int32) * 8192 >> 15).astype(np.int16))
    assert find(result.device_samples, expected) == 0


def test_stop_cuts_the_reply_and_reports_exactly_what_reached_the_device(tmp_path):
    result = run_scenario(tmp_path, "stop")
    report = result.report
    stopped_frames = round(report["stopped_ms"] * 16)
    assert report["seen_before_stop"] <= report["stopped_ms"] < 10_000  # cut long before its end
    assert report["events_after_stop"] == ["start"]  # no on_finished for a stopped reply

    out = result.device_samples
    x = noise(16000 * 10)
    assert find(out, x[:stopped_frames]) == 0
    # Exactly the reported part of the first reply reached the device, and nothing after it ...
    assert not np.array_equal(out[stopped_frames : stopped_frames + 100], x[stopped_frames : stopped_frames + 100])
    # ... then the second reply, played in full from its start.
    y = noise(1600, seed=2)
    second = find(out, y)
    assert second >= stopped_frames
    assert not out[stopped_frames:second].any()
    assert report["finished_second"] and report["played_second_ms"] == 100.0


def test_a_24khz_reply_on_a_16khz_device_is_resampled(tmp_path):
    result = run_scenario(tmp_path, "resample", in_rate=24000, device_rate=16000)
    assert result.report["finished"] and result.report["rate"] == 16000
    out = np.trim_zeros(result.device_samples)
    assert abs(len(out) - 16000) <= 64  # one second, at the device's rate
    assert abs(result.report["played_ms"] - 1000) <= 4
    assert abs(dominant_frequency(out, 16000) - 440) < 2


def test_a_16khz_reply_on_a_48khz_device_is_resampled(tmp_path):
    result = run_scenario(tmp_path, "resample", in_rate=16000, device_rate=48000)
    assert result.report["finished"] and result.report["rate"] == 48000
    out = np.trim_zeros(result.device_samples)
    assert abs(len(out) - 48000) <= 192
    assert abs(dominant_frequency(out, 48000) - 440) < 2


def test_a_failing_device_is_logged_and_reopened(tmp_path):
    out = tmp_path / "not-yet" / "out.raw"
    result = run_scenario(tmp_path, "failing_device", out=out)
    report = result.report
    assert report["first_finished"], "a reply on a dead device still finishes (into silence)"
    assert report["second_finished"]
    assert report["events"] == ["start", "finished", "start", "finished"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR edgevoice.playback.speaker")]
    assert len(errors) == 1 and "failed" in errors[0]  # logged once, not once per retry
    assert "INFO edgevoice.playback.speaker: speaker: output device 'default' is back" in result.stderr
    assert find(result.device_samples, noise(4800, seed=3)) == 0  # the second reply was heard, all of it


def test_a_missing_device_is_a_clear_error_and_not_a_crash(tmp_path):
    result = run_scenario(tmp_path, "missing_device")
    report = result.report
    assert report["found"] == {"EFAU": 0, "0": 0, "default": None, "none": None}  # None: the system default
    assert report["errors"] == [
        "no output device matches 'usb speaker'; output devices: 0: 'default'",
        "no output device with index 99; output devices: 0: 'default'",
    ]
    assert "no output device matches 'usb speaker'" in result.stderr
    assert report["finished"] and report["played_ms"] == 200.0
    assert not result.device_samples.any()


def test_a_chime_reaches_the_device_without_reply_callbacks(tmp_path):
    result = run_scenario(tmp_path, "sound")
    assert result.report["events"] == []
    chime = np.frombuffer(load_chime("wake").pcm, dtype=np.int16)
    assert find(result.device_samples, chime[1:]) >= 0  # (the chime's first sample is 0)
