"""Build the starter labelled set from HaluEval's human-annotated general data (MIT licence).

Run by hand, from a checkout of https://github.com/RUCAIBox/HaluEval (the output is committed, so a
fresh machine never needs the network):

    python benchmarks/build_starter_labels.py /path/to/HaluEval/data/general_data.json

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("general_data", type=Path, help="HaluEval's data/general_data.json (JSON Lines)")
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
    for path, cases in ((DEV, dev), (HELD_BACK, held_back)):
        rng.shuffle(cases)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
        print(f"{path}: {len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
