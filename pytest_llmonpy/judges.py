"""Calling one judge through litellm: routing, retries, structured verdict parsing.

litellm takes seconds to import, so it is imported only by `load_litellm()`, on the first live call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pytest_llmonpy.judge_request import (
    LOCAL_PREFIX,
    LOCAL_PROVIDER,
    format_policy,
    is_local,
    route_identity,
    schema_for,
    shared_identity,
)
from pytest_llmonpy.litellm_import import import_litellm
from pytest_llmonpy.loop_thread import LoopThread, start_deaf_to_ctrl_c
from pytest_llmonpy.money import Cost
from pytest_llmonpy.progress import StatusLine
from pytest_llmonpy.prompts import Case, PairCase
from pytest_llmonpy.ratelimit import SharedRateLimiter
from pytest_llmonpy.untrusted import printable
from pytest_llmonpy.verdict import JuryConfigError, Vote, VoteValue

# Attempts per judge call; the real bound is the jury_timeout deadline, which includes every retry.
MAX_ATTEMPTS = 5

# Placeholder sent to a jury_api_base endpoint when no OPENAI_API_KEY is set: local servers need none,
# and litellm refuses to call without one.
NO_KEY_PLACEHOLDER = "sk-no-key-required"
# How often a check waiting on judges refreshes the live status line (only when one is shown).
STATUS_POLL_S = 0.25


def load_litellm() -> Any:
    """Import litellm configured for quiet, offline-safe use, with the offline judge registered."""
    from pytest_llmonpy.local import register

    litellm = import_litellm()
    register(litellm)  # the `local/...` offline judge; loads nothing until it is called
    return litellm


class JudgeReply(BaseModel):
    """The structured answer every judge is asked for."""

    model_config = ConfigDict(extra="ignore")

    vote: Literal["pass", "fail"]
    reason: str = ""

    @field_validator("vote", mode="before")
    @classmethod
    def _normalise_vote(cls, value: object) -> object:
        if isinstance(value, str):
            word = value.strip().lower()
            return {"passed": "pass", "failed": "fail"}.get(word, word)
        return value


class PairReply(BaseModel):
    """A judge's answer to one pairwise call, by position: the first or second output shown, or a tie."""

    model_config = ConfigDict(extra="ignore")

    winner: Literal["first", "second", "tie"]
    reason: str = ""

    @field_validator("winner", mode="before")
    @classmethod
    def _normalise_winner(cls, value: object) -> object:
        word = str(value).strip().lower().removeprefix("output").strip()
        return {"1": "first", "a": "first", "2": "second", "b": "second", "equal": "tie"}.get(word, word)

    @property
    def vote(self) -> VoteValue:
        return self.winner


class ScoreReply(BaseModel):
    """A judge's score on a rubric's scale (checked against the scale by `parse_score_reply`)."""

    model_config = ConfigDict(extra="ignore")

    score: int
    reason: str = ""

    @field_validator("score", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # "4" and 4.0 are the score 4; 4.5 is no score on an integer scale (pydantic refuses it).
        if isinstance(value, bool):
            raise ValueError("a score is a number, not true or false")
        return value.strip() if isinstance(value, str) else value

    @property
    def vote(self) -> VoteValue:
        return "score"


T = TypeVar("T")
Question = Case | PairCase
Call = tuple[str, Question]  # (judge model, what it is asked)
# Where the votes of one batch land as each call finishes, by the call's index in the batch: what the
# caller records when the batch is cut short (a misconfigured judge, an interrupt).
Finished = dict[int, Vote]
OnVote = Callable[[int, Vote], None]

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _parse(text: str | None, shape: type[BaseModel]) -> Any:
    if not text or not text.strip():
        raise ValueError("the judge answered with an empty message")
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    candidates = [fenced.group(1) if fenced else stripped]
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        candidates.append(stripped[start : end + 1])
    for candidate in candidates:
        try:
            return shape.model_validate(json.loads(candidate))
        except (ValueError, ValidationError):
            continue
    raise ValueError(f"unparseable judge answer: {printable(stripped, 120)!r}")


def parse_reply(text: str | None) -> JudgeReply:
    """Parse a judge's verdict: JSON, JSON in a code fence, or the first JSON object in prose."""
    reply: JudgeReply = _parse(text, JudgeReply)
    return reply


def parse_pair_reply(text: str | None) -> PairReply:
    """Parse a judge's answer to a pairwise call, as leniently as `parse_reply`."""
    reply: PairReply = _parse(text, PairReply)
    return reply


def parse_score_reply(text: str | None, scale: tuple[int, int]) -> ScoreReply:
    """Parse a judge's score as leniently as `parse_reply`; a score off the scale is an error."""
    reply: ScoreReply = _parse(text, ScoreReply)
    low, high = scale
    if not low <= reply.score <= high:
        raise ValueError(f"the judge scored {reply.score}, outside the scale {low}-{high}")
    return reply


def parse_answer(text: str | None, question: Question) -> JudgeReply | PairReply | ScoreReply:
    """Parse a judge's answer to `question`, whichever kind it asked for."""
    if isinstance(question, PairCase):
        return parse_pair_reply(text)
    if question.scale is not None:
        return parse_score_reply(text, question.scale)
    return parse_reply(text)


@dataclass(frozen=True)
class Route:
    """How litellm reaches one judge."""

    model: str
    provider: str | None = None
    api_base: str | None = None
    api_key: str | None = None

    def completion_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model}
        if self.provider:
            kwargs["custom_llm_provider"] = self.provider
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        return kwargs


