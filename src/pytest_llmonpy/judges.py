"""Calling one judge through litellm: routing, retries, structured verdict parsing.

litellm takes seconds to import, so it is imported only by `load_litellm()`, on the first live call.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pytest_llmonpy.local import PROVIDER as LOCAL_PROVIDER
from pytest_llmonpy.loop_thread import LoopThread
from pytest_llmonpy.prompts import (
    MAX_TOKENS,
    TEMPERATURE,
    Case,
    PairCase,
    build_messages,
    build_pair_messages,
)
from pytest_llmonpy.ratelimit import SharedRateLimiter
from pytest_llmonpy.untrusted import printable
from pytest_llmonpy.verdict import JuryConfigError, Vote, VoteValue

# Attempts per judge call; the real bound is the jury_timeout deadline, which includes every retry.
MAX_ATTEMPTS = 5

# Placeholder sent to a jury_api_base endpoint when no OPENAI_API_KEY is set: local servers need none,
# and litellm refuses to call without one.
NO_KEY_PLACEHOLDER = "sk-no-key-required"

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "vote": {"type": "string", "enum": ["pass", "fail"]},
        "reason": {"type": "string"},
    },
    "required": ["vote", "reason"],
    "additionalProperties": False,
}


PAIR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "winner": {"type": "string", "enum": ["1", "2", "tie"]},
        "reason": {"type": "string"},
    },
    "required": ["winner", "reason"],
    "additionalProperties": False,
}


def load_litellm() -> Any:
    """Import litellm configured for quiet, offline-safe use."""
    # Without this litellm downloads a price list from the internet at import time.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    from pytest_llmonpy.local import register

    litellm.suppress_debug_info = True
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
    if model.startswith(f"{LOCAL_PROVIDER}/"):
        return Route(model=model)  # in process: no endpoint, no key
    if api_base:
        # An OpenAI-compatible endpoint for every judge: names go to it as they are (a litellm proxy
        # routes "anthropic/..." itself), except a leading "openai/" which litellm strips.
        provider = None if model.startswith("openai/") else "openai"
        api_key = None if os.environ.get("OPENAI_API_KEY") else NO_KEY_PLACEHOLDER
        return Route(model=model, provider=provider, api_base=api_base, api_key=api_key)
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


def response_format_for(litellm: Any, route: Route, pairwise: bool = False) -> dict[str, Any] | None:
    """Ask for structured output where the provider supports it; the parser copes without it."""
    name, schema = ("comparison", PAIR_SCHEMA) if pairwise else ("verdict", VERDICT_SCHEMA)
    if route.model.startswith(f"{LOCAL_PROVIDER}/"):
        # The local judge turns the schema into a llama.cpp grammar: every answer parses.
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    if route.api_base:
        # Generic OpenAI-compatible servers (llama.cpp, vLLM, proxies) accept json_object;
        # several reject OpenAI's json_schema.
        return {"type": "json_object"}
    provider = litellm.get_llm_provider(model=route.model)[1]
    if litellm.supports_response_schema(model=route.model, custom_llm_provider=provider):
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "strict": True, "schema": schema},
        }
    params = litellm.get_supported_openai_params(model=route.model, custom_llm_provider=provider) or []
    return {"type": "json_object"} if "response_format" in params else None


def _is_config_error(litellm: Any, exc: BaseException) -> bool:
    return isinstance(
        exc, (litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.NotFoundError)
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


def describe_error(exc: BaseException) -> str:
    """A short, secret-free, single-line description of a provider error."""
    status = getattr(exc, "status_code", None)
    prefix = f"{type(exc).__name__}" + (f" (HTTP {status})" if isinstance(status, int) else "")
    return f"{prefix}: {printable(str(exc), 240)}"


Question = Case | PairCase
Call = tuple[str, Question]  # (judge model, what it is asked)


class JudgeCaller:
    """Calls judges concurrently on one background event loop, at most `concurrency` in flight."""

    def __init__(self, concurrency: int, limiter: SharedRateLimiter | None = None) -> None:
        self._concurrency = concurrency
        self._limiter = limiter
        self._loop = LoopThread()
        self._semaphore: asyncio.Semaphore | None = None
        self._routes: dict[tuple[str, str | None], Route] = {}
        self._litellm: Any = None

    def _lib(self) -> Any:
        if self._litellm is None:
            self._litellm = load_litellm()
            if self._limiter is not None and self._limiter.limits:
                # The OpenAI SDK imports its resources (~0.5-0.8 s) inside the first call, after the
                # rate limiter's slot: done first, the request leaves at its slot and cannot bunch up
                # with the next one at the server.
                with contextlib.suppress(ImportError):
                    importlib.import_module("openai.resources")
        return self._litellm

    def judge_all(
        self, models: tuple[str, ...], case: Case, api_base: str | None, timeout_s: float
    ) -> list[Vote]:
        """Blocking: ask every judge at once; raises JuryConfigError for a misconfigured judge."""
        return self.judge_calls([(model, case) for model in models], api_base, timeout_s)

    async def ajudge_all(
        self, models: tuple[str, ...], case: Case, api_base: str | None, timeout_s: float
    ) -> list[Vote]:
        return await self.ajudge_calls([(model, case) for model in models], api_base, timeout_s)

    def judge_calls(self, calls: Sequence[Call], api_base: str | None, timeout_s: float) -> list[Vote]:
        """Blocking: make every (judge, question) call at once; one Vote per call, in order."""
        return self._loop.run(self._ask_all(calls, api_base, timeout_s))

    async def ajudge_calls(self, calls: Sequence[Call], api_base: str | None, timeout_s: float) -> list[Vote]:
        return await self._loop.arun(self._ask_all(calls, api_base, timeout_s))

    def close(self) -> None:
        final = self._litellm.close_litellm_async_clients() if self._litellm and self._loop.started else None
        self._loop.close(final)

    async def _ask_all(self, calls: Sequence[Call], api_base: str | None, timeout_s: float) -> list[Vote]:
        litellm = self._lib()
        routes = [self._route(litellm, model, api_base) for model, _ in calls]
        return list(
            await asyncio.gather(
                *(
                    self._ask(litellm, route, model, case, timeout_s)
                    for route, (model, case) in zip(routes, calls, strict=True)
                )
            )
        )

    async def _wait_for_slot(self, model: str) -> float:
        """Seconds to wait before calling `model`: its shared rate limit, and any shared 429 pause."""
        limiter = self._limiter
        if limiter is None:
            return 0.0
        if model in limiter.limits:
            return await asyncio.to_thread(limiter.reserve, model)
        return await asyncio.to_thread(limiter.paused_for, model)

    def _route(self, litellm: Any, model: str, api_base: str | None) -> Route:
        key = (model, api_base)
        if key not in self._routes:
            self._routes[key] = resolve_route(litellm, model, api_base)
        return self._routes[key]

    async def _ask(self, litellm: Any, route: Route, model: str, case: Question, timeout_s: float) -> Vote:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._concurrency)
        async with self._semaphore:
            return await self._ask_with_retries(litellm, route, model, case, timeout_s)

    async def _ask_with_retries(
        self, litellm: Any, route: Route, model: str, case: Question, timeout_s: float
    ) -> Vote:
        started = time.monotonic()
        pairwise = isinstance(case, PairCase)
        deadline = started + timeout_s
        request = {
            **route.completion_kwargs(),
            "messages": build_pair_messages(case) if isinstance(case, PairCase) else build_messages(case),
            "temperature": TEMPERATURE,
            "max_tokens": MAX_TOKENS,
            "response_format": response_format_for(litellm, route, pairwise),
            "drop_params": True,
            # Retries are ours (below): they honour Retry-After, stay inside jury_timeout and count attempts.
            "num_retries": 0,
            "max_retries": 0,
        }
        tokens_in = tokens_out = 0
        cost: float | None = 0.0
        attempts = 0
        error = ""
        reply: JudgeReply | PairReply | None = None
        while True:
            attempts += 1
            wait = await self._wait_for_slot(model)
            if time.monotonic() + wait >= deadline:
                error = (
                    f"the rate limit (jury_rate_limits, or a provider's Retry-After) leaves no time to "
                    f"call within jury_timeout={timeout_s:g}s"
                )
                break
            if wait:
                await asyncio.sleep(wait)
            remaining = deadline - time.monotonic()
            try:
                response = await asyncio.wait_for(
                    # A constant timeout keeps litellm's client cache key stable, so one HTTP client
                    # (and its connection pool) serves every call; wait_for enforces the deadline.
                    litellm.acompletion(**request, timeout=timeout_s),
                    remaining,
                )
            except asyncio.TimeoutError:
                error = f"timed out after {timeout_s:g}s (jury_timeout), {attempts} attempt(s)"
                break
            except Exception as exc:
                if _is_config_error(litellm, exc) and model.startswith(f"{LOCAL_PROVIDER}/"):
                    reason = str(exc).rsplit("AuthenticationError: ", 1)[-1]
                    raise JuryConfigError(f"judge {model!r} cannot run: {reason}") from None
                if _is_config_error(litellm, exc):
                    raise JuryConfigError(
                        f"judge {model!r} was refused by its provider: {describe_error(exc)}. Check the "
                        "model name and the API key in the environment."
                    ) from None
                error = describe_error(exc)
                if not _is_transient(litellm, exc) or attempts >= MAX_ATTEMPTS:
                    break
                headers = _response_headers(exc)
                delay = float(
                    litellm.calculate_retry_after(
                        remaining_retries=MAX_ATTEMPTS - attempts,
                        max_retries=MAX_ATTEMPTS,
                        response_headers=headers,
                    )
                )
                if self._limiter is not None and _retry_after(headers) is not None:
                    # The provider asked for a pause: every worker and run on this machine honours it.
                    await asyncio.to_thread(self._limiter.pause, model, delay)
                    continue  # the next attempt waits for the shared pause
                if time.monotonic() + delay >= deadline:
                    error += f" (no time left to retry within jury_timeout={timeout_s:g}s)"
                    break
                await asyncio.sleep(delay)
                continue
            usage = getattr(response, "usage", None)
            tokens_in += int(getattr(usage, "prompt_tokens", 0) or 0)
            tokens_out += int(getattr(usage, "completion_tokens", 0) or 0)
            cost = _add_cost(cost, _price(litellm, response))
            content = response.choices[0].message.content if response.choices else None
            try:
                reply = parse_pair_reply(content) if pairwise else parse_reply(content)
            except ValueError as exc:
                error = str(exc)
            break
        # One Vote for every ending: an answer, or an abstention that keeps what the attempts cost.
        return Vote(
            model=model,
            vote=reply.vote if reply else "abstain",
            reason=reply.reason.strip() if reply else "",
            error=None if reply else error,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            latency_s=time.monotonic() - started,
            attempts=attempts,
        )


def _price(litellm: Any, response: Any) -> float | None:
    """The response's cost from litellm's price table, or None when the model is unpriced."""
    # litellm already priced the response while logging it; pricing again costs CPU per call.
    known = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if isinstance(known, (int, float)):
        return float(known)
    try:
        return float(litellm.completion_cost(completion_response=response))
    except Exception:
        return None


def _add_cost(total: float | None, cost: float | None) -> float | None:
    return None if total is None or cost is None else total + cost
