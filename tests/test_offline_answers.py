"""Offline answers piece by piece: the [[offline.answers]] table, the pure matcher, the real pocketsphinx
recogniser on spoken questions, the daemon's shell (lazy loading and release), and ``edgevoice cache list``."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pytest

from config_helpers import run_cli, write_config
from edgevoice.assistant import events as E
from edgevoice.config.errors import ConfigError
from edgevoice.config.load import parse_config
from edgevoice.offline.answers import OfflineAnswers
from edgevoice.offline.matcher import QuestionMatcher, content_words, same_question
from edgevoice.offline.recogniser import QuestionRecogniser, bigram_arpa
from listening_helpers import pcm16, tts

QUESTIONS = {
    "toilets": ["where are the toilets", "where is the bathroom"],
    "hours": ["when do you close", "what are your opening hours"],
    "wifi": ["what is the wifi password", "how do I get on the wifi"],
}
ANSWERS_TOML = """
[voicelive]
endpoint = "https://example.invalid"
[offline]
cache_dir = "{cache}"
phrases = {{ hours = "We are open from nine to five." }}
[[offline.answers]]
id = "toilets"
questions = ["Where are the toilets?", "where is the bathroom"]
answer = "The toilets are down the hall on the left."
[[offline.answers]]
id = "hours"
questions = ["when do you close"]
phrase = "hours"
"""


def parse(text: str):
    return parse_config(text, "test.toml")


# --- the config ------------------------------------------------------------------------------


def test_answers_are_read_and_join_the_cached_texts(tmp_path: Path) -> None:
    config = parse(ANSWERS_TOML.format(cache=tmp_path))
    toilets, hours = config.offline.answers
    assert toilets.questions == ("Where are the toilets?", "where is the bathroom") and toilets.sound_name == "answer:toilets"
    assert hours.sound_name == "hours", "an answer that names a phrase plays that phrase"
    texts = config.offline.spoken_texts()
    assert texts["answer:toilets"] == "The toilets are down the hall on the left."
    assert "answer:hours" not in texts and texts["hours"] == "We are open from nine to five."


@pytest.mark.parametrize("entry, key, problem", [
    ('id = "Bad Id"\nquestions = ["hi there"]\nanswer = "x"', "offline.answers[0].id", "is not an answer name"),
    ('id = "a"\nquestions = []\nanswer = "x"', "offline.answers[0].questions", "is empty"),
    ('id = "a"\nquestions = ["?!"]\nanswer = "x"', "offline.answers[0].questions[0]", "has no words"),
    ('id = "a"\nquestions = ["hi there"]', "offline.answers[0].answer", "either answer"),
    ('id = "a"\nquestions = ["hi there"]\nanswer = "x"\nphrase = "offline"', "offline.answers[0].answer", "not both"),
    ('id = "a"\nquestions = ["hi there"]\nphrase = "nope"', "offline.answers[0].phrase", "'nope' is not a phrase"),
    ('id = "a"\nquestions = ["hi there"]\nanswer = "x"\n[[offline.answers]]\nid = "a"\nquestions = ["yo"]\nanswer = "y"',
     "offline.answers[1].id", "used by an earlier answer"),
])
def test_a_bad_answer_is_named_with_its_key(entry: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(f'[voicelive]\nendpoint = "https://example.invalid"\n[[offline.answers]]\n{entry}\n')
    assert caught.value.key == key and problem in str(caught.value)


# --- the matcher -----------------------------------------------------------------------------


def test_content_words_ignore_function_words_contractions_and_plurals() -> None:
    assert content_words("Where's the TOILETS, please?") == {"toilet"}
    assert content_words("what is the wifi password") == content_words("What's the WiFi password") == {"wifi", "password"}
    assert content_words("where is it") == frozenset()


def test_the_matcher_answers_a_close_match_and_apologises_otherwise() -> None:
    m = QuestionMatcher(QUESTIONS, min_score=0.75)
    assert m.decide("where is the toilet please").answer == "toilets"
    assert m.decide("what is the wifi password").answer == "wifi"
    assert m.decide("how i the wifi").answer == "wifi"
    assert m.decide("what is the weather tomorrow").answer == ""  # nothing in common
    assert m.decide("").answer == "" and m.decide("").score == 0.0
    # Half the words fit: below the threshold, the apology.
    half = m.decide("wifi cost")
    assert half.answer == "" and half.score == pytest.approx(2 / 3)
    # Two answers fit equally well: a guess, so the apology.
    tie = m.decide("close the wifi")
    assert tie.answer == "" and tie.runner_up == tie.score


def test_two_questions_are_the_same_when_their_content_words_are() -> None:
    assert same_question("Where are the toilets?", "where's the toilet")
    assert not same_question("where are the toilets", "where is the train station")
    assert same_question("hello", "Hello!") and not same_question("hello", "what")


def test_the_language_model_is_valid_arpa() -> None:
    arpa = bigram_arpa(["where are the toilets", "when do you close"], {"hello", "where"})
    assert arpa.startswith("\\data\\\nngram 1=") and arpa.rstrip().endswith("\\end\\")
    unigrams = arpa.split("\\1-grams:\n")[1].split("\n\n")[0].splitlines()
    words = {line.split()[1] for line in unigrams}
    assert {"<s>", "</s>", "hello", "toilets", "close"} <= words


# --- the real recogniser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def recogniser() -> QuestionRecogniser:
    return QuestionRecogniser(QuestionMatcher(QUESTIONS).sentences())


@pytest.mark.parametrize("said, answer", [
    ("what's the wifi password", "wifi"),
    ("when do you close", "hours"),
    ("tell me a joke", ""),
    ("what is the weather tomorrow", ""),
])
def test_spoken_questions_are_recognised_on_the_device(recogniser: QuestionRecogniser, said: str, answer: str) -> None:
    heard = recogniser.recognise(pcm16(tts(said) * 0.3))
    assert QuestionMatcher(QUESTIONS).decide(heard.text).answer == answer, heard
    assert heard.cpu_s > 0


def test_silence_is_heard_as_nothing(recogniser: QuestionRecogniser) -> None:
    heard = recogniser.recognise(bytes(32000))
    assert QuestionMatcher(QUESTIONS).decide(heard.text).answer == ""


# --- the daemon's shell ----------------------------------------------------------------------


class CountingRecogniser:
    """Stands in for pocketsphinx where only loading and releasing are under test (labelled mock)."""

    made: list[CountingRecogniser] = []

    def __init__(self, sentences: list[str]) -> None:
        self.sentences = sentences
        self.closed = False
        CountingRecogniser.made.append(self)

    def recognise(self, pcm: bytes):
        from edgevoice.offline.recogniser import Heard

        return Heard("where are the toilets", 0.5, 0.001)

    def close(self) -> None:
        self.closed = True


def answers_shell(tmp_path: Path, clock: list[float], inbox: queue.SimpleQueue) -> OfflineAnswers:
    from edgevoice.offline.phrases import PhraseBook

    config = parse(ANSWERS_TOML.format(cache=tmp_path))  # recogniser_release_s = 300 (the default)
    phrases = PhraseBook(config.offline.spoken_texts())
    return OfflineAnswers(config.offline, phrases, post=inbox.put, recogniser=CountingRecogniser, clock=lambda: clock[0])


def test_the_recogniser_is_loaded_when_offline_and_released_after_a_while_online(tmp_path: Path) -> None:
    CountingRecogniser.made.clear()
    clock, inbox = [0.0], queue.SimpleQueue()
    shell = answers_shell(tmp_path, clock, inbox)
    shell.upkeep(offline=False)
    assert not shell.loaded and not CountingRecogniser.made, "online: never loaded"
    shell.upkeep(offline=True)
    for _ in range(200):
        if shell.loaded:
            break
        threading.Event().wait(0.01)
    assert shell.loaded and len(CountingRecogniser.made) == 1
    assert CountingRecogniser.made[0].sentences[0] == "where are the toilets"
    shell.upkeep(offline=False)  # back online at t=0
    clock[0] = 299.0
    shell.upkeep(offline=False)
    assert shell.loaded
    clock[0] = 300.0
    shell.upkeep(offline=False)
    assert not shell.loaded and CountingRecogniser.made[0].closed


def test_a_question_is_recognised_on_a_worker_and_the_verdict_posted(tmp_path: Path) -> None:
    clock, inbox = [0.0], queue.SimpleQueue()
    shell = answers_shell(tmp_path, clock, inbox)
    shell.begin()
    shell.hear(bytes(32000))
    shell.recognise()
    assert inbox.get(timeout=10) == E.OfflineHeard("toilets", "where are the toilets", 1.0)
    shell.recognise()  # no audio kept since: too little to recognise, the apology
    assert inbox.get(timeout=10) == E.OfflineHeard()
    assert shell.sound("toilets").pcm and shell.sound("hours").pcm
    with pytest.raises(KeyError):
        shell.sound("nope")


# --- edgevoice cache list --------------------------------------------------------------------


def test_cache_list_shows_the_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, ANSWERS_TOML.format(cache=tmp_path / "cache"))
    result = run_cli(["cache", "list", "--config", str(cfg)], capsys)
    assert result.status == 1
    assert "answer:toilets" in result.out and "missing" in result.out and "down the hall" in result.out


# --- learned answers ---------------------------------------------------------------------------


def learned_store(tmp_path: Path, **kwargs):
    from edgevoice.offline.cache import VoiceKey
    from edgevoice.offline.learned import LearnedAnswers

    return LearnedAnswers(tmp_path / "cache", VoiceKey("alloy", "gpt-realtime", "pcm16", "https://x"), **kwargs)


def reply_sound(seconds: float = 0.5):
    from edgevoice.playback.sound import Sound

    return Sound(bytes(range(256)) * int(seconds * 125), 16000)


def test_the_same_question_asked_again_is_counted_and_used_once_frequent(tmp_path: Path) -> None:
    store = learned_store(tmp_path, min_count=2)
    first = store.learn("What's the wifi password?", "It is kiosk123.", reply_sound())
    assert first is not None and first.count == 1 and store.usable() == []
    again = store.learn("what is the wifi password", "It is kiosk 123.", reply_sound(0.6))
    assert again is not None and again.id == first.id and again.count == 2 and again.reply == "It is kiosk 123."
    assert [e.name for e in store.usable()] == [f"learned:{first.id}"]
    assert store.sound(first.name).pcm == reply_sound(0.6).pcm, "the newest reply is kept"
    assert store.learn("where are the toilets", "Down the hall.", reply_sound()).count == 1
    assert [e.count for e in store.entries()] == [2, 1]
    # Another process (edgevoice cache) sees the same.
    assert [e.question for e in learned_store(tmp_path).entries()] == ["What's the wifi password?", "where are the toilets"]


def test_learned_answers_are_capped_and_can_be_forgotten(tmp_path: Path) -> None:
    store = learned_store(tmp_path, max_entries=2)
    store.learn("where are the toilets", "Down the hall.", reply_sound())
    store.learn("where are the toilets", "Down the hall.", reply_sound())
    store.learn("when do you close", "At five.", reply_sound())
    assert store.learn("where is the exit", "Behind you.", reply_sound()) is not None  # newest of the once-asked
    assert {e.question for e in store.entries()} == {"where are the toilets", "where is the exit"}
    assert store.learn("is there any", "x", reply_sound()) is None, "no content words: nothing to learn"
    gone = store.forget(f"learned:{store.entries()[0].id}")
    assert gone is not None and gone.question == "where are the toilets"
    assert [e.question for e in store.entries()] == ["where is the exit"] and store.forget("nope") is None
    wavs = list((tmp_path / "cache" / "learned").glob("phrase-*.wav"))
    assert len(wavs) == 1, "the forgotten answer's audio is removed too"


def test_cache_list_and_forget_learned_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgevoice.offline.cache import VoiceKey
    from edgevoice.offline.learned import LearnedAnswers

    cfg = write_config(tmp_path, ANSWERS_TOML.format(cache=tmp_path / "cache").replace(
        'phrases = {', 'learn = true\nphrases = {'))
    config = parse(cfg.read_text())
    store = LearnedAnswers(config.offline.cache_dir, VoiceKey.from_config(config.voicelive))
    entry = store.learn("what is the wifi password", "It is kiosk123.", reply_sound())
    listed = run_cli(["cache", "list", "--config", str(cfg)], capsys)
    assert f"learned:{entry.id}  asked   1x  not yet  'what is the wifi password' -> 'It is kiosk123.'" in listed.out
    assert run_cli(["cache", "forget", entry.id, "--config", str(cfg)], capsys).status == 0
    missing = run_cli(["cache", "forget", entry.id, "--config", str(cfg)], capsys)
    assert missing.status == 1 and "no learned answer" in missing.err


def test_a_live_turn_is_learned_only_when_its_reply_played_to_the_end(tmp_path: Path) -> None:
    from edgevoice.offline.phrases import PhraseBook

    config = parse(ANSWERS_TOML.format(cache=tmp_path / "cache"))
    store = learned_store(tmp_path)
    shell = OfflineAnswers(config.offline, PhraseBook(config.offline.spoken_texts()), post=lambda _: None,
                           recogniser=CountingRecogniser, learned=store)
    shell.begin()
    shell.reply_audio(bytes(3200))
    shell.transcript("user", "where is the exit")
    shell.forget_turn()  # a barge-in cut the reply
    shell.reply_played()
    shell.begin()
    shell.transcript("user", "what is the wifi password")
    shell.reply_audio(bytes(3200))
    shell.reply_played()
    shell.transcript("assistant", "It is on the card.")  # arrives after the reply played: not waited for
    for _ in range(500):
        if store.entries():
            break
        threading.Event().wait(0.01)
    assert [(e.question, e.count) for e in store.entries()] == [("what is the wifi password", 1)]
