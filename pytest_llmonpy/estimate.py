"""--jury-estimate: what a real run would call and cost, without calling any judge.

The driver hands every live call to an `Estimator` instead of the judges, at the cache boundary: a
call the cache answers is free in a real run too, and every other call is counted, with its prompt
tokens counted by litellm's tokenizer for that model, its reply tokens taken as the mean of that
judge's cached replies (or DEFAULT_REPLY_TOKENS when it has none), and its cost from litellm's
prices. The answer it gives the plan passes (a score at the top of the scale, a comparison a tie), so
the check goes on without any judge: nothing is cached, journaled or charged to the budget. Each
estimated vote carries its call's identity, so the run's ledger counts a call made again (in any
worker) once, as the cache would answer it in a real run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pytest_llmonpy.judge_request import is_local, shared_identity
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.verdict import Vote

# A judge's reply when its cache holds none to measure: a short JSON verdict with a one-sentence
# reason (the replies of real judges to the jury's prompt are 15 to 45 tokens).
DEFAULT_REPLY_TOKENS = 30
ESTIMATED_REASON = "not asked: --jury-estimate counted this call"


def call_identity(model: str, sent: dict[str, Any]) -> str:
    """What identifies a call across the run's processes: the same identity is the same request, which
    a real run answers from the cache after its first time."""
    text = json.dumps({"model": model, **sent}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def mean_reply_tokens(replies: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Per judge model, the mean completion tokens of its (model, tokens out) replies, rounded."""
    totals: dict[str, list[int]] = {}
    for model, tokens in replies:
        if tokens > 0:
            totals.setdefault(model, []).append(tokens)
    return {model: round(sum(seen) / len(seen)) for model, seen in totals.items()}


class Estimator:
    """Answers live calls with counted, priced, unasked votes. `reply_tokens` is read once, on the
    first call (the mean reply of each judge in the verdict cache); litellm is imported then too."""

    def __init__(self, reply_tokens: Callable[[], dict[str, int]]) -> None:
        self._reply_tokens_source = reply_tokens
        self._reply_tokens: dict[str, int] | None = None
        self._litellm: Any = None
        self._lock = threading.Lock()  # sync checks and async ones (on the judge loop) may both estimate

    def vote(self, model: str, question: Case | PairCase) -> Vote:
        litellm, replies = self._ready()
        sent = shared_identity(question)
        messages = sent["messages"]
        tokens_in = int(litellm.token_counter(model=model, messages=messages))
        tokens_out = replies.get(model, DEFAULT_REPLY_TOKENS)
        answer: dict[str, Any] = {"vote": "pass"}
        if isinstance(question, PairCase):
            answer = {"vote": "tie"}
        elif question.scale is not None:
            answer = {"vote": "score", "score": question.scale[1]}
        return Vote(
            model,
            reason=ESTIMATED_REASON,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=self._price(litellm, model, tokens_in, tokens_out),
            attempts=0,
            seed=getattr(question, "seed", None),
            estimated=call_identity(model, sent),
            **answer,
        )

    def _ready(self) -> tuple[Any, dict[str, int]]:
        with self._lock:
            if self._litellm is None:
                from pytest_llmonpy.litellm_import import import_litellm

                self._reply_tokens = self._reply_tokens_source()
                litellm = import_litellm()
                # For some model names (Llama, Cohere, older Claude) litellm's token counter downloads
                # a tokenizer from Hugging Face: an estimate touches no network, so tiktoken counts them.
                litellm.disable_hf_tokenizer_download = True
                self._litellm = litellm
            assert self._reply_tokens is not None
            return self._litellm, self._reply_tokens

    @staticmethod
    def _price(litellm: Any, model: str, tokens_in: int, tokens_out: int) -> float | None:
        """litellm's price for these tokens; None (unpriced) for a model it has no price for."""
        if is_local(model):
            return 0.0  # the embedded judge runs on this machine
        try:
            prompt, completion = litellm.cost_per_token(
                model=model, prompt_tokens=tokens_in, completion_tokens=tokens_out
            )
        except Exception:
            return None
        return float(prompt) + float(completion)