def resolve_route(litellm: Any, model: str, api_base: str | None) -> Route:
    """Check that litellm can route `model` and that its API key is set; JuryConfigError if not."""
    identity = route_identity(model, api_base)
    if is_local(model):
        # In process, through our own custom provider: no endpoint, no key.
        return Route(model=f"{LOCAL_PROVIDER}/{model.removeprefix(LOCAL_PREFIX)}")
    if api_base:
        api_key = None if os.environ.get("OPENAI_API_KEY") else NO_KEY_PLACEHOLDER
        return Route(model=model, provider=identity["provider"], api_base=api_base, api_key=api_key)
    try:
        litellm.get_llm_provider(model=model)
    except Exception:
        raise JuryConfigError(
            f"judge {model!r} is not a model name litellm can route. Use a provider-prefixed name "
            "such as 'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest' or 'ollama/llama3', "
            "or set --jury-api-base to send every judge to one OpenAI-compatible endpoint."
        ) from None
    missing = litellm.validate_environment(model=model).get("missing_keys") or []
    if missing:
        raise JuryConfigError(
            f"judge {model!r} needs {', '.join(missing)} in the environment; export it before running "
            "pytest (keys are read from the environment only and never stored)."
        )
    return Route(model=model)


def response_format_for(
    litellm: Any, model: str, api_base: str | None, question: Question
) -> dict[str, Any] | None:
    """The response format sent with a question, by the policy judge_request states (and keys on)."""
    name, schema = schema_for(question)
    policy = format_policy(model, api_base)
    if policy == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    if policy == "json_object":
        return {"type": "json_object"}
    provider = litellm.get_llm_provider(model=model)[1]
    if litellm.supports_response_schema(model=model, custom_llm_provider=provider):
        return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}
    params = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider) or []
    return {"type": "json_object"} if "response_format" in params else None


def _is_config_error(litellm: Any, exc: BaseException) -> bool:
    """401, 403 or 404: the judge cannot work as configured, and retrying will not change that."""
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.NotFoundError)):
        return True
    # litellm maps some providers' statuses to other classes (an OpenAI-compatible endpoint's 403 among
    # them): the status code decides.
    return getattr(exc, "status_code", None) in (401, 403, 404)


# litellm's own names (litellm_core_utils.error_normalization) for what a provider or a litellm proxy
# refused a call for.
BUDGET_SPENT = "429_BUDGET_EXCEEDED"
# The statuses a litellm proxy refuses a spent budget with; litellm classifies by words first, and a
# 5xx that mentions a budget is the provider failing, to be retried.
BUDGET_STATUSES = (400, 429)
RATE_LIMITED = {
    "429_RATE_LIMIT_EXCEEDED": "rate-limited",
    "429_NO_HEALTHY_DEPLOYMENTS": "no deployment free at its proxy (a rate limit, or a cooldown after "
    "failures)",
}


