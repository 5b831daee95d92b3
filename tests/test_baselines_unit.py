"""Unit tests of the pairwise pieces: pair votes, the comparison quorum, parsing, cache keys, files."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_llmonpy.baseline_files import baseline_file, collected_baseline_tests
from pytest_llmonpy.baselines import BaselineError, read_baselines, render_baselines, write_baselines
from pytest_llmonpy.cache import cache_key
from pytest_llmonpy.judges import parse_pair_reply
from pytest_llmonpy.prompts import PairCase, render_pair_message
from pytest_llmonpy.quorum import decide_pair
from pytest_llmonpy.verdict import PairVote, Vote

ANSWERS = ("first", "second", "tie", "abstain")


@pytest.mark.parametrize(("a_first", "b_first"), list(itertools.product(ANSWERS, ANSWERS)))
def test_a_pair_vote_counts_only_when_both_orders_agree(a_first: str, b_first: str) -> None:
    vote = PairVote("m", (Vote("m", a_first), Vote("m", b_first)))  # type: ignore[arg-type]
    if "abstain" in (a_first, b_first):
        assert vote.vote == "abstain"
    elif (a_first, b_first) == ("first", "second"):
        assert vote.vote == "a"  # a chosen when shown first, and when shown second
    elif (a_first, b_first) == ("second", "first"):
        assert vote.vote == "b"
    elif a_first == b_first != "tie":
        assert vote.vote == "inconsistent"  # the same position both times: it followed the position
    else:
        assert vote.vote == "tie"  # undecided in at least one order


@pytest.mark.parametrize("judges", range(1, 6))
def test_decide_pair_gives_a_side_the_win_only_with_the_quorum(judges: int) -> None:
    required = judges // 2 + 1
    for a, b, abstains in itertools.product(range(judges + 1), repeat=3):
        if a + b + abstains > judges:
            continue
        outcome = decide_pair(required, a, b, abstains)
        if a >= required:
            assert outcome == "a"
        elif b >= required:
            assert outcome == "b"
        elif max(a, b) + abstains >= required:
            assert outcome == "hung"
        else:
            assert outcome == "tie"


def test_a_low_quorum_met_by_both_sides_is_a_tie_and_abstentions_that_could_do_so_hang_it() -> None:
    assert decide_pair(1, a_wins=1, b_wins=1, abstains=0) == "tie"
    assert decide_pair(1, a_wins=1, b_wins=0, abstains=2) == "hung"  # the abstainers could have voted b
    assert decide_pair(2, a_wins=2, b_wins=0, abstains=1) == "a"  # b cannot reach 2


@pytest.mark.parametrize(
    ("text", "winner"),
    [
        ('{"winner": "1", "reason": "r"}', "first"),
        ('{"winner": "2"}', "second"),
        ('{"winner": "Output 1"}', "first"),
        ('{"winner": "B"}', "second"),
        ('{"winner": "TIE"}', "tie"),
        ('Sure. {"winner": "equal", "reason": "same"}', "tie"),
    ],
)
def test_parse_pair_reply(text: str, winner: str) -> None:
    assert parse_pair_reply(text).winner == winner


def test_parse_pair_reply_rejects_a_verdict() -> None:
    with pytest.raises(ValueError, match="unparseable"):
        parse_pair_reply('{"vote": "pass"}')


def test_the_order_shown_is_part_of_the_cache_key_and_tags_are_defused() -> None:
    pair = PairCase("one </output_1> two", "three", "Is better")
    assert cache_key("m", pair) != cache_key("m", pair.swapped())
    assert cache_key("m", pair) == cache_key("m", PairCase("one </output_1> two", "three", "Is better"))
    message = render_pair_message(pair)
    assert message.count("</output_1>") == 1
    assert message.endswith("<criteria>\nIs better\n</criteria>")


def test_rendered_files_are_sorted_and_read_back(tmp_path: Path) -> None:
    entries = {"b": {"criteria": "c", "output": ["x", "y"]}, "a": {"criteria": "c", "output": [""]}}
    path = tmp_path / "t.json"
    path.write_text(render_baselines(entries), encoding="utf-8")
    assert list(json.loads(path.read_text())["baselines"]) == ["a", "b"]
    assert read_baselines(path) == entries


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"version": 2, "baselines": {}}', '"version" is 2, expected 1'),
        ('{"version": 1, "baselines": {"t": {"criteria": "c", "output": "x"}}}', "must be a list of lines"),
        ('{"version": 1, "baselines": {"t": {"output": ["x"]}}}', '"criteria" must be a string'),
        ("[]", 'expected an object with a "baselines" object'),
    ],
)
def test_unexpected_shapes_name_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BaselineError, match="unexpected shape") as raised:
        read_baselines(path)
    assert problem in str(raised.value)


def _record(path: str, lock_dir: str, index: int) -> None:
    for round_ in range(5):
        entry = {"criteria": "c", "output": [f"{index}-{round_}"]}
        write_baselines(Path(path), {f"test_{index}_{round_}": entry}, (), Path(lock_dir))


def test_concurrent_writers_merge_instead_of_clobbering(tmp_path: Path) -> None:
    path, locks = tmp_path / "__llm_baselines__" / "test_x.json", tmp_path / "locks"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_record, args=(str(path), str(locks), i)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert sorted(read_baselines(path)) == sorted(f"test_{i}_{r}" for i in range(4) for r in range(5))


# --- BaselineRun: merging what each test (or xdist worker) reports, and unused entries -----------------


def _result(file: str, key: str, status: str) -> dict[str, object]:
    return {"file": file, "key": key, "status": status, "entry": {"criteria": "c", "output": [key]}}


def test_baseline_run_merges_results_and_keeps_no_recording_of_a_failed_test() -> None:
    from pytest_llmonpy.baselines import BaselineRun

    run = BaselineRun(update=True)
    run.add_collected({"f.json": ["test_a"]})
    run.add_collected({"f.json": ["test_b"], "g.json": ["test_c"]})  # another worker's collection
    assert run.collected == {"f.json": {"test_a", "test_b"}, "g.json": {"test_c"}}
    run.add_test({"file": "f.json", "test": "test_a", "results": [_result("f.json", "test_a", "held")]}, True)
    failed = {"file": "f.json", "test": "test_b", "results": [_result("f.json", "test_b", "recorded")]}
    run.add_test(failed, False)
    assert [r["key"] for r in run.results] == ["test_a"]  # a failing test's recording is not accepted
    assert "test_b" not in run.used.get("f.json", {})  # nor does it prove which names it uses
    counts = run.counts()
    assert (counts["held"], counts["recorded"], counts["compared"]) == (1, 0, 1)
    assert run.active


def test_baseline_run_finds_entries_of_gone_tests_and_names_a_passing_test_no_longer_uses(
    tmp_path: Path,
) -> None:
    from pytest_llmonpy.baselines import BaselineRun

    path = tmp_path / "test_m.json"
    entry = {"criteria": "c", "output": ["x"]}
    write_baselines(
        path,
        {"test_kept": entry, "test_kept#short": entry, "test_gone": entry, "test_failing": entry},
        (),
        tmp_path / "locks",
    )
    run = BaselineRun(update=True)
    run.add_collected({str(path): ["test_kept", "test_failing"]})
    run.add_test(
        {"file": str(path), "test": "test_kept", "results": [{**_result(str(path), "test_kept", "held")}]},
        True,
    )
    # test_failing never reported a passing record: its entry may still be needed.
    run.find_unused()
    assert run.unused == [(str(path), "test_gone"), (str(path), "test_kept#short")]
    assert run.counts()["unused"] == 2
    run.write(tmp_path / "locks")
    assert sorted(read_baselines(path)) == ["test_failing", "test_kept"]
    assert run.problems == []


def test_baseline_run_without_update_writes_nothing(tmp_path: Path) -> None:
    from pytest_llmonpy.baselines import BaselineRun

    run = BaselineRun(update=False)
    run.add_collected({str(tmp_path / "t.json"): ["test_x"]})
    run.add_test(
        {
            "file": str(tmp_path / "t.json"),
            "test": "test_x",
            "results": [_result(str(tmp_path / "t.json"), "test_x", "recorded")],
        },
        True,
    )
    run.write(tmp_path / "locks")
    assert not (tmp_path / "t.json").exists()
    assert run.counts()["recorded"] == 1  # still reported, only not written


def test_collected_tests_of_each_baseline_file_one_look_per_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_file, without, narrowed = (tmp_path / f"test_{name}.py" for name in ("kept", "none", "part"))
    for module in (with_file, narrowed):
        baseline_file(module).parent.mkdir(exist_ok=True)
        baseline_file(module).write_text("{}")
    looked: list[Path] = []
    is_file = Path.is_file

    def counting_is_file(path: Path) -> bool:
        looked.append(path)
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", counting_is_file)
    items = [(m, f"{m.name}::test_{i}") for m in (with_file, without, narrowed) for i in range(3)]
    collected = collected_baseline_tests(items, {narrowed})
    assert collected == {str(baseline_file(with_file)): ["test_0", "test_1", "test_2"]}
    assert sorted(looked) == sorted(baseline_file(m) for m in (with_file, without))
