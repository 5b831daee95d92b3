"""End-to-end: what a new user meets in the first hour, with no silent surprises.

A typo in a local judge's name, a `None` or `bytes` output, a bad output's traceback. Every test using
`run_jury` runs serially and with `-n 2`.
"""

from __future__ import annotations

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer


@pytest.mark.parametrize("name", ["local/qwen2.5-coder-1.5", "local/qwen2.5-coder-7b"])
def test_an_unknown_local_judge_in_the_ini_stops_the_run_listing_the_local_models(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury, name: str
) -> None:
    pytester.makeini(f"[pytest]\njury_judges = judge-a {name}\n")
    pytester.makepyfile("def test_answer(jury):\n    jury.assert_passes('Paris', 'Names the capital')\n")
    result = run_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*unknown local judge {name}; the local models that exist: local/qwen2.5-coder-1.5b*"]
    )
    assert "Traceback" not in result.stderr.str()
    assert llm_server.calls(status=None) == []


def test_an_unknown_local_judge_in_a_marker_fails_that_test_before_any_call(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.jury(judges=["judge-a", "local/qwen2.5-coder-1.5"], quorum=1)
        def test_typo(jury):
            jury.assert_passes("Paris", "Names the capital")

        def test_fine(jury):
            jury.assert_passes("Paris", "Names the capital")
        """
    )
    result = run_inprocess("--jury-judges=judge-a")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*unknown local judge local/qwen2.5-coder-1.5; the local models that exist*"]
    )
    assert [call.model for call in llm_server.calls()] == ["judge-a"]


def test_a_jury_built_by_hand_refuses_an_unknown_local_judge_with_jury_config_error() -> None:
    from pytest_llmonpy.config import JurySettings
    from pytest_llmonpy.jury import Jury
    from pytest_llmonpy.verdict import JuryConfigError

    def no_caller() -> object:
        raise AssertionError("no judge may be called")

    jury = Jury(JurySettings(judges=("local/qwen2.5-coder-7b",)), no_caller)  # type: ignore[arg-type]
    with pytest.raises(JuryConfigError, match=r"local/qwen2\.5-coder-7b; the local models that exist"):
        jury.check("Paris", "Names the capital")


def test_none_output_is_a_type_error_at_the_users_line_and_no_judge_is_paid(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        def lookup(question):
            return None  # the app's bug: it forgot to return the answer

        def test_answer(jury):
            answer = lookup("capital of France?")
            jury.assert_passes(answer, "Names Paris as the capital")
        """
    )
    result = run_inprocess("--jury-judges=judge-a")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       jury.assert_passes(answer, "Names Paris as the capital")',
            "E       TypeError: jury output is None: the code under test returned nothing. To judge JSON "
            "null on purpose, pass allow_none=True",
        ]
    )
    assert "pytest_llmonpy" not in result.stdout.str(), "the traceback must end at the user's line"
    assert llm_server.calls(status=None) == []


def test_none_is_judged_as_json_null_when_the_test_says_so(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        def test_no_result_is_the_right_answer(jury):
            jury.assert_passes(None, "Is JSON null", allow_none=True)
        """
    )
    result = run_inprocess("--jury-judges=judge-a")
    result.assert_outcomes(passed=1)
    assert [call.output for call in llm_server.calls()] == ["null"]


def test_bytes_output_is_a_type_error_that_says_to_decode(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        def test_answer(jury):
            jury.check(b"Paris", "Names Paris")

        def test_compare(jury):
            jury.compare("Paris", b"Paris", "Names Paris")
        """
    )
    result = run_inprocess("--jury-judges=judge-a")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E   *TypeError: jury output is bytes, not text: decode it first, e.g. output.decode('utf-8')",
            "E   *TypeError: jury output b is bytes, not text: decode it first, e.g. output.decode('utf-8')",
        ],
        consecutive=False,
    )
    assert "pytest_llmonpy" not in result.stdout.str()
    assert llm_server.calls(status=None) == []


@pytest.mark.parametrize(
    ("mode", "remedy"),
    [
        (
            "off",
            "A budget of 0 allows no judge call and jury_mode=off uses no cached verdict: raise the budget.",
        ),
        ("record", "A budget of 0 allows only cached verdicts: raise the budget to ask the judges."),
        (
            "refresh",
            "A budget of 0 allows no judge call and jury_mode=refresh uses no cached verdict: "
            "raise the budget.",
        ),
    ],
)
def test_a_zero_budget_says_what_can_help_in_this_mode(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury, mode: str, remedy: str
) -> None:
    pytester.makepyfile("def test_answer(jury):\n    jury.assert_passes('Paris', 'Names the capital')\n")
    result = run_inprocess("--jury-judges=judge-a", "--jury-max-cost=0", f"--jury-mode={mode}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*no judge was called for this check. {remedy}"])
    assert "re-run" not in result.stdout.str().split("llm jury summary")[0]
    assert llm_server.calls(status=None) == []


def test_async_checks_point_at_the_users_await_not_into_a_thread(
    pytester: pytest.Pytester, llm_server: FakeLLMServer, run_inprocess: RunJury
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_none(jury):
            await jury.acheck(None, "Names Paris")

        @pytest.mark.asyncio
        async def test_compare_bytes(jury):
            await jury.acompare("Paris", b"Paris", "Names Paris")

        @pytest.mark.asyncio
        async def test_replay_miss(jury):
            await jury.aassert_passes("Paris", "Names Paris")
        """
    )
    result = run_inprocess("--jury-judges=judge-a", "--jury-mode=replay", "-p", "asyncio")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            '>       await jury.acheck(None, "Names Paris")',
            "E       TypeError: jury output is None*",
            '>       await jury.acompare("Paris", b"Paris", "Names Paris")',
            "E       TypeError: jury output b is bytes*",
            '>       await jury.aassert_passes("Paris", "Names Paris")',
            "E       pytest_llmonpy.*ReplayMissError: *",
        ]
    )
    output = result.stdout.str()
    assert "threads.py" not in output
    assert "concurrent/futures" not in output
    assert "pytest_llmonpy/jury.py" not in output
    assert llm_server.calls(status=None) == []
