"""The starter labelled set in benchmarks/labels: readable as label files, balanced, and its held-back
part disjoint from the development part."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pytest_llmonpy.labels import LabelledCase, find_label_files, load_labels

LABELS = Path(__file__).resolve().parent.parent / "benchmarks" / "labels"


def _split(cases: list[LabelledCase]) -> tuple[list[LabelledCase], list[LabelledCase]]:
    return [c for c in cases if not c.is_pair], [c for c in cases if c.is_pair]


def _source(case: LabelledCase) -> str:
    return case.note.split(" ", 1)[0]


def test_the_starter_set_is_balanced_and_the_held_back_part_is_apart() -> None:
    dev_points, dev_pairs = _split(load_labels(find_label_files([LABELS / "__llm_labels__"])))
    held_points, held_pairs = _split(load_labels(find_label_files([LABELS / "held_back"])))
    assert Counter((_source(case), case.label) for case in dev_points) == {
        ("HaluEval", "pass"): 100,
        ("HaluEval", "fail"): 100,
        ("TruthfulQA", "pass"): 40,
        ("TruthfulQA", "fail"): 40,
    }
    assert Counter((_source(case), case.label) for case in held_points) == {
        ("HaluEval", "pass"): 50,
        ("HaluEval", "fail"): 50,
        ("TruthfulQA", "pass"): 20,
        ("TruthfulQA", "fail"): 20,
    }
    assert Counter(case.label for case in dev_pairs) == {"a": 44, "b": 44, "tie": 12}
    assert Counter(case.label for case in held_pairs) == {"a": 22, "b": 22, "tie": 6}
    assert not {case.output for case in dev_points} & {case.output for case in held_points}
    # Pairs are split by instruction: one asked in both parts would leak what a tuned prompt learnt.
    assert not {case.input for case in dev_pairs} & {case.input for case in held_pairs}
    # TruthfulQA is split by question, and checked against the question's reference answer.
    truthful = [case for case in dev_points + held_points if _source(case) == "TruthfulQA"]
    assert all(case.input and case.reference and case.reference != case.output for case in truthful)
    assert not {c.input for c in dev_points if c in truthful} & {
        c.input for c in held_points if c in truthful
    }
    assert len({case.input for case in truthful}) == len(truthful)  # one answer per question
    assert all(case.input and case.note.startswith("PandaLM test set #") for case in dev_pairs + held_pairs)
