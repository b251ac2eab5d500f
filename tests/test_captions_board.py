"""The captions board (issue 17 item 1): records in, the page's view out, on a clock the test holds."""

from __future__ import annotations

import pytest

from edgevoice.captions.board import CaptionBoard


def rec(t: float, event: str, turn: int = 1, **detail) -> dict:
    return {"t": t, "event": event, "turn": turn, **detail}


def texts(board: CaptionBoard, now: float) -> list[tuple[str, str]]:
    return [(line["role"], line["text"]) for line in board.view(now)["lines"]]


def reply(board: CaptionBoard, t: float, words: list[tuple[float, str]], response_id: str = "resp_1", turn: int = 1) -> None:
    for audio_ms, text in words:
        board.take(rec(t, "reply_delta", turn, text=text, response_id=response_id, audio_ms=audio_ms), t)


WORDS = [(0.0, "Down"), (300.0, " the"), (500.0, " stairs,"), (900.0, " then"), (1200.0, " left.")]


def test_the_visitors_words_stream_then_complete_and_the_state_shows():
    board = CaptionBoard()
    board.take(rec(1.0, "state", state="listening"), 1.0)
    assert board.view(1.0)["label"] == "listening" and board.view(1.0)["lines"] == []
    board.take(rec(2.0, "transcript_delta", text="where", item_id="item_1"), 2.0)
    board.take(rec(2.1, "transcript_delta", text=" is the", item_id="item_1"), 2.1)
    view = board.view(2.1)
    assert view["lines"] == [{"role": "user", "text": "where is the", "final": False, "cut": False}]
    board.take(rec(2.3, "transcript", text="Where is the cloakroom?", item_id="item_1"), 2.3)
    board.take(rec(2.3, "transcript_delta", text=" late", item_id="item_1"), 2.3)  # after completion: ignored
    assert board.view(2.3)["lines"] == [{"role": "user", "text": "Where is the cloakroom?", "final": True, "cut": False}]
    board.take(rec(2.4, "state", state="thinking"), 2.4)
    assert board.view(2.4)["label"] == "thinking"


def test_the_reply_is_shown_as_its_audio_plays():
    board = CaptionBoard()
    board.take(rec(1.0, "state", state="thinking"), 1.0)
    reply(board, 1.0, WORDS)  # the words come ahead of the audio
    assert texts(board, 1.5) == []  # nothing has played yet
    board.take(rec(2.0, "playback_start"), 2.0)
    assert texts(board, 2.0) == [("assistant", "Down")]
    assert board.next_change(2.0) == 2.3
    assert texts(board, 2.55) == [("assistant", "Down the stairs,")]
    assert board.next_change(2.55) == 2.9
    board.take(rec(3.5, "playback_end"), 3.5)
    view = board.view(3.5)
    assert view["lines"] == [{"role": "assistant", "text": "Down the stairs, then left.", "final": True, "cut": False}]
    assert board.next_change(3.5) is None


def test_playback_may_start_before_the_first_words_arrive():
    board = CaptionBoard()
    board.take(rec(1.0, "state", state="speaking"), 1.0)
    board.take(rec(2.0, "playback_start"), 2.0)
    reply(board, 2.1, WORDS)
    assert texts(board, 2.6) == [("assistant", "Down the stairs,")]


def test_a_barge_in_cuts_the_caption_where_the_voice_stopped():
    board = CaptionBoard()
    board.take(rec(0.5, "state", state="speaking"), 0.5)
    reply(board, 1.0, WORDS)
    board.take(rec(2.0, "playback_start"), 2.0)
    board.take(rec(2.6, "barge_in", turn=2, trigger="vad"), 2.6)
    reply(board, 2.7, [(1500.0, " And")])  # late words of the cancelled reply
    view = board.view(10.0)
    assert view["lines"] == [{"role": "assistant", "text": "Down the stairs,", "final": True, "cut": True}]
    assert all(at <= 600 for at, _ in board.lines[0].words)  # the words never heard are not kept
    assert board.next_change(10.0) is None


def test_lines_keep_turn_order_even_when_the_transcript_comes_late():
    board = CaptionBoard()
    board.take(rec(0.5, "state", state="thinking"), 0.5)
    reply(board, 1.0, WORDS[:1])
    board.take(rec(1.0, "playback_start"), 1.0)
    board.take(rec(1.2, "transcript", text="Where to?", item_id="item_1"), 1.2)
    assert texts(board, 1.2) == [("user", "Where to?"), ("assistant", "Down")]


