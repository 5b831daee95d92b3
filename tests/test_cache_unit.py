"""Unit tests of the verdict cache: key recipe, pickle refusal, directory layout, robustness."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any, cast

import diskcache
import pytest

from pytest_llmonpy import CacheWarning
from pytest_llmonpy.cache import (
    JsonOnlyDisk,
    VerdictCache,
    cache_key,
    cache_keys,
    clear_directory,
    prepare_directory,
)
from pytest_llmonpy.prompts import Case, Example
from pytest_llmonpy.verdict import Vote

CASE = Case(
    output="Canberra", criteria="Names the capital", input="Capital?", reference="Canberra", context="c"
)


def test_key_changes_with_every_field_and_the_model() -> None:
    base = cache_key("judge-a", CASE)
    assert cache_key("judge-a", dataclasses.replace(CASE)) == base
    assert cache_key("judge-b", CASE) != base
    variants = {
        name: dataclasses.replace(CASE, **cast("dict[str, Any]", {name: "changed"}))
        for name in ("output", "criteria", "input", "reference", "context")
    }
    # jury_examples: the labelled examples shown first are part of what was asked
    variants["examples"] = dataclasses.replace(CASE, examples=(Example("question", '{"vote": "pass"}'),))
    keys = {cache_key("judge-a", case) for case in variants.values()}
    assert len(keys) == 6
    assert base not in keys
    # None and "" are different inputs.
    assert cache_key("judge-a", dataclasses.replace(CASE, input=None)) != cache_key(
        "judge-a", dataclasses.replace(CASE, input="")
    )
    # Field boundaries cannot be shifted to forge a collision.
    assert cache_key("a", Case(output="x", criteria="yz")) != cache_key("a", Case(output="xy", criteria="z"))


def test_key_covers_sampling_and_the_schema_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_llmonpy.cache as cache_module
    import pytest_llmonpy.judge_request as judge_request

    base = cache_key("judge-a", CASE)
    for module, name, value in (
        (judge_request, "TEMPERATURE", 0.7),
        (judge_request, "MAX_TOKENS", 1),
        (cache_module, "CACHE_SCHEMA", 99),
    ):
        with monkeypatch.context() as patch:
            patch.setattr(module, name, value)
            assert cache_key("judge-a", CASE) != base, name
    assert cache_keys(["a", "b"], CASE) == {"a": cache_key("a", CASE), "b": cache_key("b", CASE)}


def test_round_trip_keeps_tokens_cost_and_marks_cached(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / ".llmonpy")
    cache.put(Vote("judge-a", "fail", "wrong city", 120, 8, 0.0012, 0.4, attempts=2), CASE)
    cache.put(Vote("judge-b", "pass", "ok", 100, 5, None, 0.3), CASE)
    cache.put(Vote("judge-c", "abstain", error="HTTP 500"), CASE)
    votes = cache.get_many(["judge-a", "judge-b", "judge-c"], CASE)
    assert set(votes) == {"judge-a", "judge-b"}
    assert votes["judge-a"] == Vote(
        "judge-a", "fail", "wrong city", 120, 8, 0.0012, 0.4, cached=True, attempts=2
    )
    assert votes["judge-b"].cost_usd is None
    (entry,) = [e for e in cache.entries() if e.vote.model == "judge-a"]
    assert entry.case == CASE
    cache.close()
    root = tmp_path / ".llmonpy"
    assert sorted(p.name for p in root.iterdir()) == [".gitignore", "CACHEDIR.TAG", "README.md", "verdicts"]


def test_values_are_json_text_in_sqlite(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path)
    cache.put(Vote("judge-a", "pass", "ok"), CASE)
    cache.close()
    db = sqlite3.connect(tmp_path / "verdicts" / "cache.db")
    rows = db.execute("SELECT raw, mode, value FROM Cache").fetchall()
    db.close()
    assert len(rows) == 1
    raw, mode, value = rows[0]
    assert raw == 1
    assert mode == diskcache.core.MODE_RAW
    assert value.startswith("{")


def test_json_only_disk_refuses_pickle_both_ways(tmp_path: Path) -> None:
    with diskcache.Cache(str(tmp_path), disk=JsonOnlyDisk) as cache:
        with pytest.raises(TypeError):
            cache.set("k", {"a": 1})
        with pytest.raises(TypeError):
            cache.set(("tuple", "key"), "v")
        cache.set("k", "v")
    db = sqlite3.connect(tmp_path / "cache.db")
    with db:
        db.execute("UPDATE Cache SET mode = 4, value = ?", (pickle.dumps({"evil": True}),))
    db.close()
    with (
        diskcache.Cache(str(tmp_path), disk=JsonOnlyDisk) as cache,
        pytest.raises(ValueError, match="refusing"),
    ):
        cache.get("k")


def test_a_bad_entry_is_a_warning_and_a_miss(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path)
    cache.put(Vote("judge-a", "pass", "ok"), CASE)
    cache.close()
    with diskcache.Cache(str(tmp_path / "verdicts"), disk=JsonOnlyDisk) as raw:
        raw.set(cache_key("judge-a", CASE), '{"schema": 1, "vote": "maybe"}')
    cache = VerdictCache(tmp_path)
    with pytest.warns(CacheWarning, match="unreadable entry for judge 'judge-a'"):
        assert cache.get("judge-a", CASE) is None
    cache.close()


def test_an_unopenable_cache_warns_once_and_misses(tmp_path: Path) -> None:
    (tmp_path / "verdicts").mkdir()
    (tmp_path / "verdicts" / "cache.db").write_bytes(b"garbage" * 1000)
    cache = VerdictCache(tmp_path)
    with pytest.warns(CacheWarning, match="cannot be opened"):
        assert cache.get("judge-a", CASE) is None
    cache.put(Vote("judge-a", "pass", "ok"), CASE)  # no second warning, no crash
    assert cache.entries() == []
    assert clear_directory(tmp_path) == -1
    assert not (tmp_path / "verdicts").exists()


def test_prepare_directory_is_safe_when_several_processes_race(tmp_path: Path) -> None:
    root = tmp_path / "deep" / ".llmonpy"
    threads = [threading.Thread(target=prepare_directory, args=(root,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.name for p in root.iterdir()) == [".gitignore", "CACHEDIR.TAG", "README.md"]
    assert [p.name for p in root.parent.iterdir()] == [".llmonpy"]


def test_secrets_in_reasons_are_not_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_KEY", "sk-super-secret-123")
    cache = VerdictCache(tmp_path)
    cache.put(Vote("judge-a", "pass", "the key sk-super-secret-123 was in the prompt"), CASE)
    assert cache.get("judge-a", CASE) == Vote("judge-a", "pass", "the key *** was in the prompt", cached=True)
    cache.close()


def test_an_entry_recorded_before_examples_existed_still_reads(tmp_path: Path) -> None:
    """Entries written before `jury_examples` have no "examples" in their case: they read as none."""
    from pytest_llmonpy import cache as cache_module

    vote = Vote("judge-a", "pass", reason="ok", tokens_in=3, tokens_out=2, cost_usd=0.001, latency_s=0.1)
    written = json.loads(cache_module._encode(vote, CASE))
    del written["case"]["examples"]
    entry = cache_module.read_entry(json.dumps(written))
    assert entry.case == CASE
    assert entry.case.examples == ()
    with_examples = dataclasses.replace(CASE, examples=(Example("q", '{"vote": "fail"}'),))
    assert cache_module.read_entry(cache_module._encode(vote, with_examples)).case == with_examples


def test_a_cache_directory_another_worker_creates_first_is_kept_and_ours_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / ".llmonpy"
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp_then_lose_the_race(**kwargs: Any) -> str:
        staging = real_mkdtemp(**kwargs)
        root.mkdir()  # the other worker's rename lands between our check and ours
        (root / "theirs").write_text("kept")
        return str(staging)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp_then_lose_the_race)
    prepare_directory(root)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".llmonpy"]  # no staging directory left
    assert sorted(p.name for p in root.iterdir()) == ["theirs"]
