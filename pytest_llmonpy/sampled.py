"""A pass rate over sampled outputs: where the samples come from, the batch sizes, and the result.

No pytest import and no judging here: the jury (jury.py) judges each batch and asks the gate
(pass_rate.py) after each one whether the rate is settled.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pytest_llmonpy.pass_rate import Look, SequentialGate, Stop
from pytest_llmonpy.untrusted import printable
from pytest_llmonpy.verdict import Verdict

# Outputs of at most this many samples are judged at once; fewer when the jury's concurrency is small.
MAX_BATCH = 8
# Failed samples shown in an explanation (the rest are counted).
SHOWN_FAILURES = 3


def sampling_gate(
    outputs: object, samples: int | None, min_rate: float, confidence: float, early_stop: bool
) -> tuple[SequentialGate, Callable[[], object] | Sequence[object]]:
    """The gate and the source of outputs, or a TypeError/ValueError that says what to pass."""
    __tracebackhide__ = True
    if isinstance(outputs, (str, bytes)) or not (callable(outputs) or isinstance(outputs, Iterable)):
        raise TypeError(
            "pass_rate takes a callable that returns one output per call (it is called up to `samples` "
            f"times), or a list of outputs; got {type(outputs).__name__}"
        )
    if isinstance(samples, bool) or (samples is not None and not isinstance(samples, int)):
        raise TypeError(f"samples must be a whole number, got {samples!r}")
    source: Callable[[], object] | Sequence[object]
    if callable(outputs):
        if samples is None:
            raise TypeError("pass_rate with a callable needs samples=N: the most outputs to generate")
        source = outputs
    else:
        source = list(outputs)
        if samples is None:
            samples = len(source)
        elif samples > len(source):
            raise ValueError(f"samples={samples} but only {len(source)} outputs were given")
        source = source[:samples]
        if not source:
            raise ValueError("pass_rate needs at least one output")
    for name, value in (("min_rate", min_rate), ("confidence", confidence)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r}")
    gate = SequentialGate(float(min_rate), float(confidence), samples, early_stop)
    if gate.samples_to_pass() > samples:
        raise ValueError(
            f"samples={samples} can never pass min_rate={min_rate} at confidence={confidence}: even "
            f"{samples} passes of {samples} do not show it; ask for at least {gate.samples_needed()} "
            "samples, or a lower min_rate"
        )
    return gate, source


def batch_size(gate: SequentialGate, judged: int, concurrency: int, judges: int) -> int:
    """How many samples to judge next: as many as the judges' concurrency takes at once (at most
    MAX_BATCH, so an early stop wastes little), never past the gate's last sample."""
    fits = max(1, concurrency // max(1, judges))
    return max(1, min(MAX_BATCH, fits, gate.max_samples - judged))


def take(source: Callable[[], object] | Sequence[object], start: int, count: int) -> list[object]:
    """The next `count` outputs: generated one by one (the generator may be a model call of the app
    under test, not safe to call concurrently), or the given list's next ones."""
    if callable(source):
        return [source() for _ in range(count)]
    return list(source[start : start + count])


async def atake(source: Callable[[], object] | Sequence[object], start: int, count: int) -> list[object]:
    """`take` for async callers: an async generator of outputs is awaited, one call at a time."""
    if not callable(source):
        return take(source, start, count)
    outputs = []
    for _ in range(count):
        output = source()
        if inspect.isawaitable(output):
            output = await output
        outputs.append(output)
    return outputs


@dataclass(frozen=True)
class PassRate:
    """How often the sampled outputs passed, and whether that is enough. Truthy when the gate passed.

    `lower`/`upper` bound the true pass rate at the gate's confidence (one-sided each); the gate passes
    when `lower` reaches `min_rate`. Hung samples (the jury could not decide) count as not passed.
    """

    passed: bool
    passes: int
    samples: int  # judged
    max_samples: int
    hung: int
    min_rate: float
    confidence: float
    lower: float
    upper: float
    bound_confidence: float  # what lower and upper hold at: stricter than `confidence` (its share of it)
    stopped: Stop
    early_stop: bool
    verdicts: tuple[Verdict, ...]
    criteria: str

    @property
    def rate(self) -> float:
        return self.passes / self.samples if self.samples else 0.0

    def __bool__(self) -> bool:
        return self.passed

    def summary(self) -> str:
        """One line: the count, the bound, the verdict and why sampling stopped."""
        verdict = "PASSED" if self.passed else "FAILED"
        comparison = ">=" if self.lower >= self.min_rate else "<"
        hung = f", {self.hung} hung" if self.hung else ""
        return (
            f"pass rate {verdict}: {self.passes} of {self.samples} passed ({self.rate:.0%}{hung}); "
            f"the rate is at least {self.lower:.1%} {comparison} min_rate {self.min_rate:.0%} "
            f"(an {self.method} bound at {self.bound_confidence:.0%}); {self.why_stopped()}"
        )

    @property
    def method(self) -> str:
        """How `lower` and `upper` were computed: "exact" after the last sample (or without early
        stopping), "anytime-valid" at an earlier look."""
        return "exact" if self.stopped == "all samples" or not self.early_stop else "anytime-valid"

    def why_stopped(self) -> str:
        of = f"{self.samples} of {self.max_samples} samples"
        return {
            "sure pass": f"stopped after {of}: the rate is surely at least min_rate",
            "surely below": f"stopped after {of}: the rate is surely below min_rate",
            "cannot reach": f"stopped after {of}: the rest could not make it pass",
            "all samples": f"judged all {self.samples} samples",
        }[self.stopped]

    def explain(self) -> str:
        """The summary, the method, and the first failed samples with every judge's vote."""
        method = (
            "exact (Clopper-Pearson)"
            if self.method == "exact"
            else "anytime-valid (a confidence sequence, valid at every look)"
        )
        lines = [
            self.summary(),
            f"  criteria: {printable(self.criteria, 200)}",
            f"  bound: {method} at {self.bound_confidence:.0%}, within the gate's {self.confidence:.0%} "
            f"confidence; the rate is at most {self.upper:.1%}",
        ]
        failed = [(index, v) for index, v in enumerate(self.verdicts, 1) if not v.passed]
        for index, verdict in failed[:SHOWN_FAILURES]:
            lines.append(f"  sample {index}:")
            lines.extend("    " + line for line in verdict.explain().splitlines())
        if len(failed) > SHOWN_FAILURES:
            lines.append(f"  ... and {len(failed) - SHOWN_FAILURES} more failed samples")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<PassRate {self.summary()}>"


def settle(gate: SequentialGate, verdicts: Sequence[Verdict]) -> tuple[Look, bool]:
    """The gate's look at the samples so far, hung samples counted as not passed; and whether that
    look depends on them (it would be another decision were they to pass)."""
    passes = sum(verdict.passed for verdict in verdicts)
    hung = sum(verdict.hung for verdict in verdicts)
    look = gate.look(passes, len(verdicts))
    if not hung or look.decision == "pass":
        return look, False
    return look, gate.look(passes + hung, len(verdicts)).decision != look.decision


def pass_rate_result(
    gate: SequentialGate, verdicts: Sequence[Verdict], look: Look, criteria: str
) -> PassRate:
    return PassRate(
        passed=look.decision == "pass",
        passes=sum(verdict.passed for verdict in verdicts),
        samples=len(verdicts),
        max_samples=gate.max_samples,
        hung=sum(verdict.hung for verdict in verdicts),
        min_rate=gate.min_rate,
        confidence=gate.confidence,
        lower=look.lower,
        upper=look.upper,
        bound_confidence=look.confidence,
        stopped=look.reason or "all samples",
        early_stop=gate.early_stop,
        verdicts=tuple(verdicts),
        criteria=criteria,
    )
