"""End-to-end: `jury_examples = N` shows judges human-labelled cases of the same criteria as earlier turns
of the conversation, the examples are part of the cache key, and calibration never shows a case itself."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer, LoggedRequest

COUNTRIES = "Names the countries"
LABELS: list[dict[str, str]] = [
    {"output": "We ship to France and Spain.", "criteria": COUNTRIES, "label": "pass"},
    {"output": "We ship to Canada.", "criteria": COUNTRIES, "label": "pass", "input": "Where?"},
    {"output": "We ship everywhere.", "criteria": COUNTRIES, "label": "fail"},
    {"output": "Refunds in 30 days.", "criteria": "Mentions the refund window", "label": "pass"},
    {"a": "Short.", "b": "A full answer.", "criteria": "Is complete", "label": "b"},
    {"output": "We ship to Peru.", "criteria": COUNTRIES, "label": ""},  # not labelled yet: never shown
]
SUITE = """
import pytest

def test_point(jury):
    jury.assert_passes("We ship to Italy.", "Names the countries")

@pytest.mark.jury(examples=1)
def test_one_example(jury):
    jury.assert_passes("We ship to Japan.", "Names the countries")

def test_pair(jury):
    assert jury.compare("Yes.", "Yes, within 30 days.", "Is complete").winner == "b"
"""


def write_labels(root: Path, cases: Sequence[Mapping[str, str]]) -> None:
    path = root / "__llm_labels__" / "support.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")


def turns(request: LoggedRequest) -> list[tuple[str, Any]]:
    """The conversation after the system prompt: (role, parsed JSON answer or the user text)."""
    messages = request.body["messages"]
    assert messages[0]["role"] == "system"
    return [
        (m["role"], json.loads(m["content"]) if m["role"] == "assistant" else m["content"])
        for m in messages[1:]
    ]


def test_labelled_cases_of_the_same_criteria_are_shown_first_and_keyed(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_jury: RunJury
) -> None:
    write_labels(pytester.path, LABELS)
    pytester.makeini("[pytest]\njury_examples = 2\n")
    pytester.makepyfile(test_suite=SUITE)
    llm_server.prefer("30 days")
    run_jury("--jury-judges=judge-a").assert_outcomes(passed=3)

    italy = [r for r in llm_server.requests if r.output == "We ship to Italy."]
    assert len(italy) == 1
    conversation = turns(italy[0])
    # One label in turn: the first pass, then the fail; the last turn is the question itself.
    assert [role for role, _ in conversation] == ["user", "assistant", "user", "assistant", "user"]
    assert "We ship to France and Spain." in conversation[0][1]
    assert conversation[1][1]["vote"] == "pass"
    assert "We ship everywhere." in conversation[2][1]
    assert conversation[3][1]["vote"] == "fail"
    assert "We ship to Italy." in conversation[4][1]
    assert "Refunds" not in json.dumps(conversation)  # other criteria are never shown
    assert "Peru" not in json.dumps(conversation)  # nor unlabelled cases

    japan = [r for r in llm_server.requests if r.output == "We ship to Japan."]
    assert [role for role, _ in turns(japan[0])] == ["user", "assistant", "user"]  # the marker's 1

    pair_calls = llm_server.pair_calls()
    assert len(pair_calls) == 2  # both orders, each shown the labelled pair in its labelled order
    for call in pair_calls:
        (_, question), (_, answer), _ = turns(call)
        assert question.index("Short.") < question.index("A full answer.")
        assert answer["winner"] == "2"

    # Unchanged examples: every verdict is replayed. Another number of examples is another question.
    llm_server.reset()
    llm_server.prefer("30 days")
    run_jury("--jury-judges=judge-a").assert_outcomes(passed=3)
    assert llm_server.requests == []
    run_jury("--jury-judges=judge-a", "-o", "jury_examples=0").assert_outcomes(passed=3)
    asked = {r.output for r in llm_server.requests if r.pair is None}
    assert asked == {"We ship to Italy."}  # test_one_example's marker still says 1: cached
    assert all(len(r.body["messages"]) == 2 for r in llm_server.requests)


def test_calibration_never_shows_a_case_as_its_own_example(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    write_labels(pytester.path, LABELS)
    result = run_inprocess("--jury-judges=judge-a", "--jury-examples=3", "--jury-calibrate")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    countries = [r for r in llm_server.requests if r.criteria == COUNTRIES]
    # three labelled cases, asked of judge-a alone; the jury of judge-a alone is answered from the cache
    assert len(countries) == 3
    for request in countries:
        shown = [text for role, text in turns(request)[:-1] if role == "user"]
        assert len(shown) == 2  # the two other labelled cases of the criteria
        assert not any(request.output in text for text in shown)


@pytest.mark.parametrize("value", ["-1", "two"])
def test_a_bad_number_of_examples_is_a_usage_error(
    pytester: pytest.Pytester, run_inprocess: RunJury, value: str
) -> None:
    pytester.makepyfile(test_x="def test_x(jury):\n    pass\n")
    result = run_inprocess("--jury-judges=judge-a", f"--jury-examples={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*jury_examples must be a whole number of at least 0*{value}*"])


def test_a_case_labelled_both_ways_is_measured_and_only_refused_as_an_example(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    # Two labellers disagreed: calibration measures both lines, as without examples it always did.
    twice = {"output": "We ship to Peru.", "criteria": COUNTRIES}
    write_labels(pytester.path, [{**twice, "label": "pass"}, {**twice, "label": "fail"}])
    measured = run_inprocess("--jury-judges=judge-a", "--jury-calibrate")
    assert measured.ret == pytest.ExitCode.OK, measured.stdout.str()
    measured.stdout.fnmatch_lines(["labelled cases: 2 pointwise, 0 pairs"])
    # Shown as an example, the case would say both; that is a usage error naming both lines.
    refused = run_inprocess("--jury-judges=judge-a", "--jury-calibrate", "--jury-examples=1")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        ["*--jury-examples: *support.jsonl:2: the same case is labelled 'pass' at *:1*"]
    )
