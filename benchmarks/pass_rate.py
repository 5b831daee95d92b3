"""Does the pass-rate gate keep its stated confidence when it stops early? A seeded simulation.

For true pass rates below, at and above each gate's min_rate, samples are drawn in the batches the jury
judges (8 at a time) and the gate looks after each batch, as `jury.pass_rate` does. It prints:
- the wrong-pass rate: how often a gate passed although the true rate is below min_rate (or at it, the
  hardest case); it must stay at or below 1 - confidence;
- how often it stopped early because the rate was "surely below" min_rate although the true rate is at
  or above it (a wrong early fail: at most a fifth of 1 - confidence); stopping because the rest could
  not make it pass is no error, as judging all the samples would have failed it too;
- the mean samples used, as a ratio to judging all of them (what early stopping saves), and the same
  gate without early stopping for comparison.

    python benchmarks/pass_rate.py [--runs N] [--seed S]
"""

from __future__ import annotations

import argparse
import random

from pytest_llmonpy.pass_rate import EARLY_SHARE, SequentialGate

BATCH = 8
GATES = [(0.8, 0.95, 60), (0.9, 0.95, 100), (0.95, 0.9, 150)]


def simulate(
    gate: SequentialGate, true_rate: float, runs: int, rng: random.Random
) -> tuple[float, float, float]:
    """(share of runs passed, share failed early as "surely below", mean samples used)."""
    passed = surely_below = used = 0
    for _ in range(runs):
        passes = samples = 0
        while True:
            for _ in range(min(BATCH, gate.max_samples - samples)):
                passes += rng.random() < true_rate
                samples += 1
            look = gate.look(passes, samples)
            if look.decision != "continue":
                break
        passed += look.decision == "pass"
        surely_below += look.reason == "surely below"
        used += samples
    return passed / runs, surely_below / runs, used / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"{args.runs} runs per row, seed {args.seed}, looks every {BATCH} samples")
    print(
        f"{'gate':<26}{'true rate':>10}{'passed':>9}{'surely below':>14}{'samples':>9}{'vs all':>8}"
        f"{'fixed n':>9}"
    )
    worst_wrong_pass = worst_ratio = 0.0
    for min_rate, confidence, max_samples in GATES:
        alpha = 1 - confidence
        gate = SequentialGate(min_rate, confidence, max_samples)
        fixed = SequentialGate(min_rate, confidence, max_samples, early_stop=False)
        for true_rate in (min_rate - 0.1, min_rate, (min_rate + 1) / 2, 1.0):
            passed, surely_below, used = simulate(gate, true_rate, args.runs, rng)
            fixed_passed, _, _ = simulate(fixed, true_rate, args.runs, rng)
            name = f"min {min_rate:.0%} at {confidence:.0%}, n<={max_samples}"
            print(
                f"{name:<26}{true_rate:>10.0%}{passed:>9.1%}{surely_below:>14.1%}{used:>9.1f}"
                f"{used / max_samples:>8.2f}{fixed_passed:>9.1%}"
            )
            if true_rate <= min_rate:
                worst_wrong_pass = max(worst_wrong_pass, passed / alpha)
            if true_rate >= min_rate:
                worst_ratio = max(worst_ratio, surely_below / (alpha * EARLY_SHARE))
    print(f"worst wrong-pass rate / (1 - confidence): {worst_wrong_pass:.2f} (must be <= 1)")
    print(f"worst wrong 'surely below' rate / its share of the error: {worst_ratio:.2f} (must be <= 1)")


if __name__ == "__main__":
    main()
