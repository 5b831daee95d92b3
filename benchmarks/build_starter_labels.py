"""Build the starter labelled set: pointwise cases from HaluEval's human-annotated general data (MIT
licence) and pairs from PandaLM's human-annotated test set (Apache-2.0).

Run by hand, from checkouts of https://github.com/RUCAIBox/HaluEval and
https://github.com/WeOpenML/PandaLM (the output is committed, so a fresh machine never needs the
network):

    python benchmarks/build_starter_labels.py /path/to/HaluEval/data/general_data.json \
        --pandalm /path/to/PandaLM/data/testset-v1.json

Each HaluEval case is a user query from Alpaca, a ChatGPT response, and a human label saying whether
the response contains a hallucination. A case becomes a pointwise label: the query is the `input`, the
response the `output`, and the label `fail` when annotators found a hallucination, else `pass`. The
sample is seeded and balanced (as many fails as passes); responses longer than MAX_CHARS and queries
that refer to missing attachments (`<image>`, `<noinput>`) are left out. Two thirds of each label go to
the development file, one third to the held-back file, which is never used to tune a judge or a prompt.
"""

from __future__ import annotations

import argparse
import json
import random
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
