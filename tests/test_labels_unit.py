"""Label files: the format, where they are found, and a clear error naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmonpy.labels import (
    LabelBook,
    LabelFileError,
    find_label_files,
    load_labels,
    read_label_file,
)
from pytest_llmonpy.prompts import Case, PairCase


def write(path: Path, *lines: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_pointwise_and_pair_cases_are_read_with_their_texts(tmp_path: Path) -> None:
    path = write(
        tmp_path / "__llm_labels__" / "support.jsonl",
        {"output": "Refunds within 30 days.", "criteria": "Mentions 30 days", "label": "pass"},
        "",  # blank lines are allowed
        {
            "output": {"answer": 42},
            "criteria": "Answers 42",
            "input": "What is six times seven?",
            "reference": "42",
            "context": ["arithmetic"],
            "label": "fail",
            "note": "keys differ",
            "labeller": "ana",
        },
        {"a": "Short.", "b": "A longer answer.", "criteria": "Is more complete", "label": "b"},
        {"output": "Not labelled yet", "criteria": "Is polite", "label": ""},
    )
    first, second, pair, waiting = read_label_file(path)
    assert (first.output, first.criteria, first.label, first.line, first.is_pair) == (
        "Refunds within 30 days.",
        "Mentions 30 days",
        "pass",
        1,
        False,
    )
    # Non-text values are judged as their JSON text, as `jury.check` does.
    assert (second.output, second.input, second.reference, second.context) == (
        '{"answer": 42}',
        "What is six times seven?",
        "42",
        '["arithmetic"]',
    )
    assert (second.note, second.labeller, second.where) == ("keys differ", "ana", f"{path}:3")
    assert (pair.a, pair.b, pair.output, pair.label, pair.is_pair) == (
        "Short.",
        "A longer answer.",
        None,
        "b",
        True,
    )
    assert waiting.label == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not a JSON object"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"criteria": "x", "label": "pass"}', 'a case needs "output" (labelled pass or fail) or "a"'),
        ('{"output": "x", "label": "pass"}', '"criteria" is missing'),
        ('{"output": "x", "criteria": "  ", "label": "pass"}', '"criteria"'),
        ('{"output": "x", "criteria": "y", "label": "yes"}', '"label" must be pass or fail (or empty: no'),
        ('{"a": "x", "b": "y", "criteria": "z", "label": "pass"}', '"label" must be a, b or tie'),
        ('{"a": "x", "criteria": "z", "label": "a"}', '"b" is missing'),
        ('{"output": "x", "criteria": "y", "lable": "pass"}', 'unknown key "lable"'),
        ('{"a": "x", "b": "y", "criteria": "z", "context": "c"}', 'unknown key "context"'),
        ('{"output": "x", "criteria": 3, "label": "pass"}', '"criteria"'),
        ('{"output": "\\ud800", "criteria": "y", "label": "pass"}', "cannot be encoded as UTF-8"),
    ],
)
def test_a_bad_line_is_one_error_naming_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "cases.jsonl", {"output": "fine", "criteria": "ok", "label": "pass"}, line)
    with pytest.raises(LabelFileError) as raised:
        read_label_file(path)
    text = str(raised.value)
    assert text.startswith(f"{path}:2: "), text
    assert message in text, text


def test_label_files_are_found_in_labels_directories_only(tmp_path: Path) -> None:
    wanted = [
        write(tmp_path / "__llm_labels__" / "a.jsonl"),
        write(tmp_path / "tests" / "deep" / "__llm_labels__" / "b.jsonl"),
    ]
    write(tmp_path / "tests" / "cases.jsonl")  # not in a labels directory
    write(tmp_path / "__llm_labels__" / "notes.txt")  # not JSONL
    write(tmp_path / ".venv" / "__llm_labels__" / "c.jsonl")  # skipped like pytest's norecursedirs
    write(tmp_path / "node_modules" / "__llm_labels__" / "d.jsonl")
    assert find_label_files([tmp_path]) == sorted(p.resolve() for p in wanted)
    # A file named on the command line is taken as it is, and a file found twice is read once.
    loose = write(tmp_path / "tests" / "cases.jsonl")
    assert find_label_files([loose, tmp_path / "tests", loose]) == sorted(
        [loose.resolve(), wanted[1].resolve()]
    )


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match="no such file or directory"):
        find_label_files([tmp_path / "nope"])


def test_cases_of_several_files_keep_file_and_line_order(tmp_path: Path) -> None:
    one = write(tmp_path / "1.jsonl", {"output": "x", "criteria": "c1", "label": "pass"})
    two = write(
        tmp_path / "2.jsonl",
        {"output": "y", "criteria": "c2", "label": "fail"},
        {"output": "z", "criteria": "c3"},
    )
    cases = load_labels([one, two])
    assert [(c.criteria, c.label) for c in cases] == [("c1", "pass"), ("c2", "fail"), ("c3", "")]


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(LabelFileError, match="cannot read the label file"):
        read_label_file(path)


def test_examples_take_one_label_in_turn_up_to_the_limit_and_never_the_case_itself(tmp_path: Path) -> None:
    lines = [
        *({"output": f"good {n}", "criteria": "Is good", "label": "pass"} for n in range(3)),
        {"output": "bad 0", "criteria": "Is good", "label": "fail"},
        {"output": "other", "criteria": "Is short", "label": "fail"},
        {"a": "x", "b": "y", "criteria": "Is good", "label": "a"},
        {"a": "p", "b": "q", "criteria": "Is good", "label": "tie"},
    ]
    book = LabelBook(read_label_file(write(tmp_path / "l.jsonl", *lines)))

    def shown(case: Case | PairCase, limit: int) -> list[tuple[str, str]]:
        return [
            (json.loads(example.answer).get("vote") or json.loads(example.answer)["winner"], example.question)
            for example in book.examples(case, limit)
        ]

    picked = shown(Case("new", " Is good "), 3)  # criteria match as a check strips them
    assert [(vote, "good 0" in q, "bad 0" in q, "good 1" in q) for vote, q in picked] == [
        ("pass", True, False, False),
        ("fail", False, True, False),
        ("pass", False, False, True),
    ]
    assert len(shown(Case("new", "Is good"), 10)) == 4  # all there are, pairs and other criteria aside
    assert not any("good 0" in q for _, q in shown(Case("good 0", "Is good"), 10))  # never itself
    assert shown(Case("new", "Is polite"), 5) == []
    assert [vote for vote, _ in shown(PairCase("m", "n", "Is good"), 5)] == ["1", "tie"]
    # A comparison of a labelled pair, in either order, is never shown that pair.
    assert [vote for vote, _ in shown(PairCase("y", "x", "Is good"), 5)] == ["tie"]
