"""Study framings of the embedded judge on labelled cases: the probability it gives each answer.

For every case this asks the local model one-token questions (llama.cpp on the CPU, no plugin, no
cache) and records the probability of each answer, so thresholds and combinations can be compared
afterwards without asking again:

    python benchmarks/local_judge_study.py benchmarks/labels/__llm_labels__ --limit 100 --out dev.json
    python benchmarks/local_judge_study.py --analyse dev.json [--apply-to held_back.json]

The product's local judge (pytest_llmonpy/local_prompt.py) asks the pair question, with the same system
prompt, and the margin `--analyse` fits; its verdicts keep the jury's JSON prompt, which agreed with more
clear cases than the `check` framing (26 of 26 against 25 of 26).

Framings (one system prompt for all, so llama.cpp's prompt cache reuses the case's texts between
framings and only the question at the end is evaluated again):
- `check`: "Does the OUTPUT meet the requirement?" P(Yes) is the pass probability;
- `inverted`: "Does the OUTPUT fail the requirement?" 1 - P(Yes), which cancels a lean towards Yes;
- pairs: "Which response meets the requirement better?" asked in both orders; P(a better) averages
  P(1) in the order a, b and P(2) in the order b, a.

`--analyse` prints, per framing and for their average, the ROC AUC and the threshold (fitted on that
file) with the best Cohen's kappa; `--apply-to` reports another file at the thresholds fitted on the
first, which is how the held-back set must be measured.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_llmonpy.local_prompt import PAIR_QUESTION, SYSTEM, Sections, pair_text

POINT_QUESTIONS = {
    "check": "Does the OUTPUT meet the requirement? Answer Yes or No.",
    "inverted": "Does the OUTPUT fail the requirement? Answer Yes or No.",
}


def _point_text(case: Any) -> str:
    parts = []
    if case.input:
        parts.append(f"INPUT:\n{case.input}")
    if case.reference:
        parts.append(f"REFERENCE:\n{case.reference}")
    if case.context:
        parts.append(f"CONTEXT:\n{case.context}")
    parts.append(f"OUTPUT:\n{case.output}")
    parts.append(f"Requirement: {case.criteria}")
    return "\n\n".join(parts)


def _pair_text(case: Any, first: str, second: str) -> str:
    # The product's own rendering (local_prompt.pair_text), so the margin fitted here is the one it uses.
    texts = {"output_1": first, "output_2": second, "criteria": case.criteria}
    texts |= {name: getattr(case, name) for name in ("input", "reference") if getattr(case, name) is not None}
    return pair_text(Sections(texts), swapped=False)


class OneWordAsker:
    """Asks the model a question and returns the softmax over the given one-token answers."""

    def __init__(self) -> None:
        from llama_cpp import Llama, LlamaRAMCache

        from pytest_llmonpy.local import CONTEXT_TOKENS, ensure_model_file

        self.llama = Llama(
            model_path=str(ensure_model_file()), n_ctx=CONTEXT_TOKENS, n_threads=2, verbose=False
        )
        self.llama.set_cache(LlamaRAMCache(capacity_bytes=256 << 20))

    def token(self, word: str) -> int:
        tokens = self.llama.tokenize(word.encode(), add_bos=False, special=False)
        assert len(tokens) == 1, (word, tokens)
        return int(tokens[0])

    def probabilities(self, text: str, question: str, answers: Sequence[str]) -> list[float]:
        ids = [self.token(answer) for answer in answers]
        seen: list[list[float]] = []

        def capture(_input_ids: Any, logits: Any) -> Any:
            seen.append([float(logits[i]) for i in ids])
            return logits

        self.llama.create_chat_completion(
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"{text}\n\n{question}"},
            ],
            max_tokens=1,
            temperature=0.0,
            logits_processor=[capture],
        )
        top = max(seen[0])
        weights = [math.exp(value - top) for value in seen[0]]
        return [weight / sum(weights) for weight in weights]


def study(paths: list[Path], limit: int | None) -> list[dict[str, Any]]:
    from pytest_llmonpy.labels import find_label_files, load_labels

    cases = [case for case in load_labels(find_label_files(paths)) if case.label]
    points = [case for case in cases if not case.is_pair][:limit]
    pairs = [case for case in cases if case.is_pair][:limit]
    asker = OneWordAsker()
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for number, case in enumerate(points + pairs, start=1):
        row: dict[str, Any] = {"where": case.where, "label": case.label, "pair": case.is_pair}
        if case.is_pair:
            assert case.a is not None
            assert case.b is not None
            ab = asker.probabilities(_pair_text(case, case.a, case.b), PAIR_QUESTION, ["1", "2"])[0]
            ba = asker.probabilities(_pair_text(case, case.b, case.a), PAIR_QUESTION, ["1", "2"])[1]
            row.update(a_first=ab, b_first=ba)
        else:
            text = _point_text(case)
            for name, question in POINT_QUESTIONS.items():
                p_yes = asker.probabilities(text, question, ["Yes", "No"])[0]
                row[name] = p_yes if name == "check" else 1.0 - p_yes
        rows.append(row)
        elapsed = time.monotonic() - started
        print(f"{number}/{len(points) + len(pairs)} {elapsed / number:.2f} s per case", file=sys.stderr)
    return rows


def auc(scores: list[float], positives: list[bool]) -> float:
    """ROC AUC: the chance a random positive scores above a random negative (ties count half)."""
    pos = [s for s, p in zip(scores, positives, strict=False) if p]
    neg = [s for s, p in zip(scores, positives, strict=False) if not p]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg)) if pos and neg else float("nan")


def kappa(judged: list[str], labels: list[str]) -> tuple[float, float]:
    from pytest_llmonpy.agreement import cohen_kappa

    agreement = sum(j == h for j, h in zip(judged, labels, strict=False)) / len(labels)
    return agreement, cohen_kappa(list(zip(labels, judged, strict=False))) or 0.0


def point_scores(rows: list[dict[str, Any]]) -> dict[str, Callable[[dict[str, Any]], float]]:
    return {
        "check": lambda r: float(r["check"]),
        "inverted": lambda r: float(r["inverted"]),
        "average": lambda r: (float(r["check"]) + float(r["inverted"])) / 2,
    }


def best_threshold(scores: list[float], labels: list[str]) -> float:
    candidates = sorted(set(scores))
    cuts = [(a + b) / 2 for a, b in itertools.pairwise(candidates)] or [0.5]
    return max(cuts, key=lambda cut: kappa(["pass" if s > cut else "fail" for s in scores], labels)[1])


def pair_decision(row: dict[str, Any], margin: float) -> str:
    lean = (float(row["a_first"]) + float(row["b_first"])) / 2 - 0.5
    return "a" if lean > margin else "b" if lean < -margin else "tie"


# The share of pairs a fitted margin must decide: above the product goal of one half, for slack.
MIN_DECIDED = 0.55


def fit_margin(pairs: list[dict[str, Any]]) -> float:
    """The tie margin (in steps of 0.001) that is right most often when it decides, among those that
    decide at least MIN_DECIDED of `pairs`: how local_prompt.PAIR_MARGIN was chosen."""
    best = (-1.0, 0.0)
    for step in range(101):
        margin = step / 1000
        made = [(pair_decision(r, margin), r["label"]) for r in pairs]
        made = [(d, h) for d, h in made if d != "tie"]
        if made and len(made) >= MIN_DECIDED * len(pairs):
            right = sum(d == h for d, h in made) / len(made)
            best = max(best, (right, -margin))
    return -best[1]


def analyse(fitted: list[dict[str, Any]], applied: list[dict[str, Any]] | None) -> None:
    points = [r for r in fitted if not r["pair"]]
    target = [r for r in (applied if applied is not None else fitted) if not r["pair"]]
    labels = [r["label"] for r in target]
    for name, score in point_scores(points).items():
        cut = best_threshold([score(r) for r in points], [r["label"] for r in points])
        judged = ["pass" if score(r) > cut else "fail" for r in target]
        agreement, k = kappa(judged, labels)
        false_pass = sum(j == "pass" and h == "fail" for j, h in zip(judged, labels, strict=False)) / max(
            1, labels.count("fail")
        )
        print(
            f"{name:9} AUC {auc([score(r) for r in target], [h == 'pass' for h in labels]):.2f}  "
            f"threshold {cut:.3f}: agreement {agreement:.0%} kappa {k:.2f} false pass {false_pass:.0%} "
            f"({len(target)} cases)"
        )
    pairs = [r for r in fitted if r["pair"]]
    target_pairs = [r for r in (applied if applied is not None else fitted) if r["pair"]]
    if not pairs:
        return
    margin = fit_margin(pairs)
    decided = [(pair_decision(r, margin), r["label"]) for r in target_pairs]
    made = [(d, h) for d, h in decided if d != "tie"]
    print(
        f"pairs: fitted margin {margin:.3f} (the most right when decided, of the margins that decide "
        f"{MIN_DECIDED:.0%} of the fitted pairs): decided {len(made)}/{len(decided)}, right "
        f"{sum(d == h for d, h in made)}/{len(made)}"
    )
    consistent = sum((r["a_first"] > 0.5) == (r["b_first"] > 0.5) for r in target_pairs)
    print(f"pairs: both orders agree on {consistent}/{len(target_pairs)}")
    for margin in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25):
        decided = [(pair_decision(r, margin), r["label"]) for r in target_pairs]
        made = [(d, h) for d, h in decided if d != "tie"]
        right = sum(d == h for d, h in made)
        print(
            f"  margin {margin:.2f}: decided {len(made)}/{len(decided)}, right {right}/{len(made)}"
            + (f" ({right / len(made):.0%})" if made else "")
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--limit", type=int, help="at most this many point cases and pairs each")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--analyse", type=Path, help="a file written by --out, to fit thresholds on")
    parser.add_argument("--apply-to", type=Path, help="report this file at the thresholds of --analyse")
    args = parser.parse_args(argv)
    if args.analyse:
        fitted = json.loads(args.analyse.read_text())
        applied = json.loads(args.apply_to.read_text()) if args.apply_to else None
        analyse(fitted, applied)
        return 0
    rows = study(args.paths, args.limit)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    analyse(rows, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