def error_kind(exc: BaseException) -> str | None:
    """litellm's classification of a provider's or litellm proxy's error, such as '429_BUDGET_EXCEEDED'
    (a key's, team's or deployment's budget at a proxy); None where litellm cannot say."""
    try:
        from litellm.litellm_core_utils.error_normalization import normalize_error
    except ImportError:  # an internal module of litellm: without it, the status decides as before
        return None
    status = getattr(exc, "status_code", None)
    try:
        kind = normalize_error(exc if isinstance(exc, Exception) else None, str(status or ""), str(exc))
    except Exception:
        return None
    return kind if isinstance(kind, str) else None


# litellm wraps a proxy's message in its own class names, once per layer it passed through.
_WRAPPERS = re.compile(r"^(?:(?:litellm\.)?[A-Za-z]+Error: |[A-Za-z]+Exception - )+")


def refusal_detail(exc: BaseException) -> str:
    """The endpoint's own words about a refused call, without litellm's layers of class names."""
    return f"{_error_prefix(exc)}: {printable(_WRAPPERS.sub('', str(exc).strip()), 240)}"


def proxy_budget_message(model: str, exc: BaseException) -> str:
    """What a JuryConfigError says when a judge's endpoint refuses calls because a budget is spent."""
    return (
        f"judge {model!r} was refused because a budget at its endpoint is spent. Retrying cannot help "
        "until that budget is raised or resets (a litellm proxy's max_budget and budget_duration, for "
        f"the key, team or model); this run's own budget is jury_max_cost. ({refusal_detail(exc)})"
    )


def rate_limited_message(model: str, kind: str, exc: BaseException) -> str:
    """An abstention's reason when a judge stays rate-limited: what happened, what to change, and the
    endpoint's words last (a long reason is cut at its end)."""
    return (
        f"{RATE_LIMITED[kind]}: space its calls with jury_rate_limits ('{model}=N/min', shared by every "
        f"worker), lower jury_concurrency, or raise the limit ({refusal_detail(exc)})"
    )


def _is_transient(litellm: Any, exc: BaseException) -> bool:
    if isinstance(exc, (litellm.Timeout, litellm.APIConnectionError, litellm.RateLimitError)):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and bool(litellm.should_retry(status))


def _retry_after(headers: Any) -> str | None:
    if headers is None:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
    except AttributeError:
        return None
    return str(value) if value else None


def _response_headers(exc: BaseException) -> Any:
    # litellm keeps the provider's real headers (Retry-After among them) here; `exc.response` may be
    # a stand-in response without them.
    headers = getattr(exc, "litellm_response_headers", None)
    return headers if headers is not None else getattr(getattr(exc, "response", None), "headers", None)


def _error_prefix(exc: BaseException) -> str:
    """`RateLimitError (HTTP 429)`: the error's class and, when it has one, its status."""
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if isinstance(status, int) else "")


def describe_error(exc: BaseException) -> str:
    """A short, secret-free, single-line description of a provider error."""
    return f"{_error_prefix(exc)}: {printable(str(exc), 240)}"


