"""The starter labelled set in benchmarks/labels: readable as label files, balanced, and its held-back
part disjoint from the development part."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pytest_llmonpy.labels import LabelledCase, find_label_files, load_labels

LABELS = Path(__file__).resolve().parent.parent / "benchmarks" / "labels"


def _split(cases: list[LabelledCase]) -> tuple[list[LabelledCase], list[LabelledCase]]:
    return [c for c in cases if not c.is_pair], [c for c in cases if c.is_pair]


def test_the_starter_set_is_balanced_and_the_held_back_part_is_apart() -> None:
    dev_points, dev_pairs = _split(load_labels(find_label_files([LABELS / "__llm_labels__"])))
    held_points, held_pairs = _split(load_labels(find_label_files([LABELS / "held_back"])))
    assert Counter(case.label for case in dev_points) == {"pass": 100, "fail": 100}
    assert Counter(case.label for case in held_points) == {"pass": 50, "fail": 50}
    assert Counter(case.label for case in dev_pairs) == {"a": 44, "b": 44, "tie": 12}
    assert Counter(case.label for case in held_pairs) == {"a": 22, "b": 22, "tie": 6}
    assert not {case.output for case in dev_points} & {case.output for case in held_points}
    # Pairs are split by instruction: one asked in both parts would leak what a tuned prompt learnt.
    assert not {case.input for case in dev_pairs} & {case.input for case in held_pairs}
    assert all(case.input and case.note.startswith("HaluEval general #") for case in dev_points + held_points)
    assert all(case.input and case.note.startswith("PandaLM test set #") for case in dev_pairs + held_pairs)
