"""End-to-end: `llmonpy cache export` / `import` move recorded verdicts between caches as JSON Lines:
a replay run on the imported cache asks no judge; sharded runs' caches merge; a bad file imports
nothing and names each bad line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.cache import VerdictCache
from pytest_llmonpy.cli import main
from pytest_llmonpy.prompts import Case
from pytest_llmonpy.verdict import Vote

JUDGES = "--jury-judges=judge-a,judge-b"
SUITE = """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_answer(jury, n):
    jury.assert_passes(f"answer {n}", "Is an answer")
"""


def _llmonpy(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()  # what the inner pytest runs printed before
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_sharded_caches_merge_through_export_and_import_and_replay_asks_nobody(
    pytester: pytest.Pytester,
    run_inprocess: RunJury,
    llm_server: FakeLLMServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    # Two CI shards, each with its own cache.
    run_inprocess(JUDGES, "--jury-cache-dir=shard1", "-k", "0 or 1").assert_outcomes(passed=2)
    run_inprocess(JUDGES, "--jury-cache-dir=shard2", "-k", "2 or 3").assert_outcomes(passed=2)
    assert len(llm_server.calls()) == 8
    for shard in ("shard1", "shard2"):
        code, out, _ = _llmonpy(
            "cache", "export", str(tmp_path / f"{shard}.jsonl"), "--dir", str(pytester.path / shard),
            capsys=capsys,
        )  # fmt: skip
        assert (code, out.strip()) == (0, f"exported 4 cached verdicts from {pytester.path / shard} to "
                                       f"{tmp_path / shard}.jsonl")  # fmt: skip
    lines = (tmp_path / "shard1.jsonl").read_text().splitlines()
    assert lines == sorted(lines, key=lambda line: json.loads(line)["key"])  # reviewable, diffable
    record = json.loads(lines[0])
    assert record["entry"]["case"]["criteria"] == "Is an answer"
    assert record["entry"]["vote"] == "pass"

    merged = pytester.path / "merged"
    for shard in ("shard1", "shard2", "shard1"):
        code, out, _ = _llmonpy(
            "cache", "import", str(tmp_path / f"{shard}.jsonl"), "--dir", str(merged), capsys=capsys
        )
        assert code == 0
    assert (
        out.strip() == f"imported 0 of 4 cached verdicts into {merged} (0 added, 0 replaced, 4 already there)"
    )
    result = run_inprocess(JUDGES, "--jury-cache-dir=merged", "--jury-mode=replay")
    result.assert_outcomes(passed=4)
    assert len(llm_server.calls()) == 8  # the merged cache answered every check


def test_a_bad_line_imports_nothing_and_each_bad_line_is_named(
    pytester: pytest.Pytester,
    run_inprocess: RunJury,
    llm_server: FakeLLMServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    run_inprocess(JUDGES, "-k", "0").assert_outcomes(passed=1)
    export = tmp_path / "verdicts.jsonl"
    assert (
        _llmonpy("cache", "export", str(export), "--dir", str(pytester.path / ".llmonpy"), capsys=capsys)[0]
        == 0
    )
    good = export.read_text().splitlines()
    forged = json.loads(good[0])
    forged["entry"]["vote"] = "approve"
    bad_key = json.loads(good[1])
    bad_key["key"] = "../../etc/passwd"
    export.write_text("\n".join([good[0], "not json", json.dumps(forged), json.dumps(bad_key), ""]))
    target = tmp_path / "target"
    code, out, err = _llmonpy("cache", "import", str(export), "--dir", str(target), capsys=capsys)
    assert code == 1
    assert out == ""
    assert "3 line(s) are not cached verdicts, so nothing was imported:" in err
    assert f"{export}:2: not a JSON object" in err
    assert f"{export}:3: the entry is not a cached verdict (ValueError: unexpected vote 'approve')" in err
    assert f"{export}:4: the key is not a verdict cache key of schema 2" in err
    assert not (target / "verdicts").exists()


def test_export_and_import_need_a_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cache", "export", "--dir", str(tmp_path)])
    assert exited.value.code == 2
    assert "export and import need a PATH" in capsys.readouterr().err
    code, _, err = _llmonpy(
        "cache", "import", str(tmp_path / "missing.jsonl"), "--dir", str(tmp_path), capsys=capsys
    )
    assert code == 1
    assert "cannot read" in err


def test_unusual_texts_round_trip_and_repeats_bom_and_secrets_are_handled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = VerdictCache(tmp_path / "source")
    odd = Case("line\u2028separator\x85next", "Is odd")
    source.put(Vote("judge-a", "pass", "fine"), odd)
    source.close()
    export = tmp_path / "odd.jsonl"
    assert _llmonpy("cache", "export", str(export), "--dir", str(tmp_path / "source"), capsys=capsys)[0] == 0
    (line,) = export.read_text(encoding="utf-8").split("\n")[:-1]
    monkeypatch.setenv("TEAM_API_KEY", "sk-team-secret-123")
    leaked = json.loads(line)
    leaked["entry"]["reason"] = "fine, said sk-team-secret-123"
    # A BOM, the same key twice (cat of two exports), Windows line ends.
    export.write_text("\ufeff" + line + "\r\n" + json.dumps(leaked) + "\r\n", encoding="utf-8")
    code, out, _ = _llmonpy("cache", "import", str(export), "--dir", str(tmp_path / "target"), capsys=capsys)
    assert (code, out.split(" (")[0]) == (0, f"imported 1 of 1 cached verdicts into {tmp_path / 'target'}")
    target = VerdictCache(tmp_path / "target")
    vote = target.get("judge-a", odd)
    assert vote is not None
    assert vote.reason in ("fine", "fine, said ***")  # never the secret itself
    target.close()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda record: record["entry"].update(recorded_at=float("nan")),
            "NaN is not a number a verdict can hold",
        ),
        (lambda record: record["entry"].update(tokens_in=-3), "negative or not a finite number"),
        (lambda record: record["entry"]["case"].update(output=5), "the case's output is not a text"),
        (lambda record: record["entry"].update(vote="score", score=9), "unexpected vote 'score'"),
    ],
)
def test_an_entry_with_wrong_types_or_numbers_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, change: Any, problem: str
) -> None:
    source = VerdictCache(tmp_path / "source")
    source.put(Vote("judge-a", "pass", "fine"), Case("out", "Is short"))
    source.close()
    export = tmp_path / "one.jsonl"
    _llmonpy("cache", "export", str(export), "--dir", str(tmp_path / "source"), capsys=capsys)
    record = json.loads(export.read_text())
    change(record)
    export.write_text(json.dumps(record) + "\n")
    code, _, err = _llmonpy("cache", "import", str(export), "--dir", str(tmp_path / "target"), capsys=capsys)
    assert code == 1
    assert problem in err


def test_a_duplicated_member_and_a_missing_cache_are_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export = tmp_path / "dup.jsonl"
    export.write_text('{"key": "v2:' + "0" * 64 + '", "key": "x", "entry": {}}\n')
    code, _, err = _llmonpy("cache", "import", str(export), "--dir", str(tmp_path / "t"), capsys=capsys)
    assert code == 1
    assert "the member(s) key appear twice" in err
    code, _, err = _llmonpy("cache", "export", str(export), "--dir", str(tmp_path / "nowhere"), capsys=capsys)
    assert code == 1
    assert f"no verdict cache at {tmp_path / 'nowhere'}" in err
