"""The starter labelled set in benchmarks/labels: readable as label files, balanced, and its held-back
part disjoint from the development part."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pytest_llmonpy.labels import find_label_files, load_labels

LABELS = Path(__file__).resolve().parent.parent / "benchmarks" / "labels"


def test_the_starter_set_is_balanced_and_the_held_back_part_is_apart() -> None:
    dev = load_labels(find_label_files([LABELS / "__llm_labels__"]))
    held_back = load_labels(find_label_files([LABELS / "held_back"]))
    assert Counter(case.label for case in dev) == {"pass": 100, "fail": 100}
    assert Counter(case.label for case in held_back) == {"pass": 50, "fail": 50}
    assert not {case.output for case in dev} & {case.output for case in held_back}
    assert all(case.input and case.note.startswith("HaluEval general #") for case in dev + held_back)
