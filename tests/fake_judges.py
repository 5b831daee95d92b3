"""Scripted judges for in-process pytest runs: the loopback server's script, without HTTP or litellm.

`FakeJudgeCaller` stands in for the litellm-backed `JudgeCaller`. It builds the same chat request a
judge would receive (model name as the endpoint sees it, the judge prompt messages, sampling) and hands
it to `FakeLLMServer.respond`, so the rules, faults, usage counts and request log of the server apply
unchanged and tests assert on `llm_server.calls()` whichever way the run went. What it does not model,
and the end-to-end tests cover through litellm's real HTTP path: pricing from litellm's table (every
judge here is unpriced unless `prices` names it), Retry-After pauses, back-off, timeouts and transport
faults (those cannot be answered here and end the call with an abstention).

`FakeJudges` is the pytest plugin passed to `pytester.runpytest_inprocess(plugins=[...])`: it installs
the fake through `JurySession.caller_factory` once the llmonpy plugin has configured its session.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from fake_llm_server import FakeLLMServer
from pytest_llmonpy.judge_request import shared_identity
from pytest_llmonpy.judges import (
    MAX_ATTEMPTS,
    NO_KEY_PLACEHOLDER,
    Call,
    Finished,
    JudgeCaller,
    OnVote,
    Question,
    parse_answer,
    refused_message,
)
from pytest_llmonpy.loop_thread import LoopThread
from pytest_llmonpy.plugin import RUN_KEY
from pytest_llmonpy.verdict import JuryConfigError, Vote

# Statuses the real caller retries (litellm's should_retry) and those it treats as a misconfigured judge.
TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
CONFIG_STATUSES = frozenset({401, 403, 404})
# Every answer's latency: a fixed value, so nothing depends on how fast this machine is.
FAKE_LATENCY_S = 0.01


class FakeJudgeCaller(JudgeCaller):
    """Answers judge calls from a `FakeLLMServer` script, one call after the other, with no clock.

    `prices` maps a judge model to (USD per prompt token, USD per completion token); others are unpriced.
    """

    def __init__(self, server: FakeLLMServer, prices: Mapping[str, tuple[float, float]] | None = None):
        # Deliberately not JudgeCaller.__init__: no rate limiter, no litellm. The judge loop is real
        # (started by the first async check), so async checks are driven where they are in a run.
        self.server = server
        self.prices = dict(prices or {})
        self.batches: list[list[str]] = []  # the judges of each judge_calls batch, in call order
        self.closed = False
        self._loop = LoopThread()
        self._status = None

    def warm_up(self) -> Any:
        return None

    def close(self) -> None:
        self.closed = True
        self._loop.close()

    def judge_calls(
        self,
        calls: Sequence[Call],
        api_base: str | None,
        timeout_s: float,
        finished: Finished | None = None,
        on_vote: OnVote | None = None,
        label: str = "",
    ) -> list[Vote]:
        finished = {} if finished is None else finished
        self.batches.append([model for model, _ in calls])
        failures: list[Exception] = []
        for index, (model, question) in enumerate(calls):
            self._keep(index, self._answer(model, question, api_base), finished, on_vote, failures)
        return self._batch(len(calls), finished, failures)

    async def ajudge_calls(
        self,
        calls: Sequence[Call],
        api_base: str | None,
        timeout_s: float,
        finished: Finished | None = None,
        on_vote: OnVote | None = None,
    ) -> list[Vote]:
        """Like judge_calls, on the judge loop; each answer in a worker thread, so a held reply
        (`hold_replies`) holds this check, not the judge loop, and cancelling stops the wait for it."""
        finished = {} if finished is None else finished
        self.batches.append([model for model, _ in calls])
        failures: list[Exception] = []
        for index, (model, question) in enumerate(calls):
            vote = await asyncio.to_thread(self._answer, model, question, api_base)
            self._keep(index, vote, finished, on_vote, failures)
        return self._batch(len(calls), finished, failures)

    @staticmethod
    def _keep(
        index: int, vote: Vote, finished: Finished, on_vote: OnVote | None, failures: list[Exception]
    ) -> None:
        finished[index] = vote
        if on_vote is not None:
            try:
                on_vote(index, vote)
            except Exception as exc:  # like the real caller: raised once the batch is over
                failures.append(exc)

    @staticmethod
    def _batch(size: int, finished: Finished, failures: list[Exception]) -> list[Vote]:
        if failures:
            raise failures[0]
        return [finished[index] for index in range(size)]

    def _answer(self, model: str, question: Question, api_base: str | None) -> Vote:
        sent = shared_identity(question)
        body = {
            # With an api_base litellm strips a leading "openai/" and sends the rest as it is.
            "model": model.removeprefix("openai/") if api_base else model,
            "messages": sent["messages"],
            "temperature": sent["temperature"],
            "max_tokens": sent["max_tokens"],
            **({"seed": sent["seed"]} if "seed" in sent else {}),
        }
        seed = getattr(question, "seed", None)
        headers = {"authorization": f"Bearer {os.environ.get('OPENAI_API_KEY') or NO_KEY_PLACEHOLDER}"}
        tokens_in = tokens_out = attempts = 0
        error = ""
        while attempts < MAX_ATTEMPTS:
            attempts += 1
            status, extra, payload = self.server.respond("/v1/chat/completions", body, headers)
            if status in CONFIG_STATUSES:
                raise JuryConfigError(refused_message(model, f"HTTP {status}"))
            if status != 200 or extra.get("x-fault") == "close_mid_body":
                error = f"HTTP {status}" if status else "connection failed"
                if status and status not in TRANSIENT_STATUSES:
                    break
                continue
            try:
                reply = json.loads(payload)
            except ValueError:
                error = "the endpoint did not answer JSON"
                continue
            usage = reply["usage"]
            tokens_in += int(usage["prompt_tokens"])
            tokens_out += int(usage["completion_tokens"])
            content = reply["choices"][0]["message"]["content"] if reply["choices"] else None
            try:
                parsed = parse_answer(content, question)
            except ValueError as exc:
                return self._vote(model, "abstain", "", str(exc), tokens_in, tokens_out, attempts, seed=seed)
            score = getattr(parsed, "score", None)
            return self._vote(
                model, parsed.vote, parsed.reason.strip(), None, tokens_in, tokens_out, attempts, score, seed
            )
        return self._vote(model, "abstain", "", error, tokens_in, tokens_out, attempts, seed=seed)

    def _vote(
        self,
        model: str,
        vote: Any,
        reason: str,
        error: str | None,
        tokens_in: int,
        tokens_out: int,
        attempts: int,
        score: float | None = None,
        seed: int | None = None,
    ) -> Vote:
        price = self.prices.get(model)
        cost = None if price is None else tokens_in * price[0] + tokens_out * price[1]
        return Vote(
            model=model,
            vote=vote,
            reason=reason,
            error=error,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            latency_s=FAKE_LATENCY_S,
            attempts=attempts,
            score=score,
            seed=seed,
        )


class FakeJudges:
    """A pytest plugin for in-process runs: every jury of the run asks `FakeJudgeCaller`s."""

    def __init__(self, server: FakeLLMServer, prices: Mapping[str, tuple[float, float]] | None = None):
        self.server = server
        self.prices = prices
        self.callers: list[FakeJudgeCaller] = []

    def _new_caller(self) -> JudgeCaller:
        caller = FakeJudgeCaller(self.server, self.prices)
        self.callers.append(caller)
        return caller

    @pytest.fixture
    def scripted_server(self) -> FakeLLMServer:
        """The server whose script answers the judges: a test of the inner run can hold or inspect it."""
        return self.server

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        run = config.stash.get(RUN_KEY, None)
        if run is not None:
            run.caller_factory = self._new_caller
