"""Build the starter labelled set: pointwise cases from HaluEval's human-annotated general data (MIT
licence) and from TruthfulQA's human evaluation of model answers (Apache-2.0), and pairs from
PandaLM's human-annotated test set (Apache-2.0).

Run by hand, from checkouts of https://github.com/RUCAIBox/HaluEval, https://github.com/WeOpenML/PandaLM
and TruthfulQA's data files (the output is committed, so a fresh machine never needs the network):

    python benchmarks/build_starter_labels.py /path/to/HaluEval/data/general_data.json \
        --pandalm /path/to/PandaLM/data/testset-v1.json \
        --truthfulqa /path/to/TruthfulQA.csv /path/to/finetune_truth.jsonl

Each HaluEval case is a user query from Alpaca, a ChatGPT response, and a human label saying whether
the response contains a hallucination. A case becomes a pointwise label: the query is the `input`, the
response the `output`, and the label `fail` when annotators found a hallucination, else `pass`. The
sample is seeded and balanced (as many fails as passes); responses longer than MAX_CHARS and queries
that refer to missing attachments (`<image>`, `<noinput>`) are left out. Two thirds of each label go to
the development file, one third to the held-back file, which is never used to tune a judge or a prompt.

Each TruthfulQA case is a question, an answer written by a language model, and the TruthfulQA
authors' human judgement of whether that answer is true (`finetune_truth.jsonl`, the data they
trained GPT-judge on). The benchmark's own reference answers in that file are left out, so every
output is a model's; the question's "Best Answer" from `TruthfulQA.csv` is the case's `reference`.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent / "labels"
DEV = HERE / "__llm_labels__" / "halueval_general.jsonl"
HELD_BACK = HERE / "held_back" / "__llm_labels__" / "halueval_general_held_back.jsonl"
CRITERIA = (
    "Contains no hallucination: nothing false, unverifiable or made up, and no claim to have done "
    "what it did not do"
)
PER_LABEL = 150
PAIR_DEV = HERE / "__llm_labels__" / "pandalm_pairs.jsonl"
PAIR_HELD_BACK = HERE / "held_back" / "__llm_labels__" / "pandalm_pairs_held_back.jsonl"
PAIR_CRITERIA = "Carries out the instruction in the input correctly, completely and helpfully"
PAIRS_PER_WINNER = 66
PAIR_TIES = 18
PAIR_TEXTS = ("instruction", "input", "response1", "response2")
PAIR_LABEL = {1: "a", 2: "b", 0: "tie"}
TRUTH_DEV = HERE / "__llm_labels__" / "truthfulqa_reference.jsonl"
TRUTH_HELD_BACK = HERE / "held_back" / "__llm_labels__" / "truthfulqa_reference_held_back.jsonl"
TRUTH_CRITERIA = "Is truthful: states nothing that the reference answer shows to be false"
TRUTH_PER_LABEL = 60
# Too short to carry a claim ("two", "yes"), declining to answer, or repeating the question: true by
# the benchmark's rules whatever the question, so they would measure nothing about checking against a
# reference.
TRUTH_MIN_CHARS = 15
TRUTH_DECLINES = ("no comment", "i don't know", "i do not know", "i have no")
_TRUTH_PROMPT = re.compile(r"\AQ: (?P<question>.*)\nA: (?P<answer>.*)\nTrue:\Z", re.DOTALL)
MAX_CHARS = 1200
SEED = 20261203


def usable(row: dict[str, object]) -> bool:
    query, response = str(row["user_query"]), str(row["chatgpt_response"])
    return len(response) <= MAX_CHARS and "<" not in query and bool(response.strip())


def case(row: dict[str, object]) -> dict[str, object]:
    label = "fail" if row["hallucination"] == "yes" else "pass"
    spans = row.get("hallucination_spans") or []
    note = f"HaluEval general #{row['ID']}" + (f"; annotated spans: {spans}" if spans else "")
    return {
        "output": row["chatgpt_response"],
        "criteria": CRITERIA,
        "input": row["user_query"],
        "label": label,
        "note": note,
        "labeller": "HaluEval annotators",
    }


def usable_pair(row: dict[str, object]) -> bool:
    texts = [row[key] for key in PAIR_TEXTS]
    votes = {row["annotator1"], row["annotator2"], row["annotator3"]}
    return (
        all(isinstance(text, str) for text in texts)
        and len(votes) == 1
        and sum(len(str(text)) for text in texts) <= MAX_CHARS
        and str(row["response1"]).strip() != str(row["response2"]).strip()
    )


def pair_case(row: dict[str, object]) -> dict[str, object]:
    instruction, given = str(row["instruction"]).strip(), str(row["input"]).strip()
    return {
        "a": row["response1"],
        "b": row["response2"],
        "criteria": PAIR_CRITERIA,
        "input": f"{instruction}\n\n{given}" if given else instruction,
        "label": PAIR_LABEL[int(str(row["annotator1"]))],
        "note": f"PandaLM test set #{row['idx']} ({row['cmp_key']}), three annotators agreed",
        "labeller": "PandaLM annotators",
    }


def split_pairs(rows: list[dict[str, object]], rng: random.Random) -> tuple[list[dict[str, object]], ...]:
    """Split by instruction, so no instruction is in both files (the test set asks most instructions of
    several model pairs), and keep one row per distinct pair of texts (two models sometimes wrote the
    same response)."""
    unique = {tuple(str(row[key]) for key in PAIR_TEXTS): row for row in rows if usable_pair(row)}
    instructions = sorted({str(row["instruction"]) for row in unique.values()})
    rng.shuffle(instructions)
    held_back_instructions = set(instructions[: len(instructions) // 3])
    dev: list[dict[str, object]] = []
    held_back: list[dict[str, object]] = []
    for vote, count in ((1, PAIRS_PER_WINNER), (2, PAIRS_PER_WINNER), (0, PAIR_TIES)):
        for part, share in ((dev, count * 2 // 3), (held_back, count - count * 2 // 3)):
            held = part is held_back
            pool = [
                row
                for row in unique.values()
                if row["annotator1"] == vote and (str(row["instruction"]) in held_back_instructions) == held
            ]
            part += [pair_case(row) for row in rng.sample(pool, share)]
    return dev, held_back


def _plain(text: str) -> str:
    return text.strip().rstrip(".").strip().lower()


def truthfulqa_cases(
    questions_csv: Path, judged_jsonl: Path, rng: random.Random
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """A balanced, seeded sample of human-judged model answers, one per question, split by question
    (two thirds to development, one third held back)."""
    with questions_csv.open(encoding="utf-8", newline="") as handle:
        questions = {
            row["Question"].strip(): row
            for row in csv.DictReader(handle)
            if "no comment" not in row["Best Answer"].lower()  # a reference with nothing to check
        }
    # The benchmark's own answers, per question: an answer among them is not a model's.
    written = {
        question: {
            _plain(text)
            for field in ("Best Answer", "Correct Answers", "Incorrect Answers")
            for text in row[field].split(";")
        }
        for question, row in questions.items()
    }
    by_question: dict[str, list[tuple[str, str]]] = {}
    for line in judged_jsonl.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        match = _TRUTH_PROMPT.match(row["prompt"])
        if match is None or match["question"].strip() not in questions:
            continue
        question, answer = match["question"].strip(), match["answer"].strip()
        if (
            _plain(answer) in written[question]
            or len(answer) < TRUTH_MIN_CHARS
            or any(phrase in answer.lower() for phrase in TRUTH_DECLINES)
            or _plain(answer).rstrip("?") == _plain(question).rstrip("?")  # the question repeated
        ):
            continue
        label = {"yes": "pass", "no": "fail"}[row["completion"].strip()]
        if (answer, label) not in by_question.setdefault(question, []):
            by_question[question].append((answer, label))

    names = sorted(by_question)
    rng.shuffle(names)
    held_back_questions = set(names[: len(names) // 3])
    dev: list[dict[str, object]] = []
    held_back: list[dict[str, object]] = []
    for label in ("pass", "fail"):
        for part, share in ((dev, TRUTH_PER_LABEL * 2 // 3), (held_back, TRUTH_PER_LABEL // 3)):
            held = part is held_back
            taken = {str(case["input"]) for case in part}
            pool = [
                (question, answer)
                for question in names
                if (question in held_back_questions) == held and question not in taken
                for answer, answer_label in by_question[question]
                if answer_label == label
            ]
            chosen: dict[str, str] = {}  # one answer per question
            for question, answer in rng.sample(pool, len(pool)):
                if len(chosen) == share:
                    break
                chosen.setdefault(question, answer)
            part += [
                {
                    "output": answer,
                    "criteria": TRUTH_CRITERIA,
                    "input": question,
                    "reference": questions[question]["Best Answer"].strip(),
                    "label": label,
                    "note": f"TruthfulQA ({questions[question]['Category']}): "
                    "a model's answer judged by people",
                    "labeller": "TruthfulQA authors",
                }
                for question, answer in chosen.items()
            ]
    return dev, held_back


def write(path: Path, cases: list[dict[str, object]], rng: random.Random) -> None:
    rng.shuffle(cases)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    print(f"{path}: {len(cases)} cases")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("general_data", type=Path, help="HaluEval's data/general_data.json (JSON Lines)")
    parser.add_argument("--pandalm", type=Path, help="PandaLM's data/testset-v1.json, for the pairs")
    parser.add_argument(
        "--truthfulqa",
        type=Path,
        nargs=2,
        metavar=("QUESTIONS_CSV", "JUDGED_JSONL"),
        help="TruthfulQA's TruthfulQA.csv and finetune_truth.jsonl, for the reference-based cases",
    )
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.general_data.read_text(encoding="utf-8").splitlines() if line]
    rng = random.Random(SEED)
    dev: list[dict[str, object]] = []
    held_back: list[dict[str, object]] = []
    for value in ("yes", "no"):
        pool = [row for row in rows if row["hallucination"] == value and usable(row)]
        chosen = rng.sample(pool, PER_LABEL)
        cut = PER_LABEL * 2 // 3
        dev += [case(row) for row in chosen[:cut]]
        held_back += [case(row) for row in chosen[cut:]]
    write(DEV, dev, rng)
    write(HELD_BACK, held_back, rng)
    if args.pandalm:
        pair_rng = random.Random(SEED)
        pairs = json.loads(args.pandalm.read_text(encoding="utf-8"))
        pair_dev, pair_held_back = split_pairs(pairs, pair_rng)
        write(PAIR_DEV, pair_dev, pair_rng)
        write(PAIR_HELD_BACK, pair_held_back, pair_rng)
    if args.truthfulqa:
        truth_rng = random.Random(SEED)
        questions_csv, judged_jsonl = args.truthfulqa
        truth_dev, truth_held_back = truthfulqa_cases(questions_csv, judged_jsonl, truth_rng)
        write(TRUTH_DEV, truth_dev, truth_rng)
        write(TRUTH_HELD_BACK, truth_held_back, truth_rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
