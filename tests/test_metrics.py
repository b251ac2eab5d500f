"""Fleet metrics (issue 17 item 4): records in, the Prometheus text format out, parsed by
prometheus_client's own parser; the textfile is replaced atomically and survives a bad directory."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgevoice.metrics.exposition import Family, Histogram, render
from edgevoice.metrics.fleet import RESULT_GRACE_S, FleetMetrics
from edgevoice.metrics.process import process_families, resident_bytes
from edgevoice.metrics.textfile import MetricsTextfile


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def parse(text: str) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """name -> {(sample name, sorted labels): value}, read by Prometheus's parser."""
    out: dict[str, dict] = {}
    for family in text_string_to_metric_families(text):
        samples = out.setdefault(family.name, {})
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(parsed, family: str, sample: str | None = None, **labels: str) -> float:
    return parsed[family][(sample or family, tuple(sorted(labels.items())))]


def feed(metrics: FleetMetrics, clock: Clock, *records: tuple) -> None:
    """Records as (seconds from now, turn, event, detail...)."""
    for at, turn, event, detail in records:
        clock.now = 100.0 + at
        metrics.record({"t": clock.now, "event": event, "turn": turn, **detail})


def test_a_day_of_turns_counts_results_latencies_and_states():
    clock = Clock()
    ends: list[int] = []
    m = FleetMetrics(clock=clock, on_turn_end=lambda: ends.append(1))
    feed(m, clock,
         # turn 1: answered
         (0.0, 1, "wake", {"name": "okay_nabu"}), (0.0, 1, "state", {"state": "listening"}),
         (2.0, 1, "state", {"state": "thinking"}), (2.8, 1, "playback_start", {}),
         (2.8, 1, "turn_latency", {"wake_to_audio_ms": 120.0, "voice_to_voice_ms": 800.0}),
         (2.8, 1, "state", {"state": "speaking"}), (4.0, 1, "state", {"state": "follow_up"}),
         # turn 2 (follow-up) is interrupted: answered, and a barge-in 0.2 s after the speech began
         (4.5, 2, "state", {"state": "listening"}), (5.5, 2, "playback_start", {}),
         (5.5, 2, "turn_latency", {"wake_to_audio_ms": None, "voice_to_voice_ms": 1600.0}),
         (6.0, 2, "barge_in_speech", {}), (6.2, 3, "barge_in", {"trigger": "vad"}),
         # turn 3: the connection fails; a cached apology plays; offline for 30 s
         (6.2, 3, "connection", {"outcome": "offline"}), (6.3, 3, "error", {"code": "session_offline"}),
         (6.3, 3, "offline_reply", {"kind": "offline", "phrase": "offline"}), (6.3, 3, "state", {"state": "offline"}),
         (36.3, 3, "state", {"state": "idle"}), (36.4, 3, "connection", {"outcome": "ok"}),
         # turn 4: an offline answer from the cache
         (40.0, 4, "wake", {}), (40.0, 4, "state", {"state": "listening"}), (41.0, 4, "offline_reply", {"kind": "answer"}),
         (41.0, 4, "state", {"state": "offline"}),
         (42.0, 4, "device", {"device": "microphone", "ok": False}), (43.0, 4, "device", {"device": "microphone", "ok": False}),
    )
    clock.now = 150.0
    text = render(m.families())
    p = parse(text)
    assert value(p, "edgevoice_turns", "edgevoice_turns_total", result="answered") == 2
    assert value(p, "edgevoice_turns", "edgevoice_turns_total", result="apology") == 1
    assert value(p, "edgevoice_turns", "edgevoice_turns_total", result="cached") == 1
    assert value(p, "edgevoice_turns", "edgevoice_turns_total", result="error") == 0
    assert len(ends) == 4  # the file is asked for at each turn's end
    assert value(p, "edgevoice_wake_detections", "edgevoice_wake_detections_total") == 2
    assert value(p, "edgevoice_voice_to_voice_seconds", "edgevoice_voice_to_voice_seconds_count") == 2
    assert value(p, "edgevoice_voice_to_voice_seconds", "edgevoice_voice_to_voice_seconds_sum") == pytest.approx(2.4)
    assert value(p, "edgevoice_voice_to_voice_seconds", "edgevoice_voice_to_voice_seconds_bucket", le="1") == 1
    assert value(p, "edgevoice_voice_to_voice_seconds", "edgevoice_voice_to_voice_seconds_bucket", le="+Inf") == 2
    assert value(p, "edgevoice_wake_to_audio_seconds", "edgevoice_wake_to_audio_seconds_count") == 1
    assert value(p, "edgevoice_barge_in_seconds", "edgevoice_barge_in_seconds_sum") == pytest.approx(0.2)
    # 30 s offline, then offline again since 141 s (9 s so far)
    assert value(p, "edgevoice_offline_seconds", "edgevoice_offline_seconds_total") == pytest.approx(39.0)
    assert value(p, "edgevoice_connection_attempts", "edgevoice_connection_attempts_total", outcome="ok") == 1
    assert value(p, "edgevoice_connection_attempts", "edgevoice_connection_attempts_total", outcome="offline") == 1
    assert value(p, "edgevoice_state", state="offline") == 1
    assert sum(v for (name, _), v in p["edgevoice_state"].items()) == 1
    assert value(p, "edgevoice_device_errors", "edgevoice_device_errors_total", device="microphone") == 1  # one fault
    assert value(p, "edgevoice_device_ok", device="microphone") == 0
    assert value(p, "edgevoice_device_ok", device="speaker") == 1