class JudgeCaller:
    """Calls judges concurrently on one background event loop, at most `concurrency` in flight.

    `clock` (monotonic seconds) is injectable so tests can check what the timeout covers.
    """

    def __init__(
        self,
        concurrency: int,
        limiter: SharedRateLimiter | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        status: StatusLine | None = None,
    ) -> None:
        self._concurrency = concurrency
        self._status = status
        self._limiter = limiter
        self._clock = clock
        self._loop = LoopThread()
        self._routes: dict[tuple[str, str | None], Route] = {}
        self._litellm: Any = None
        self._warm_lock = threading.Lock()
        self._warming: asyncio.Future[Any] | None = None  # the judge loop's one warm-up (_warmed_up)

    def warm_up(self) -> Any:
        """One-time setup before the first call: import and configure litellm, and import what its first
        call would import lazily. Runs in the caller's thread, off the judge loop and before any judge's
        clock starts: it takes seconds on a busy machine and is not the judge's time."""
        with self._warm_lock:
            if self._litellm is None:
                litellm = load_litellm()
                for module in _FIRST_CALL_IMPORTS:
                    with contextlib.suppress(ImportError):
                        importlib.import_module(module)
                # A mock completion takes litellm's own call path (logging, cost, response types) with
                # no network: what it imports on first use is imported here, not in a judge's call.
                with contextlib.suppress(Exception):
                    self._loop.run(
                        litellm.acompletion(
                            model="openai/warm-up",
                            messages=[{"role": "user", "content": "warm-up"}],
                            mock_response="{}",
                            api_key=NO_KEY_PLACEHOLDER,
                        )
                    )
                self._litellm = litellm
        return self._litellm

    def judge_calls(
        self,
        calls: Sequence[Call],
        api_base: str | None,
        timeout_s: float,
        finished: Finished | None = None,
        on_vote: OnVote | None = None,
        label: str = "",
    ) -> list[Vote]:
        """Blocking: make every (judge, question) call at once; one Vote per call, in order.

        Each vote lands in `finished` as its call ends. When a judge is misconfigured (JuryConfigError)
        or the caller is interrupted, the calls still running are cancelled and the exception propagates;
        `finished` then holds the votes that were answered (and paid for) before it. `on_vote(index,
        vote)` runs on the judge loop as each vote arrives (to store it at once); what it raises is
        raised here once the batch is over. `label` names the check on the live status line.
        """
        finished = {} if finished is None else finished
        litellm = self.warm_up()
        routes = self._routes_for(litellm, calls, api_base)
        future = self._loop.submit(
            self._ask_all(litellm, routes, calls, api_base, timeout_s, finished, on_vote)
        )
        try:
            if self._status is None:
                return future.result()
            pending = functools.partial(_pending_judges, calls, finished)
            with self._status.waiting(label, pending) as tick:
                # Not future.result(timeout=...): a batch that itself ends in TimeoutError would look
                # like "not done yet" forever.
                while not concurrent.futures.wait([future], timeout=STATUS_POLL_S).done:
                    tick()
            return future.result()
        except BaseException:
            future.cancel()  # an interrupt: stop the calls in flight (the loop cancels their tasks)
            raise

    async def on_judge_loop(
        self, coro: Coroutine[Any, Any, T], label: str = "", pending: Callable[[], Sequence[str]] = list
    ) -> T:
        """Await `coro`, run on the judge loop, from the caller's own event loop (an async test's),
        which only awaits a future meanwhile. Cancelling the await cancels the task and its calls in
        flight, and returns once they have unwound. `label` names the check on the live status line,
        ticked from the caller's loop while `pending()` names judges still to answer."""
        if self._status is None:
            return await self._loop.run_async(coro)
        with self._status.waiting(label, pending) as tick:
            return await self._loop.run_async(coro, tick, STATUS_POLL_S)

    async def ajudge_calls(
        self,
        calls: Sequence[Call],
        api_base: str | None,
        timeout_s: float,
        finished: Finished | None = None,
        on_vote: OnVote | None = None,
    ) -> list[Vote]:
        """`judge_calls` for a coroutine already on the judge loop (see `on_judge_loop`), same contract:
        one Vote per call, in order; each lands in `finished` and goes to `on_vote` as it arrives; a
        misconfigured judge raises JuryConfigError, and cancelling cancels the calls still running.
        The live status line is the waiting caller's (`on_judge_loop`)."""
        if not self._loop.owns_running_loop():
            raise RuntimeError(
                "ajudge_calls runs on the judge loop: await it in a coroutine given to on_judge_loop"
            )
        finished = {} if finished is None else finished
        litellm = self._litellm
        if litellm is None:
            litellm = await self._warmed_up()
        routes = self._routes_for(litellm, calls, api_base)
        return await self._ask_all(litellm, routes, calls, api_base, timeout_s, finished, on_vote)

    async def _warmed_up(self) -> Any:
        """`warm_up` for coroutines on the judge loop: one warm-up, which every waiting check awaits.

        Importing litellm blocks for seconds, so it runs in a thread of its own, and the judge loop keeps
        serving meanwhile (warm_up's own mock call runs on it). Not in the loop's default executor: a
        thread per waiting check there would fill it, and litellm's mock call needs one of its threads.
        """
        if self._warming is None:
            loop = asyncio.get_running_loop()
            warming: asyncio.Future[Any] = loop.create_future()

            def warm() -> None:
                try:
                    litellm = self.warm_up()
                except BaseException as exc:  # handed to every waiting check, raised there
                    loop.call_soon_threadsafe(_settle, warming, None, exc)
                else:
                    loop.call_soon_threadsafe(_settle, warming, litellm, None)

            self._warming = warming
            start_deaf_to_ctrl_c(threading.Thread(target=warm, name="llmonpy-warm-up", daemon=True))
        # shield: a cancelled check must not cancel the warm-up the others wait for.
        return await asyncio.shield(self._warming)

    def close(self) -> None:
        final = self._litellm.close_litellm_async_clients() if self._litellm and self._loop.started else None
        self._loop.close(final)

    def _routes_for(self, litellm: Any, calls: Sequence[Call], api_base: str | None) -> list[Route]:
        routes = []
        for model, _ in calls:
            key = (model, api_base)
            if key not in self._routes:
                self._routes[key] = resolve_route(litellm, model, api_base)
            routes.append(self._routes[key])
        return routes

    async def _ask_all(
        self,
        litellm: Any,
        routes: list[Route],
        calls: Sequence[Call],
        api_base: str | None,
        timeout_s: float,
        finished: Finished,
        on_vote: OnVote | None,
    ) -> list[Vote]:
        semaphore = self._semaphore()
        failures: list[Exception] = []
        tasks = [
            asyncio.ensure_future(self._ask(litellm, semaphore, route, model, question, api_base, timeout_s))
            for route, (model, question) in zip(routes, calls, strict=True)
        ]
        for index, task in enumerate(tasks):
            task.add_done_callback(
                functools.partial(
                    _keep_vote, index=index, finished=finished, on_vote=on_vote, failures=failures
                )
            )
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            # A misconfigured judge ends the batch, and so does the caller's cancellation (an
            # interrupt): the calls still running are cancelled and awaited, so no task is left pending.
            unfinished = [task for task in tasks if not task.done()]
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.gather(*unfinished, return_exceptions=True)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if failures:
            raise failures[0]
        return [task.result() for task in tasks]

    def _semaphore(self) -> asyncio.Semaphore:
        # One per loop: a forked child builds a new judge loop, and the old semaphore belongs to the old.
        loop = asyncio.get_running_loop()
        semaphore = _SEMAPHORES.get(loop)
        if semaphore is None:
            semaphore = _SEMAPHORES[loop] = asyncio.Semaphore(self._concurrency)
        return semaphore

    async def _wait_for_slot(self, model: str, route: str) -> float:
        """Seconds to wait before calling `model` at `route`: its shared rate limit and any 429 pause."""
        limiter = self._limiter
        if limiter is None:
            return 0.0
        if model in limiter.limits:
            return await asyncio.to_thread(limiter.reserve, model, route)
        return await asyncio.to_thread(limiter.paused_for, model, route)

    async def _ask(
        self,
        litellm: Any,
        semaphore: asyncio.Semaphore,
        route: Route,
        model: str,
        question: Question,
        api_base: str | None,
        timeout_s: float,
    ) -> Vote:
        # The embedded model serves one call at a time: local calls queue for it here, before their
        # jury_timeout starts (and without holding a concurrency slot other judges could use), not
        # inside the model, where the wait would count against each call's deadline.
        # Time spent queued behind other calls is not this judge's time either.
        async with _local_turn() if is_local(model) else contextlib.nullcontext(), semaphore:
            return await self._ask_with_retries(litellm, route, model, question, api_base, timeout_s)

    async def _ask_with_retries(
        self,
        litellm: Any,
        route: Route,
        model: str,
        question: Question,
        api_base: str | None,
        timeout_s: float,
    ) -> Vote:
        request = build_request(litellm, route, model, question, api_base)
        slot_key = route.api_base or ""  # one model name on two endpoints: two rate limits
        call = _CallState(started=self._clock(), timeout_s=timeout_s)
        while True:
            if not await self._wait_for_turn(model, slot_key, call):
                break
            remaining = call.deadline - self._clock()
            if remaining <= 0:
                call.error = call.timed_out()
                break
            call.attempts += 1  # counted when sent: the report's attempts are the requests a provider saw
            try:
                response = await _attempt(litellm, request, timeout_s, remaining)
            except asyncio.TimeoutError:
                call.error = call.timed_out()
                break
            except Exception as exc:
                if await self._retry_after_failure(litellm, exc, model, slot_key, call):
                    continue
                break
            call.read_answer(litellm, response, question)
            break
        return call.vote(model, self._clock(), getattr(question, "seed", None))

    async def _wait_for_turn(self, model: str, slot_key: str, call: _CallState) -> bool:
        """Wait for the rate limit's slot; False (the reason kept in `call`) when the wait would end
        past the deadline."""
        wait = await self._wait_for_slot(model, slot_key)
        if wait > 0 and self._clock() + wait >= call.deadline:
            call.error = (f"{call.error}; then " if call.error else "") + (
                f"the rate limit (jury_rate_limits, or a provider's Retry-After) leaves no time to "
                f"call within jury_timeout={call.timeout_s:g}s, {call.attempts} attempt(s)"
            )
            return False
        if wait > 0:
            await asyncio.sleep(wait)
        return True

    async def _retry_after_failure(
        self, litellm: Any, exc: Exception, model: str, slot_key: str, call: _CallState
    ) -> bool:
        """After a failed attempt: whether to try again (having waited the retry delay), or give up
        with the error kept in `call`. A judge that cannot work as configured raises JuryConfigError."""
        if _is_config_error(litellm, exc):
            raise JuryConfigError(_config_error_message(model, exc)) from None
        kind = error_kind(exc)
        if kind == BUDGET_SPENT and getattr(exc, "status_code", None) in BUDGET_STATUSES:
            raise JuryConfigError(proxy_budget_message(model, exc)) from None
        call.error = rate_limited_message(model, kind, exc) if kind in RATE_LIMITED else describe_error(exc)
        if not _is_transient(litellm, exc) or call.attempts >= MAX_ATTEMPTS:
            return False
        headers = _response_headers(exc)
        delay = _retry_delay(litellm, call.attempts, headers)
        if self._limiter is not None and _retry_after(headers) is not None:
            # The provider asked for a pause: every worker and run on this machine honours it.
            await asyncio.to_thread(self._limiter.pause, model, delay, slot_key)
            return True  # the next attempt waits for the shared pause
        if self._clock() + delay >= call.deadline:
            call.error += f" (no time left to retry within jury_timeout={call.timeout_s:g}s)"
            return False
        await asyncio.sleep(delay)
        return True


