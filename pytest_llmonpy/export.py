"""--jury-export: every verdict and comparison of a run as JSON Lines, the jury's work kept as data;
--jury-label-disagreements: the cases the jury was split or hung on, unlabelled, for a person to label.

One line per verdict (`"kind": "verdict"`) or comparison (`"kind": "comparison"`), in the order the
controller received them, split and hung ones included and marked. A comparison also reads as a
preference record: `prompt`, `chosen` and `rejected` (null for a tie or a hung jury). No pytest import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pytest_llmonpy.ledger import Ledger
from pytest_llmonpy.untrusted import redact_secrets

_VOTE_KEYS = (
    "model", "vote", "reason", "error", "tokens_in", "tokens_out", "cost_usd", "cached", "attempts", "score",
)  # fmt: skip


def export_lines(ledger: Ledger) -> Iterator[str]:
    for verdict in ledger.verdicts:
        yield json.dumps(_verdict(verdict), ensure_ascii=False)
    for comparison in ledger.comparisons:
        yield json.dumps(_comparison(comparison), ensure_ascii=False)


def export_text(ledger: Ledger) -> str:
    return "".join(line + "\n" for line in export_lines(ledger))


def _texts(record: dict[str, Any], names: tuple[str, ...]) -> dict[str, str | None]:
    # Outputs are the app's, but the file is shared like a report: no secret goes into it.
    texts = record.get("texts") or {}
    return {name: None if texts.get(name) is None else redact_secrets(str(texts[name])) for name in names}


def _vote(vote: dict[str, Any]) -> dict[str, Any]:
    kept = {key: vote.get(key) for key in _VOTE_KEYS}
    if vote.get("samples"):  # --jury-samples: each answer, with its seed
        kept["samples"] = [{**_vote(sample), "seed": sample.get("seed")} for sample in vote["samples"]]
    return kept


def _verdict(record: dict[str, Any]) -> dict[str, Any]:
    votes = [_vote(vote) for vote in record["votes"]]
    cast = [vote["vote"] for vote in votes]
    return {
        "kind": "verdict",
        "test_id": record["test_id"],
        "criteria": record["criteria"],
        **_texts(record, ("output", "input", "reference", "context")),
        "outcome": record["outcome"],
        # Judges disagreed: the kind of case worth a human label.
        "split": "pass" in cast and "fail" in cast,
        "quorum": record["quorum"],
        "required": record["required"],
        "votes": votes,
        "escalation": [_vote(vote) for vote in record.get("escalation", [])],
        "escalated": record.get("escalated"),
        "cost_usd": record["cost_usd"],
        **({"score": record["score"]} if record.get("score") else {}),
    }


def _comparison(record: dict[str, Any]) -> dict[str, Any]:
    texts = _texts(record, ("a", "b", "input", "reference"))
    winner = "hung" if record["hung"] else record["winner"]
    counts = {value: sum(vote["vote"] == value for vote in record["votes"]) for value in ("a", "b", "tie")}
    decided = winner in ("a", "b")
    loser = "b" if winner == "a" else "a"
    return {
        "kind": "comparison",
        "test_id": record["test_id"],
        "criteria": record["criteria"],
        **texts,
        "winner": winner,
        "inconclusive": record["inconclusive"],
        "votes_for_a": counts["a"],
        "votes_for_b": counts["b"],
        "ties": counts["tie"],
        # The preference as training data: what was asked, and the output the jury chose over the other.
        "prompt": texts["input"] if texts["input"] is not None else record["criteria"],
        "chosen": texts[winner] if decided else None,
        "rejected": texts[loser] if decided else None,
        "votes": [
            {"model": vote["model"], "vote": vote["vote"], "calls": [_vote(call) for call in vote["calls"]]}
            for vote in record["votes"]
        ],
        "quorum": record["quorum"],
        "required": record["required"],
        "cost_usd": record["cost_usd"],
    }


def disagreements_text(ledger: Ledger) -> str:
    """The checks and comparisons the jury was split or hung on, once each, as label-file lines with
    an empty label (see labels.py): fill the labels in and commit the file under __llm_labels__/."""
    lines: dict[str, str] = {}  # by the case itself: a case checked by several tests is listed once
    for verdict in map(_verdict, ledger.verdicts):
        if verdict["split"] or verdict["outcome"] == "hung":
            case = {"output": verdict["output"], "criteria": verdict["criteria"]}
            case |= {k: verdict[k] for k in ("input", "reference", "context") if verdict[k] is not None}
            note = f"{verdict['outcome']}, {_tally(verdict['votes'])}"
            lines.setdefault(json.dumps(case, sort_keys=True), _case_line(case, note, verdict["test_id"]))
    for comparison in map(_comparison, ledger.comparisons):
        cast = {vote["vote"] for vote in comparison["votes"]} - {"abstain"}
        if comparison["winner"] == "hung" or len(cast) > 1:
            case = {"a": comparison["a"], "b": comparison["b"], "criteria": comparison["criteria"]}
            case |= {k: comparison[k] for k in ("input", "reference") if comparison[k] is not None}
            note = f"winner {comparison['winner']}, {_tally(comparison['votes'])}"
            lines.setdefault(json.dumps(case, sort_keys=True), _case_line(case, note, comparison["test_id"]))
    return "".join(line + "\n" for line in lines.values())


def _tally(votes: list[dict[str, Any]]) -> str:
    return ", ".join(f"{vote['model']} {vote['vote']}" for vote in votes)


def _case_line(case: dict[str, Any], note: str, test_id: str | None) -> str:
    where = f" in {test_id}" if test_id else ""
    return json.dumps({**case, "label": "", "note": f"jury {note}{where}"}, ensure_ascii=False)