def test_an_error_turn_waits_for_an_offline_answer_then_counts_as_error():
    clock = Clock()
    m = FleetMetrics(clock=clock)
    feed(m, clock, (0.0, 1, "state", {"state": "listening"}), (1.0, 1, "error", {"code": "session_offline"}),
         (1.0, 1, "state", {"state": "offline"}))
    clock.now = 101.0 + RESULT_GRACE_S / 2
    assert value(parse(render(m.families())), "edgevoice_turns", "edgevoice_turns_total", result="error") == 0
    feed(m, clock, (3.0, 1, "offline_reply", {"kind": "answer"}))  # recognised on the device: answered from the cache
    clock.now += RESULT_GRACE_S
    p = parse(render(m.families()))
    assert value(p, "edgevoice_turns", "edgevoice_turns_total", result="cached") == 1
    feed(m, clock, (20.0, 2, "state", {"state": "listening"}), (21.0, 2, "error", {"code": "server_error"}),
         (21.0, 2, "state", {"state": "idle"}))
    clock.now = 121.0 + RESULT_GRACE_S
    p = parse(render(m.families()))
    assert value(p, "edgevoice_turns", "edgevoice_turns_total", result="error") == 1
    assert value(p, "edgevoice_turns", "edgevoice_turns_total", result="cached") == 1


def test_offline_seconds_never_go_down_when_a_state_record_is_stamped_before_a_write():
    clock = Clock()
    m = FleetMetrics(clock=clock)
    m.record({"t": 100.0, "event": "state", "turn": 1, "state": "offline"})
    clock.now = 110.0
    assert value(parse(render(m.families())), "edgevoice_offline_seconds", "edgevoice_offline_seconds_total") == 10.0
    m.record({"t": 109.5, "event": "state", "turn": 1, "state": "idle"})  # it happened just before that write
    assert value(parse(render(m.families())), "edgevoice_offline_seconds", "edgevoice_offline_seconds_total") == 10.0


def test_a_wake_word_with_nothing_after_it_is_no_turn():
    clock = Clock()
    m = FleetMetrics(clock=clock)
    feed(m, clock, (0.0, 1, "wake", {}), (0.0, 1, "state", {"state": "listening"}), (8.0, 1, "state", {"state": "idle"}))
    clock.now = 200.0
    p = parse(render(m.families()))
    assert sum(p["edgevoice_turns"].values()) == 0
    assert value(p, "edgevoice_wake_detections", "edgevoice_wake_detections_total") == 1


def test_labels_are_escaped_and_odd_records_are_ignored():
    fam = Family("edgevoice_test_total", "counter", 'help with "quotes"\nand a newline').add(1, {"x": 'a"b\\c\nd'})
    parsed = list(text_string_to_metric_families(render([fam])))
    assert parsed[0].samples[0].labels == {"x": 'a"b\\c\nd'}
    clock = Clock()
    m = FleetMetrics(clock=clock)
    for bad in ({}, {"event": "state"}, {"event": "connection", "outcome": "bogus"}, {"event": "device", "device": "toaster"},
                {"event": "turn_latency", "voice_to_voice_ms": "slow"}, {"event": "wake", "turn": "x"},
                {"event": "state", "state": "offline", "t": "soon"}, {"event": "turn_latency", "voice_to_voice_ms": float("nan")}):
        m.record(bad)
    p = parse(render(m.families()))
    assert sum(p["edgevoice_connection_attempts"].values()) == 0
    with pytest.raises(ValueError):
        render([Family("a", "gauge", "x"), Family("a", "gauge", "y")])


