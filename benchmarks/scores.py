"""Do a jury's scores rank outputs the way people labelled them?

Scores every pass/fail labelled case of a label file (the case's criteria as the rubric, on 1-5,
threshold 4) through the real plugin path (`jury.score`, nothing cached), then prints:
- the ROC AUC of the median score against the human pass/fail labels (the chance that a case people
  passed scores above one they failed, ties counting half): how well scores rank;
- the agreement of "median >= threshold" with the labels, and Cohen's kappa;
- the mean score of each label, and how many answers were off the scale or unparseable.

Run it on a tuning file and, once, on its held-back twin (never tuned on):

    cd benchmarks/labels
    python ../scores.py __llm_labels__/truthfulqa_reference.jsonl
    python ../scores.py held_back/__llm_labels__/truthfulqa_reference_held_back.jsonl

Judges: `--judges` (default the embedded `local/qwen2.5-coder-1.5b`, which needs the `local` extra);
`--limit N` scores the first N cases. Minutes on 2 cores for 100 cases with the local judge.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pytest_llmonpy.config import JurySettings, parse_judges
from pytest_llmonpy.judges import JudgeCaller
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.labels import read_label_file
from pytest_llmonpy.local import LOCAL_MODEL

SCALE = (1, 5)
THRESHOLD = 4.0


def roc_auc(passed: list[float], failed: list[float]) -> float:
    pairs = [(p > f) + 0.5 * (p == f) for p in passed for f in failed]
    return sum(pairs) / len(pairs)


def kappa(agree: float, rate_judged: float, rate_labelled: float) -> float:
    expected = rate_judged * rate_labelled + (1 - rate_judged) * (1 - rate_labelled)
    return 0.0 if expected == 1 else (agree - expected) / (1 - expected)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("--judges", default=LOCAL_MODEL)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    cases = [case for case in read_label_file(args.labels) if case.label in ("pass", "fail")][: args.limit]
    caller = JudgeCaller(concurrency=4)
    settings = JurySettings(judges=parse_judges(args.judges), mode="off", timeout_s=600)
    jury = Jury(settings, lambda: caller)
    rows: list[tuple[str, float | None]] = []
    off_scale = 0
    started = time.monotonic()
    try:
        for case in cases:
            score = jury.score(
                case.output, case.criteria, scale=SCALE, threshold=THRESHOLD,
                input=case.input, reference=case.reference, context=case.context,
            )  # fmt: skip
            off_scale += score.count("abstain")
            rows.append((case.label, score.median))
    finally:
        caller.close()
    seconds = (time.monotonic() - started) / max(1, len(cases))
    scored = [(label, median) for label, median in rows if median is not None]
    passed = [median for label, median in scored if label == "pass"]
    failed = [median for label, median in scored if label == "fail"]
    agree = sum((median >= THRESHOLD) == (label == "pass") for label, median in scored) / len(scored)
    judged_pass = sum(median >= THRESHOLD for _, median in scored) / len(scored)
    print(f"{args.labels} ({len(cases)} cases: {len(passed)} pass, {len(failed)} fail), judges {args.judges}")
    print(f"ROC AUC of the median score: {roc_auc(passed, failed):.3f}")
    print(
        f"median >= {THRESHOLD:g} agrees with the labels on {agree:.1%}; "
        f"kappa {kappa(agree, judged_pass, len(passed) / len(scored)):.3f}"
    )
    print(
        f"mean score: pass {sum(passed) / len(passed):.2f}, fail {sum(failed) / len(failed):.2f}; "
        f"{off_scale} answers off the scale or unparseable; {len(rows) - len(scored)} cases unscored"
    )
    print(f"{seconds:.2f} s per case")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
