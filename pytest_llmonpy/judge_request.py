"""What one judge call sends, decided without litellm: messages, response format, sampling, route.

The verdict cache keys on `request_identity`, built from the same functions the judge caller sends
with, so a change to the prompt text, the schema, a sampling setting or the endpoint is a cache miss:
no verdict given to another request is ever replayed. Pure functions; no litellm, no pydantic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_llmonpy.local_prompt import LOCAL_PROMPT_VERSION
from pytest_llmonpy.prompts import (
    MAX_TOKENS,
    SAMPLE_TEMPERATURE,
    TEMPERATURE,
    Case,
    PairCase,
    build_messages,
    build_pair_messages,
)

# The name users write for the embedded offline judge, `local/<model>`.
LOCAL_PREFIX = "local/"
# The models the `local` extra can run. Any other `local/...` name is refused before a call: it would
# otherwise be judged by the one embedded model, shown as unpriced and cached under the wrong name.
LOCAL_MODELS = ("qwen2.5-coder-1.5b",)
# The litellm custom provider that serves it: a name of our own, so it never replaces (or is replaced
# by) a custom provider a user registers under the common name "local".
LOCAL_PROVIDER = "llmonpy-local"

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


def score_schema(scale: tuple[int, int]) -> dict[str, Any]:
    """A score's answer: the reason first (a judge that explains before it scores scores better), then
    an integer on the scale, as an enum: strict json_schema providers and llama.cpp grammars both
    enforce an enum, where several ignore minimum/maximum."""
    low, high = scale
    return {
        "type": "object",
        "properties": {
            "reason": {"type": "string"},
            "score": {"type": "integer", "enum": list(range(low, high + 1))},
        },
        "required": ["reason", "score"],
        "additionalProperties": False,
    }


Question = Case | PairCase


def is_local(model: str) -> bool:
    return model.startswith(LOCAL_PREFIX)


def unknown_local_judges(models: Iterable[str]) -> str | None:
    """What is wrong with `local/...` names that no embedded model answers to, or None."""
    unknown = [m for m in models if is_local(m) and m.removeprefix(LOCAL_PREFIX) not in LOCAL_MODELS]
    if not unknown:
        return None
    known = ", ".join(f"{LOCAL_PREFIX}{name}" for name in LOCAL_MODELS)
    return (
        f"unknown local judge {', '.join(dict.fromkeys(unknown))}; the local models that exist: {known}. "
        "Fix the name in jury_judges / --jury-judges / @pytest.mark.jury(judges=...)"
    )


def route_identity(model: str, api_base: str | None) -> dict[str, str | None]:
    """Where a call for `model` goes: the provider litellm is told to use (None: litellm's own choice
    from the model name) and the endpoint (None: the provider's default)."""
    if is_local(model):
        return {"provider": LOCAL_PROVIDER, "api_base": None}
    if api_base:
        # Names go to the endpoint as they are (a litellm proxy routes "anthropic/..." itself), except a
        # leading "openai/", which litellm strips itself.
        return {"provider": None if model.startswith("openai/") else "openai", "api_base": api_base}
    return {"provider": None, "api_base": None}


def schema_for(question: Question) -> tuple[str, dict[str, Any]]:
    """The response schema's name and JSON schema for one kind of question."""
    if isinstance(question, PairCase):
        return "comparison", PAIR_SCHEMA
    if question.scale is not None:
        return "score", score_schema(question.scale)
    return "verdict", VERDICT_SCHEMA


def format_policy(model: str, api_base: str | None) -> str:
    """How the response format is chosen for `model` (the chosen format itself may need litellm).

    - "json_schema": the local judge turns the schema into a llama.cpp grammar, so every answer parses;
    - "json_object": generic OpenAI-compatible servers (llama.cpp, vLLM, proxies) accept it, and several
      reject OpenAI's json_schema;
    - "provider": strict json_schema where litellm says the provider supports it, else json_object
      where supported, else none (the parser copes with prose).
    """
    if is_local(model):
        return "json_schema"
    return "json_object" if api_base else "provider"


def build_request_messages(question: Question) -> list[dict[str, str]]:
    return build_pair_messages(question) if isinstance(question, PairCase) else build_messages(question)


def shared_identity(question: Question) -> dict[str, Any]:
    """The part of every judge's request that does not depend on the judge: messages, schema, sampling."""
    name, schema = schema_for(question)
    identity = {
        "messages": build_request_messages(question),
        "schema_name": name,
        "schema": schema,
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
    }
    # Each only when set: the keys of plain checks stay what they were.
    preset = getattr(question, "preset", None)
    if preset is not None:
        identity["preset"] = preset
    seed = getattr(question, "seed", None)
    if seed is not None:
        identity["temperature"] = SAMPLE_TEMPERATURE
        identity["seed"] = seed
    return identity


def judge_identity(model: str, api_base: str | None, question: Question | None = None) -> dict[str, Any]:
    """The part of a request that depends on the judge: its model, route and response format policy,
    and for the embedded judge's comparisons, the version of the question it asks instead."""
    identity = {"model": model, "format": format_policy(model, api_base), **route_identity(model, api_base)}
    if is_local(model) and isinstance(question, PairCase):
        identity["local_prompt"] = LOCAL_PROMPT_VERSION
    return identity
