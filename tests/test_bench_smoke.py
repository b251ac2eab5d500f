"""``edgevoice bench``: the quick bench runs end to end and emits every figure; its pieces read real data right.

No timing thresholds here: the figures' targets are the bench's business. The smoke test checks
that every key is there with a number, a unit and a sentence saying what it measured and where.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from edgevoice.bench import latency
from edgevoice.bench.audio import Placed
from edgevoice.bench.figures import Figure, format_table
from edgevoice.bench.machine import this_machine
from edgevoice.bench.runs import RunPlan, RunResult, cpu_seconds, peak_rss_kb
from edgevoice.bench.toml_config import bench_config, toml_text
from edgevoice.config.load import parse_config

FIGURES = (
    "frontend_cpu_ratio", "frontend_cpu_per_audio_s", "bare_cpu_per_audio_s", "idle_cpu_per_audio_s",
    "rss_mb", "rss_floor_mb", "wake_to_audio_ms", "wake_to_audio_cold_ms", "speech_end_to_commit_ms",
    "reply_to_playback_ms", "barge_in_ms", "offline_known_ms", "offline_first_failure_ms", "offline_answer_ms",
    "endpoint_babble_ms", "knowledge_search_ms", "knowledge_index_ms", "knowledge_update_ms", "false_turns",
    "barge_in_echo_ms", "idle_cpu_ratio", "idle_device_cpu_per_audio_s", "reply_to_playback_device_ms",
    "idle_cpu_vs_minimal_listener", "minimal_listener_cpu_per_audio_s",
    "captions_push_ms", "captions_rss_mb", "metrics_write_ms",
    "rss_started_floor_mb", "knowledge_rss_mb", "offline_recogniser_rss_mb",
)
LATENCIES = ("wake_to_audio_ms", "wake_to_audio_cold_ms", "speech_end_to_commit_ms", "reply_to_playback_ms",
             "barge_in_ms", "barge_in_echo_ms", "reply_to_playback_device_ms")
ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_emits_every_figure_with_a_number_and_what_it_measured(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "AZURE_VOICELIVE_API_KEY")}
    done = subprocess.run([sys.executable, "-m", "edgevoice", "bench", "--quick", "--json", "--keep", str(tmp_path)],
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout)
    machine = this_machine()
    assert set(report) == {*FIGURES, "machine"}
    assert report["machine"]["cores"] == machine.cores and report["machine"]["cpu"] == machine.cpu
    for key in FIGURES:
        figure = report[key]
        assert isinstance(figure["value"], (int, float)) and math.isfinite(figure["value"]), (key, figure)
        assert figure["unit"] and len(figure["what"]) > 40, (key, figure)
        assert figure["machine"] == str(machine), (key, figure)
        if "target" in figure:
            assert figure["meets_target"] in (True, False)
    for key in LATENCIES:
        assert report[key]["median"] == report[key]["value"] and report[key]["p95"] >= report[key]["value"]
        assert report[key]["n"] >= 2, (key, report[key])
    assert report["frontend_cpu_ratio"]["value"] > 0 and report["idle_cpu_per_audio_s"]["value"] > 0
    assert report["rss_mb"]["value"] > report["rss_floor_mb"]["value"] > 5
    assert report["rss_started_floor_mb"]["value"] > report["rss_floor_mb"]["value"]
    assert report["knowledge_rss_mb"]["value"] > 0 and report["offline_recogniser_rss_mb"]["value"] > 0
    # The real device path: PortAudio captured through ALSA's file plugin, and the daemon answered there too.
    assert report["idle_cpu_ratio"]["value"] > 1.0 and report["idle_device_cpu_per_audio_s"]["value"] > 0
    # The minimal listener heard the same recording on a device path of its own, at the same pace.
    assert report["minimal_listener_cpu_per_audio_s"]["value"] > 0 and report["idle_cpu_vs_minimal_listener"]["value"] > 0
    assert (tmp_path / "minimal" / "played.raw").parent.is_dir() and (tmp_path / "minimal" / "minimal.log").exists()
    assert "'device' capture and play through PortAudio" in report["rss_mb"]["what"]
    assert (tmp_path / "device" / "events.jsonl").stat().st_size > 0 and (tmp_path / "device" / "played.raw").exists()
    # Quick: the offline measurement ran beside the conversations, and its figures say so.
    assert "while the bench measured the conversations (--quick)" in report["offline_known_ms"]["what"]
    # The simulated room: nobody's turn the service got was not said by the person.
    assert report["false_turns"]["value"] == 0 and report["false_turns"]["target"] == 0, report["false_turns"]
    # What it measured stays behind for a look: recordings, configs, events, output WAVs, logs.
    for run in ("warm", "cold1", "barge", "room"):
        assert (tmp_path / run / "events.jsonl").stat().st_size > 0
        assert (tmp_path / run / "output.wav").exists() and (tmp_path / run / "input.wav").exists()


def test_bench_rejects_a_nonsense_job_count():
    done = subprocess.run([sys.executable, "-m", "edgevoice", "bench", "--jobs", "0"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "--jobs" in done.stderr


# --- the pieces, on data made here ----------------------------------------------------------------


def _result(events, *, output=None, commits_at=()):
    plan = RunPlan("t", recording=None)  # type: ignore[arg-type]
    samples = np.zeros(0, np.int16) if output is None else output
    return RunResult(plan, 0, events, 16000, samples, 0, None, None, list(commits_at), None, "")


def test_median_and_p95():
    assert latency.median_p95([5.0]) == (5.0, 5.0)
    median, p95 = latency.median_p95([float(x) for x in range(1, 21)])
    assert median == 10.5 and p95 == pytest.approx(19.05)
    assert all(math.isnan(x) for x in latency.median_p95([]))


def test_barge_in_is_read_from_where_the_reply_stops_in_the_output():
    rate = 16000
    out = np.zeros(5 * rate, np.int16)
    out[rate : int(2.345 * rate)] = 1000  # a reply from 1 s, cut at 2.345 s
    out[int(2.32 * rate) : int(2.33 * rate)] = 0  # a 10 ms pause inside it is not the end
    out[int(3.5 * rate) : 4 * rate] = 1000  # the answer to the interruption
    cuts = [Placed("what about tomorrow", 2.3, 3.0), Placed("too late", 4.5, 4.8)]
    found = latency.barge_ins(_result([{"t": 1.0, "event": "barge_in", "turn": 2}], output=out), cuts)
    assert found.delays_ms == pytest.approx((45.0,))
    assert (found.spoken, found.not_playing, found.detected) == (2, 1, 1)


def test_commit_latency_counts_from_the_end_of_speech_to_the_service_receiving_it():
    events = [
        {"t": 10.0, "event": "speech_end", "turn": 1},
        {"t": 10.6, "event": "commit", "turn": 1, "by": "device"},
        {"t": 20.0, "event": "speech_end", "turn": 2},
        {"t": 20.6, "event": "commit", "turn": 2, "by": "server"},
    ]
    got = latency.commit_after_silence_ms(_result(events, commits_at=[10.6042, 20.7]), 600)
    assert got == pytest.approx([4.2])


def test_turn_latencies_come_from_the_milestones_of_each_turn():
    events = [
        {"t": 1.0, "event": "wake", "turn": 1}, {"t": 1.002, "event": "audio_sent", "turn": 1},
        {"t": 3.0, "event": "reply_audio_first", "turn": 1}, {"t": 3.007, "event": "playback_start", "turn": 1},
        {"t": 5.0, "event": "gate_open", "turn": 2}, {"t": 5.03, "event": "audio_sent", "turn": 2},  # no wake word
    ]
    result = _result(events)
    assert latency.wake_to_audio_ms(result) == pytest.approx([2.0])
    assert latency.reply_to_playback_ms(result) == pytest.approx([7.0])


def test_the_bench_config_is_the_bundled_default_aimed_at_the_emulator(tmp_path):
    config = bench_config("http://127.0.0.1:4321", tmp_path / "cache",
                          {"assistant": {"prewarm": False, "idle_timeout_s": 5.0},
                           "voicelive.turn_detection": {"type": "none"}})
    text = toml_text(config)
    assert tomllib.loads(text) == config
    parsed = parse_config(text, "<bench>")  # the daemon's own validation accepts it
    assert parsed.voicelive.endpoint == "http://127.0.0.1:4321"
    assert parsed.assistant.prewarm is False and parsed.assistant.idle_timeout_s == 5.0
    assert parsed.assistant.chimes is False and parsed.offline.warm is False
    assert parsed.offline.cache_dir == tmp_path / "cache"


def test_process_figures_are_read_from_proc():
    assert cpu_seconds(os.getpid()) > 0
    assert peak_rss_kb(os.getpid()) > 1000


def test_a_figure_is_held_to_its_target_by_its_p95_and_says_what_it_measured():
    fast = Figure("x_ms", np.float64(3.0), "ms", "what it measured, in one sentence", target=10.0, p95=12.0, n=20)
    assert fast.meets_target is False and isinstance(fast.value, float)
    data = fast.as_json("a machine")
    assert json.loads(json.dumps(data)) == data
    assert data["median"] == 3.0 and data["p95"] == 12.0 and data["machine"] == "a machine"
    table = format_table([fast, Figure("y", 0.5, "x", "a ratio")], "a machine")
    assert "MISSED" in table and "x_ms: what it measured" in table


def test_knowledge_figures_come_from_a_folder_of_exactly_the_passages_asked_for():
    from edgevoice.bench.knowledge import measure

    search, build, update = measure(passages=120, searches=10)
    assert (search.key, build.key, update.key) == ("knowledge_search_ms", "knowledge_index_ms", "knowledge_update_ms")
    assert search.n == 10 and search.p95 >= search.value > 0 and search.target == 20.0
    assert "120 generated passages" in search.what and build.value > 0 and update.value >= 0


def test_screen_figures_measure_the_captions_server_and_the_metrics_file():
    from edgevoice.bench.screen import measure

    push, rss, write = measure(records=10, writes=10)
    assert (push.key, rss.key, write.key) == ("captions_push_ms", "captions_rss_mb", "metrics_write_ms")
    assert push.n == 10 and push.p95 >= push.value > 0 and push.target == 300.0
    assert 0 < rss.value < 100 and "aiohttp" in rss.what
    assert write.n == 10 and write.value > 0 and "fsync" in write.what