def build_request(
    litellm: Any, route: Route, model: str, question: Question, api_base: str | None
) -> dict[str, Any]:
    """The completion arguments for one judge call, from the values the verdict cache keys on."""
    sent = shared_identity(question)
    seed = {"seed": sent["seed"]} if "seed" in sent else {}
    return {
        **route.completion_kwargs(),
        **seed,
        "messages": sent["messages"],
        "temperature": sent["temperature"],
        "max_tokens": sent["max_tokens"],
        "response_format": response_format_for(litellm, model, api_base, question),
        "drop_params": True,
        # Retries are ours (JudgeCaller): they honour Retry-After, stay inside jury_timeout and count
        # attempts.
        "num_retries": 0,
        "max_retries": 0,
        # An app under test may turn on litellm's own response cache (litellm.cache) in this
        # process; a judge's vote must come from the judge, and the verdict cache is ours.
        "cache": {"no-cache": True, "no-store": True},
    }


async def _attempt(litellm: Any, request: dict[str, Any], timeout_s: float, remaining: float) -> Any:
    """One request to the judge, cut off at the call's deadline (raises asyncio.TimeoutError)."""
    return await asyncio.wait_for(
        # A constant timeout keeps litellm's client cache key stable, so one HTTP client (and its
        # connection pool) serves every call; wait_for enforces the deadline.
        litellm.acompletion(**request, timeout=timeout_s),
        remaining,
    )


