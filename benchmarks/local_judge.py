"""How often does the embedded offline judge agree with the labels, and how fast is it?

Asks `local/qwen2.5-coder-1.5b` about every labelled case of tests/local_judge_cases.py (clear pass and
fail cases whose criteria state the fact to check, some with the customer's question or a reference
answer), live: nothing is cached. Prints the agreement, each disagreement, the model's load time and
the seconds per verdict. Needs the `local` extra (`pip install -e ".[local]"`).

Goal: every case agreed (the test suite runs a sample of them on every run: tests/test_local_judge.py).
Exits 1 when a case disagrees. Run by hand: `python benchmarks/local_judge.py`; a few minutes on
2 cores.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

from pytest_llmonpy.config import JurySettings
from pytest_llmonpy.judges import JudgeCaller
from pytest_llmonpy.jury import Jury
from pytest_llmonpy.local import LOCAL_MODEL

TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"


def labelled_cases_module() -> Any:
    sys.path.insert(0, str(TESTS_DIR))
    return importlib.import_module("local_judge_cases")


def main() -> int:
    caller = JudgeCaller(concurrency=1)
    jury = Jury(JurySettings(judges=(LOCAL_MODEL,), mode="off", timeout_s=600), lambda: caller)
    try:
        started = time.monotonic()
        jury.check("warm-up", "Is a word")  # loads the model (and joins its weights on first use)
        loaded_s = time.monotonic() - started
        cases_module = labelled_cases_module()
        cases: list[Any] = cases_module.ALL_CASES
        disagreements: list[tuple[Any, ...]] = []
        started = time.monotonic()
        for case in cases:
            output, criteria, _, expected = case
            vote = cases_module.judge(jury, case)
            if vote.vote != expected:
                disagreements.append((output, criteria, expected, vote.vote, vote.reason or vote.error))
        per_verdict = (time.monotonic() - started) / len(cases)
    finally:
        caller.close()
    agreed = len(cases) - len(disagreements)
    for output, criteria, expected, got, reason in disagreements:
        print(f"  disagrees: {output!r} / {criteria!r}: labelled {expected}, voted {got} ({reason})")
    print(
        f"local judge {LOCAL_MODEL}: {agreed}/{len(cases)} labelled cases agreed ({agreed / len(cases):.0%})"
    )
    print(f"first call (loading the model): {loaded_s:.1f} s; each verdict: {per_verdict:.2f} s")
    return 0 if not disagreements else 1


if __name__ == "__main__":
    raise SystemExit(main())