def test_nothing_is_kept_after_the_conversation_is_over():
    board = CaptionBoard(linger_s=3.0)
    board.take(rec(0.0, "state", state="listening"), 0.0)
    board.take(rec(1.0, "transcript", text="Hello", item_id="item_1"), 1.0)
    board.take(rec(5.0, "state", state="idle"), 5.0)
    assert texts(board, 7.9) == [("user", "Hello")]  # read to the end
    assert board.next_change(7.9) == 8.0
    assert board.view(8.0)["lines"] == [] and board.lines == []
    board.take(rec(9.0, "transcript", text="Late", item_id="item_2", turn=2), 9.0)  # after the end: goes too
    assert board.next_change(9.0) == 12.0 and board.view(12.0)["lines"] == []
    board.take(rec(13.0, "transcript", text="Again", item_id="item_3", turn=3), 13.0)
    board.take(rec(13.5, "state", state="listening", turn=3), 13.5)  # a new conversation: at once
    assert board.lines == []


def test_follow_up_keeps_the_conversation_and_odd_records_change_nothing():
    board = CaptionBoard()
    board.take(rec(0.0, "state", state="listening"), 0.0)
    board.take(rec(0.0, "transcript", text="Hello", item_id="item_1"), 0.0)
    board.take(rec(1.0, "state", state="follow_up"), 1.0)
    board.take(rec(2.0, "state", state="listening", turn=2), 2.0)
    for odd in ({}, {"event": "state", "state": "bogus"}, {"event": "reply_delta", "text": None, "audio_ms": "x"},
                {"event": "transcript", "text": 5}, {"event": "barge_in"}, {"event": "playback_end", "t": "soon"}):
        board.take(odd, 3.0)
    assert ("user", "Hello") in texts(board, 3.0)
    assert board.view(3.0)["state"] == "listening"


import json  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_EVENTS = st.sampled_from(["state", "transcript_delta", "transcript", "reply_delta", "playback_start", "playback_end",
                           "barge_in", "wake", "bogus"])
_VALUES = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.just(float("nan")), st.text(max_size=8),
                    st.sampled_from(["idle", "listening", "speaking", "offline", "r1", "i1"]))
_RECORDS = st.fixed_dictionaries({"event": _EVENTS}, optional={
    "t": _VALUES, "turn": _VALUES, "state": _VALUES, "text": _VALUES, "item_id": _VALUES, "response_id": _VALUES,
    "audio_ms": _VALUES})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_RECORDS, st.floats(0, 100)), max_size=30))
def test_any_records_give_a_view_and_the_board_empties_when_the_conversation_rests(steps):
    board = CaptionBoard(linger_s=1.0)
    now = 0.0
    for record, advance in steps:
        now += advance
        board.take(record, now)
        json.dumps(board.view(now))  # always something the page can read
        due = board.next_change(now)
        assert due is None or due == due  # never NaN
    board.take({"event": "state", "state": "idle", "t": now}, now)
    assert board.view(now + 1.0)["lines"] == [] and board.lines == []


def test_a_cached_reply_is_shown_whole_once_it_plays():
    board = CaptionBoard(cached_texts={"offline": "I can't reach the internet right now.", "answer:toilets": "Downstairs."})
    board.take(rec(0.0, "state", state="listening"), 0.0)
    board.take(rec(1.0, "cached_reply", phrase="offline"), 1.0)
    assert texts(board, 1.0) == []  # not heard yet
    board.take(rec(1.1, "cached_playback_start"), 1.1)
    assert board.view(1.1)["lines"] == [{"role": "assistant", "text": "I can't reach the internet right now.", "final": True,
                                         "cut": False}]
    board.take(rec(2.0, "playback_start", turn=2), 2.0)  # a live reply's start never anchors a cached line
    board.take(rec(3.0, "cached_reply", turn=2, answer="toilets"), 3.0)
    board.take(rec(3.0, "cached_reply", turn=2, phrase="unknown"), 3.0)  # no text: no caption
    board.take(rec(3.1, "cached_playback_start", turn=2), 3.1)
    assert texts(board, 3.1)[-1] == ("assistant", "Downstairs.")


def test_an_apology_after_a_failed_turn_stays_while_it_is_spoken():
    apology = "Sorry, I can't reach the internet right now. Please try again in a moment."  # about 5 s spoken
    board = CaptionBoard(linger_s=1.0, cached_texts={"offline": apology})
    board.take(rec(0.0, "state", state="listening"), 0.0)
    board.take(rec(2.0, "state", state="offline"), 2.0)  # the connect failed: a resting state at once
    board.take(rec(2.0, "cached_reply", phrase="offline"), 2.0)
    board.take(rec(2.2, "cached_playback_start"), 2.2)
    assert texts(board, 7.0) == [("assistant", apology)]
    assert board.next_change(7.0) == pytest.approx(2.2 + 1.0 + len(apology) / 15)
    assert board.view(8.3)["lines"] == []