def _retry_delay(litellm: Any, attempts: int, headers: Any) -> float:
    """Seconds before the next attempt: the provider's Retry-After when it sent one, else backoff."""
    return float(
        litellm.calculate_retry_after(
            remaining_retries=MAX_ATTEMPTS - attempts,
            max_retries=MAX_ATTEMPTS,
            response_headers=headers,
        )
    )


@dataclass
class _CallState:
    """What the attempts at one judge call have used and learnt: it becomes the call's one Vote."""

    started: float
    timeout_s: float
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Cost = field(default_factory=Cost)
    attempts: int = 0
    error: str = ""
    reply: JudgeReply | PairReply | ScoreReply | None = None

    @property
    def deadline(self) -> float:
        return self.started + self.timeout_s

    def timed_out(self) -> str:
        return f"timed out after {self.timeout_s:g}s (jury_timeout), {self.attempts} attempt(s)"

    def read_answer(self, litellm: Any, response: Any, question: Question) -> None:
        """Count the response's tokens and cost, and parse its verdict (an error when unparseable)."""
        usage = getattr(response, "usage", None)
        self.tokens_in += int(getattr(usage, "prompt_tokens", 0) or 0)
        self.tokens_out += int(getattr(usage, "completion_tokens", 0) or 0)
        self.cost += _price(litellm, response)
        content = response.choices[0].message.content if response.choices else None
        try:
            self.reply = parse_answer(content, question)
        except ValueError as exc:
            self.error = str(exc)

    def vote(self, model: str, now: float, seed: int | None = None) -> Vote:
        """One Vote for every ending: an answer, or an abstention that keeps what the attempts cost."""
        reply = self.reply
        return Vote(
            score=reply.score if isinstance(reply, ScoreReply) else None,
            seed=seed,
            model=model,
            vote=reply.vote if reply else "abstain",
            reason=reply.reason.strip() if reply else "",
            error=None if reply else self.error,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            cost_usd=self.cost.usd_or_none(),
            latency_s=now - self.started,
            attempts=self.attempts,
        )


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


