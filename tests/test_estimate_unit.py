"""--jury-estimate's counting and pricing of one call, without a run."""

from __future__ import annotations

import pytest

from pytest_llmonpy.estimate import DEFAULT_REPLY_TOKENS, ESTIMATED_REASON, Estimator, mean_reply_tokens
from pytest_llmonpy.prompts import Case, PairCase


def test_a_judges_reply_size_is_the_mean_of_its_cached_replies() -> None:
    replies = [("a", 20), ("a", 31), ("b", 12), ("b", 0), ("c", 0)]
    assert mean_reply_tokens(replies) == {"a": 26, "b": 12}  # no reply measured: no entry


@pytest.fixture
def estimator(litellm_in_this_process: None) -> Estimator:
    return Estimator(lambda: {"openai/gpt-4o-mini": 17})


def test_a_check_is_counted_priced_and_passes_without_a_judge(estimator: Estimator) -> None:
    vote = estimator.vote("openai/gpt-4o-mini", Case("Refunds within 30 days.", "Mentions the limit"))
    assert (vote.vote, vote.reason, vote.attempts) == ("pass", ESTIMATED_REASON, 0)
    again = estimator.vote("openai/gpt-4o-mini", Case("Refunds within 30 days.", "Mentions the limit"))
    other = estimator.vote("openai/gpt-4o", Case("Refunds within 30 days.", "Mentions the limit"))
    assert vote.estimated == again.estimated != other.estimated  # the call's identity
    assert vote.tokens_out == 17  # its cached replies' mean
    assert 60 < vote.tokens_in < 200  # the system prompt and the case, by litellm's tokenizer
    assert vote.cost_usd == pytest.approx(vote.tokens_in * 0.15e-6 + 17 * 0.6e-6)


def test_a_judge_without_cached_replies_or_price_is_estimated_unpriced(estimator: Estimator) -> None:
    vote = estimator.vote("judge-x", Case("out", "Is short"))
    assert vote.tokens_out == DEFAULT_REPLY_TOKENS
    assert vote.cost_usd is None  # unpriced, never $0
    assert estimator.vote("local/qwen2.5-coder-1.5b", Case("out", "Is short")).cost_usd == 0.0


def test_a_score_answers_the_top_of_its_scale_and_a_comparison_a_tie(estimator: Estimator) -> None:
    score = estimator.vote("judge-x", Case("out", "Is clear", scale=(0, 10), seed=2))
    assert (score.vote, score.score, score.seed) == ("score", 10, 2)
    assert estimator.vote("judge-x", PairCase("a", "b", "Is better")).vote == "tie"
