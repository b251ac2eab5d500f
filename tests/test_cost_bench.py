"""The cost bench (edgevoice.bench.cost): the README's figures come from the emulator's usage, played
through the session edgevoice opens, and the studies show what they claim."""

from __future__ import annotations

import pytest

from edgevoice.bench.cost import context_study, conversation, kiosk_hour, list_prices, shipped_config
from edgevoice.cost.usage import KINDS


@pytest.fixture(scope="module")
def config():
    return shipped_config()


def test_an_hour_is_its_visitors_conversations_and_is_priced_per_tier(config) -> None:
    one = conversation(config, 2, question_s=3.0, reply_words=20)
    hour = kiosk_hour(config, visitors=5, turns=2, question_s=3.0, reply_words=20)
    for kind in KINDS:
        assert getattr(hour.tokens, kind) == 5 * sum(getattr(u, kind) for u in one)
    # The first reply reads its question (3 s: 30 tokens); the second, the first turn again (its question and
    # its 7.5 s reply, read back at 10 tokens a second) and its own question.
    assert hour.tokens.input_audio == 5 * (30 + (30 + 75 + 30))
    assert hour.cost["gpt-realtime"] == pytest.approx(list_prices("gpt-realtime").cost(hour.tokens))
    assert hour.cost["gpt-realtime-mini"] < hour.cost["gpt-realtime"]


def test_context_grows_each_turn_and_a_cap_starts_it_again(config) -> None:
    study = context_study(config, turns=6, cap=3)
    uncapped, forgetting, summary = (study[name] for name in study)
    contexts = [u.context for u in uncapped]
    assert contexts == sorted(contexts) and contexts[5] > contexts[0] * 3
    assert forgetting[3].context == uncapped[0].context  # a fresh session, as the first turn
    carried = summary[3].context - forgetting[3].context  # the carried summary, in text tokens
    assert 20 < carried < 150 and summary[3].input_audio == forgetting[3].input_audio
    assert sum(u.context for u in forgetting) < sum(contexts)