# Modules litellm's first completion imports lazily (seconds on a busy machine): imported by warm_up.
_FIRST_CALL_IMPORTS = (
    "openai.resources",
    "litellm._service_logger",
    "litellm.integrations.prometheus_services",
)
_SEMAPHORES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
_LOCAL_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _local_turn() -> asyncio.Lock:
    """The embedded model's turn on this loop (one per loop, like the concurrency semaphore)."""
    loop = asyncio.get_running_loop()
    turn = _LOCAL_TURNS.get(loop)
    if turn is None:
        turn = _LOCAL_TURNS[loop] = asyncio.Lock()
    return turn


def _pending_judges(calls: Sequence[Call], finished: Finished) -> list[str]:
    """The judges still to answer, for the status line (read from the waiting thread: a snapshot)."""
    return [model for index, (model, _) in enumerate(calls) if index not in finished]


def _keep_vote(
    task: asyncio.Future[Vote],
    *,
    index: int,
    finished: Finished,
    on_vote: OnVote | None,
    failures: list[Exception],
) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    finished[index] = task.result()
    if on_vote is not None:
        try:
            on_vote(index, finished[index])
        except Exception as exc:  # raised to the caller after the batch, never lost in the loop
            failures.append(exc)


def _config_error_message(model: str, exc: BaseException) -> str:
    if is_local(model):
        return f"judge {model!r} cannot run: {str(exc).rsplit('AuthenticationError: ', 1)[-1]}"
    return refused_message(model, describe_error(exc))


def refused_message(model: str, detail: str) -> str:
    """What a JuryConfigError says when a provider refuses a judge (bad name, endpoint or key)."""
    return (
        f"judge {model!r} was refused by its provider: {detail}. Check the model name, the "
        "endpoint (--jury-api-base) and the API key in the environment."
    )


def _price(litellm: Any, response: Any) -> Cost:
    """The response's cost from litellm's price table (in USD), unpriced when the model has none."""
    # litellm already priced the response while logging it; pricing again costs CPU per call.
    known = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if isinstance(known, (int, float)):
        return Cost.of_usd(float(known))
    try:
        return Cost.of_usd(float(litellm.completion_cost(completion_response=response)))
    except Exception:
        return Cost(unpriced=1)
