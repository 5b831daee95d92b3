"""The configuration wiring, in-process: precedence, the report header, jury_config, jury_factory.

These runs judge nothing (they inspect `jury.settings`), so no judge server or litellm is involved.
"""

from __future__ import annotations

import pytest

from pytest_llmonpy.config import MARKER_ARGUMENTS, OPTIONS, JurySettings, jury_config_problem
from pytest_llmonpy.prompts import fingerprint

PRECEDENCE_SUITE = """
import pytest

@pytest.fixture
def jury_config():
    return {CONFIG}

@pytest.mark.jury(judges=["marker-a", "marker-b", "marker-c"], quorum="unanimous", mode="off")
def test_marker_wins(jury):
    assert jury.settings.judges == ("marker-a", "marker-b", "marker-c")
    assert str(jury.settings.quorum) == "unanimous"
    assert jury.settings.mode == "off"

def test_without_marker(jury):
    print("EFFECTIVE", ",".join(jury.settings.judges), jury.settings.quorum, jury.settings.mode)
"""


def effective(result: pytest.RunResult) -> str:
    lines = [line.split("EFFECTIVE ", 1)[1].rstrip(".") for line in result.outlines if "EFFECTIVE " in line]
    assert len(lines) == 1, result.outlines
    return lines[0]


@pytest.mark.parametrize(
    ("config", "ini", "flags", "expected"),
    [
        pytest.param("{}", "", [], " majority record", id="defaults"),
        pytest.param("{}", "ini-a ini-b", [], "ini-a,ini-b 2 replay", id="ini"),
        pytest.param(
            "{}",
            "ini-a ini-b",
            ["--jury-judges=flag-a", "--jury-quorum=1", "--jury-mode=refresh"],
            "flag-a 1 refresh",
            id="flag-beats-ini",
        ),
        pytest.param(
            '{"judges": ["cfg-a", "cfg-b"], "quorum": "unanimous", "mode": "off"}',
            "ini-a ini-b",
            ["--jury-judges=flag-a", "--jury-quorum=1", "--jury-mode=replay"],
            "cfg-a,cfg-b unanimous off",
            id="jury-config-beats-flag",
        ),
    ],
)
def test_one_precedence_rule_for_judges_quorum_and_mode(
    pytester: pytest.Pytester, config: str, ini: str, flags: list[str], expected: str
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\njury_judges = {ini}\njury_quorum = 2\njury_mode = replay\n")
    pytester.makepyfile(PRECEDENCE_SUITE.replace("{CONFIG}", config))
    result = pytester.runpytest(
        "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio", "-s", *flags
    )
    result.assert_outcomes(passed=2)
    assert effective(result) == expected


def test_header_shows_the_effective_jury_when_configured(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\njury_judges = judge-a\n    judge-\x1b[31mb\njury_max_cost = 0.5\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest(
        "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio", "--jury-quorum=unanimous"
    )
    result.assert_outcomes(passed=1)
    header = [line for line in result.outlines if line.startswith("llmonpy: ")]
    assert header == [
        "llmonpy: --jury-judges=judge-a,judge-\\x1b[31mb --jury-quorum=unanimous --jury-strategy=parallel "
        "--jury-mode=record (markers and jury_config may override per test)",
        f"llmonpy: cache .llmonpy, budget $0.5, judge prompts {fingerprint()}",
    ]


def test_header_counts_the_local_judge_s_own_comparison_prompt(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\njury_judges = judge-a\n    local/qwen2.5-coder-1.5b\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    prompts_line = [line for line in result.outlines if "judge prompts" in line]
    assert prompts_line == [f"llmonpy: cache .llmonpy, budget none, judge prompts {fingerprint(local=True)}"]
    assert fingerprint(local=True) != fingerprint()


def test_no_header_when_nothing_is_configured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    assert not [line for line in result.outlines if line.startswith("llmonpy")]


def test_fingerprint_changes_with_the_prompt_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_llmonpy import prompts

    before = fingerprint()
    versions = f"{prompts.PROMPT_VERSION}+{prompts.PAIR_PROMPT_VERSION}+{prompts.SCORE_PROMPT_VERSION} #"
    assert before.startswith(versions)
    monkeypatch.setattr(prompts, "SYSTEM_PROMPT", prompts.SYSTEM_PROMPT + " Be brief.")
    reworded = fingerprint()
    monkeypatch.setattr(prompts, "SCORE_SYSTEM_PROMPT", prompts.SCORE_SYSTEM_PROMPT + " Be brief.")
    assert len({before, reworded, fingerprint()}) == 3


def test_the_local_fingerprint_changes_with_the_local_question_and_margin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_llmonpy import local_prompt

    before = fingerprint(local=True)
    assert f"+{local_prompt.LOCAL_PROMPT_VERSION} #" in before
    monkeypatch.setattr(local_prompt, "PAIR_MARGIN", local_prompt.PAIR_MARGIN * 2)
    after_margin = fingerprint(local=True)
    monkeypatch.setattr(local_prompt, "PAIR_QUESTION", "Which is better? Answer 1 or 2.")
    assert len({before, after_margin, fingerprint(local=True)}) == 3


def test_a_bad_jury_config_fails_the_tests_that_use_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def jury_config():
            return {"judgez": ["a"]}
        """
    )
    pytester.makepyfile("def test_one(jury):\n    pass\n\ndef test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*pytest-llmonpy: jury_config got unknown key(s) judgez; allowed: judges, quorum, mode*"]
    )


def test_jury_config_per_directory(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\njury_judges = ini-a\n")
    pytester.mkpydir("strict")
    pytester.path.joinpath("strict", "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef jury_config():\n"
        "    return {'judges': 'strict-a strict-b', 'quorum': 'unanimous'}\n"
    )
    pytester.path.joinpath("strict", "test_strict.py").write_text(
        "def test_strict(jury):\n    assert jury.settings.judges == ('strict-a', 'strict-b')\n"
    )
    pytester.makepyfile(test_loose="def test_loose(jury):\n    assert jury.settings.judges == ('ini-a',)\n")
    pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio").assert_outcomes(
        passed=2
    )


def test_jury_factory_serves_module_and_session_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\njury_judges = ini-a ini-b\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="session")
        def session_jury(jury_factory):
            return jury_factory(name="shared")

        @pytest.fixture(scope="module")
        def strict_jury(jury_factory):
            return jury_factory(quorum="unanimous", judges=["m-a", "m-b"])

        @pytest.mark.jury(judges=["marker-only"])
        def test_markers_do_not_reach_shared_juries(session_jury, strict_jury):
            assert session_jury.settings.judges == ("ini-a", "ini-b")
            assert session_jury.test_id == "shared"
            assert strict_jury.settings.judges == ("m-a", "m-b")
            assert str(strict_jury.settings.quorum) == "unanimous"

        def test_bad_argument(jury_factory):
            with pytest.raises(pytest.UsageError, match="jury_factory got unknown key"):
                jury_factory(qorum=1)
        """
    )
    pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio").assert_outcomes(
        passed=2
    )


def test_marker_arguments_and_jury_config_keys_come_from_the_options_table() -> None:
    assert tuple(o.marker for o in OPTIONS if o.marker) == MARKER_ARGUMENTS
    assert {o.field for o in OPTIONS if o.field} <= set(JurySettings.__dataclass_fields__)
    assert all(o.name.startswith("jury_") for o in OPTIONS)
    assert jury_config_problem([]) is not None
    assert jury_config_problem({"quorum": "most"}) == (
        "jury_config: invalid quorum 'most': use 'majority', 'unanimous', an integer N (at least N pass "
        "votes) or a fraction such as 0.66"
    )
