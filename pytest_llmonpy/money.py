"""Money: what judge calls cost, as one exact type, shown one way to people and one way to JSON.

A `Cost` counts integer nano-dollars (1e-9 USD):
- integers add exactly in any order, so the totals of xdist workers merged in any order agree to the
  last digit, and the run's budget counter (a diskcache integer, incremented atomically by every
  worker) counts in the same unit with no conversion;
- nano, not micro: a short answer from a cheap judge costs a few micro-dollars (gpt-4o-mini's 100
  completion tokens are 60 micro-dollars, a small model's 20-token reply less than one), so rounding
  each call to micro-dollars would be off by whole percents and would show priced calls as free;
  rounding a call to the nearest nano-dollar is off by half a nano-dollar at most;
- not Decimal: the budget counter and the JSON records that carry votes between processes hold
  integers and floats, so a Decimal would need a conversion at each of them, and it buys nothing an
  integer does not give here.

Floats in USD exist only at the edges: litellm's price of a response, the `cost_usd` of a cache
entry or a JSON record (both unchanged), and the JSON report's numbers (`Cost.usd`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

NANO_PER_USD = 1_000_000_000
_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class Cost:
    """What some judge calls cost: the sum of their known prices, and how many calls had none.

    One call's cost is a Cost too (`Cost.of_usd(price)`), so a vote, a verdict, a test, a judge model
    and the whole run add up the same way, with `+`. That is where an unknown price is handled, once:
    it is counted in `unpriced`, never added as $0.
    """

    nano: int = 0  # the sum of the known prices, in nano-dollars
    unpriced: int = 0  # calls whose model has no known price
    free: int = 0  # calls priced at exactly $0 that did work (used tokens): a free model

    @classmethod
    def of_usd(cls, amount: float | None, *, tokens: int = 0) -> Cost:
        """One call's cost from its price in USD (None: unpriced); `tokens` tells free work apart
        from a call that failed without an answer (both priced at $0)."""
        if amount is None or not math.isfinite(amount):
            return cls(unpriced=1)  # a price that cannot be read is as unknown as a missing one
        return cls(round(amount * NANO_PER_USD), free=int(amount == 0 and tokens > 0))

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.nano + other.nano, self.unpriced + other.unpriced, self.free + other.free)

    @property
    def usd(self) -> float:
        """The known part in USD, for JSON and XML numbers (the unpriced calls are counted apart)."""
        return self.nano / NANO_PER_USD

    def usd_or_none(self) -> float | None:
        """The cost in USD, or None when any of the calls is unpriced: a partial sum is not a cost."""
        return None if self.unpriced else self.usd


def total(costs: Iterable[Cost]) -> Cost:
    """The sum of `costs` (an empty sum is $0)."""
    result = Cost()
    for cost in costs:
        result += cost
    return result


def format_cost(cost: Cost, calls: int = 0, *, tokens: int = 0, cached: Cost | None = None) -> str:
    """How a cost reads in the summary and the step summary: '$0.001200', '$12.50', 'unpriced',
    '$0.001200 + 3 unpriced calls', or 'free' for zero-priced work.

    Dollars have 6 decimals below $1 and 2 from $1 (rounded half up, decided on the rounded amount, so
    $0.9999996 reads $1.00). `calls` is how many calls the cost covers: all of them unpriced reads
    'unpriced'. Zero-priced work is calls priced at $0 that got an answer (`cost.free`, or `tokens`
    > 0); calls that failed without an answer cost nothing but are not free. With no call, the
    `cached` votes tell: a judge (or test, or run) whose cached votes were all zero-priced work is
    free too, so a free judge reads the same on a live and on a cached run.
    """
    if calls and cost.unpriced == calls:
        return "unpriced"
    all_free = cached is not None and cached.free > 0 and cached.nano == 0 and not cached.unpriced
    zero_priced = cost.free > 0 or tokens > 0 or (not calls and all_free)
    text = "free" if cost.nano == 0 and zero_priced else _dollars(cost.nano)
    if cost.unpriced:
        text += f" + {cost.unpriced} unpriced call{'s' if cost.unpriced != 1 else ''}"
    return text


def _dollars(nano: int) -> str:
    amount = Decimal(nano).scaleb(-9)
    micro = amount.quantize(_MICRO, rounding=ROUND_HALF_UP)
    if abs(micro) < 1:
        return f"${micro:,.6f}"
    return f"${amount.quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}"


def parse_usd(text: str) -> Cost:
    """An amount as a user types it ('0.50', '$2', '1e-3'); ValueError when it is not a finite number."""
    try:
        amount = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise ValueError(f"not an amount in USD: {text!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount in USD: {text!r}")
    return Cost(int((amount * NANO_PER_USD).to_integral_value(rounding=ROUND_HALF_UP)))


def typed_usd(cost: Cost) -> str:
    """The amount as a user would type it ('0.005', '2'), to name a setting such as --jury-max-cost=…"""
    return f"{Decimal(cost.nano).scaleb(-9).normalize():f}"