def test_histogram_buckets_are_cumulative():
    h = Histogram((0.1, 0.5))
    for v in (0.05, 0.1, 0.3, 2.0):
        h.observe(v)
    fam = h.samples_into(Family("t_seconds", "histogram", "t"))
    assert [s.value for s in fam.samples] == [2, 3, 4, pytest.approx(2.45), 4]


def test_process_families_report_this_process():
    p = parse(render(process_families()))
    rss = value(p, "edgevoice_process_resident_memory_bytes")
    assert 10e6 < rss < 4e9 and rss == pytest.approx(resident_bytes(), rel=0.5)
    assert value(p, "edgevoice_process_cpu_seconds", "edgevoice_process_cpu_seconds_total") > 0


def test_textfile_is_written_atomically_on_request_and_retries_a_missing_directory(tmp_path, caplog):
    path = tmp_path / "collector" / "edgevoice.prom"
    clock = Clock()
    fleet = FleetMetrics(clock=clock)
    writer = MetricsTextfile(path, interval_s=3600)
    fleet.on_turn_end = writer.request
    writer.add_provider(fleet.families)
    writer.add_provider(process_families)
    with caplog.at_level(logging.ERROR):
        assert not writer.write_now() and not writer.write_now()
    assert [r.message for r in caplog.records].count(next(r.message for r in caplog.records)) == 1  # said once
    path.parent.mkdir()
    writer.start()
    try:
        wait_for(lambda: path.exists(), "the first write")
        first = writer.writes
        feed(fleet, clock, (0.0, 1, "state", {"state": "listening"}), (1.0, 1, "playback_start", {}),
             (2.0, 1, "state", {"state": "follow_up"}))
        wait_for(lambda: writer.writes > first, "the write at the turn's end")  # not the hour's interval
        p = parse(path.read_text())
        assert value(p, "edgevoice_turns", "edgevoice_turns_total", result="answered") == 1
        assert "edgevoice_process_resident_memory_bytes" in p
        assert oct(path.stat().st_mode & 0o777) == "0o644"
    finally:
        writer.close()
    assert [f.name for f in path.parent.iterdir()] == ["edgevoice.prom"]  # no temporary file left behind


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_broken_provider_does_not_stop_the_writer(tmp_path):
    path = tmp_path / "edgevoice.prom"
    calls = []

    def broken() -> list[Family]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return [Family("edgevoice_ok", "gauge", "ok").add(1)]

    writer = MetricsTextfile(path, interval_s=3600)
    writer.add_provider(broken)
    writer.start()
    try:
        wait_for(lambda: calls, "the first attempt")
        writer.request()
        wait_for(lambda: path.exists(), "the second write")
    finally:
        writer.close()
    assert "edgevoice_ok 1" in Path(path).read_text()


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_EVENTS = st.sampled_from(["wake", "state", "playback_start", "offline_reply", "error", "turn_latency", "barge_in_speech",
                           "barge_in", "connection", "device", "bogus"])
_ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(allow_nan=True), st.text(max_size=6),
                 st.sampled_from(["idle", "listening", "offline", "follow_up", "ok", "auth", "microphone", "answer"]))
_RECORD = st.fixed_dictionaries({"event": _EVENTS}, optional={
    "t": st.floats(0, 1000), "turn": st.integers(0, 6), "state": _ANY, "kind": _ANY, "outcome": _ANY, "device": _ANY,
    "ok": _ANY, "voice_to_voice_ms": _ANY, "wake_to_audio_ms": _ANY})


@settings(max_examples=200, deadline=None)
@given(st.lists(_RECORD, max_size=40))
def test_any_records_give_a_file_that_parses_and_counters_never_go_down(records):
    clock = Clock()
    m = FleetMetrics(clock=clock)
    before: dict = {}
    for record in records:
        m.record(record)
        clock.now += 1.0
        parsed = parse(render(m.families()))
        counters = {k: v for fam, samples in parsed.items() for k, v in samples.items()
                    if k[0].endswith(("_total", "_count", "_sum"))}
        assert all(counters.get(k, 0) >= v for k, v in before.items()), "a counter went down"
        before = counters
