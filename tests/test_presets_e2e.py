"""End-to-end: criteria presets, built in and your own (a TOML file, a `jury_presets` fixture), and
their name and version in the cache key."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import RunJury
from fake_llm_server import FakeLLMServer
from pytest_llmonpy.presets import BUILT_IN, PresetError, merged, preset_from

JUDGES = "--jury-judges=judge-a,judge-b"


def test_a_built_in_preset_sends_its_text(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makepyfile(
        """
        def test_grounded(jury):
            doc = "Paris is France's capital."
            verdict = jury.assert_passes("Paris is the capital.", preset="grounded", context=doc)
            assert verdict.criteria.startswith("Is grounded in the context")
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    (first, second) = llm_server.calls()
    assert first.criteria == second.criteria == BUILT_IN["grounded"].criteria


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "jury.check('x', preset='grounded')",
            "preset 'grounded' judges the output against its context: pass context=...",
        ),
        (
            "jury.assert_passes('x', preset='groundd', context='c')",
            "unknown preset 'groundd'; the presets are: coherent, fluent, grounded,",
        ),
        ("jury.check('x', 'Is short', preset='fluent')", "give criteria or preset='fluent', not both"),
        ("jury.check('x')", "a jury check needs criteria (what the output must do) or preset=<name>"),
        (
            "jury.pass_rate(['x'] * 40, preset='relevant')",
            "preset 'relevant' judges the output against its input",
        ),
    ],
)
def test_a_preset_without_what_it_needs_is_one_clear_error_before_any_call(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer, call: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import re
        import pytest

        def test_bad(jury):
            with pytest.raises(TypeError, match=re.escape({message!r})):
                {call}
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert llm_server.calls() == []


def test_a_presets_version_is_part_of_the_cache_key(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    conftest = """
from pathlib import Path

import pytest

@pytest.fixture
def jury_presets():
    return {{"polite": {{"criteria": "Is polite to the customer", "version": {version}}}}}
"""
    pytester.makeconftest(conftest.format(version=1))
    pytester.makepyfile(
        "def test_polite(jury):\n    jury.assert_passes('Thanks for asking!', preset='polite')\n"
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert len(llm_server.calls()) == 2
    llm_server.requests.clear()
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert llm_server.calls() == []  # same name, text and version: cached
    pytester.makeconftest(conftest.format(version=2))
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert len(llm_server.calls()) == 2  # the same text under a new version is asked again
    assert {call.criteria for call in llm_server.calls()} == {"Is polite to the customer"}


def test_a_presets_file_adds_presets_and_a_bad_one_stops_the_run(
    pytester: pytest.Pytester, run_inprocess: RunJury, llm_server: FakeLLMServer
) -> None:
    pytester.makeini("[pytest]\njury_presets = checks/presets.toml\n")
    (pytester.path / "checks").mkdir()
    presets = pytester.path / "checks" / "presets.toml"
    presets.write_text(
        '[presets.cites_policy]\ncriteria = "Cites the refund policy by its section number"\n'
        'version = 3\nneeds = ["reference"]\n'
    )
    pytester.makepyfile(
        """
        def test_cites(jury):
            jury.assert_passes("See section 4.2.", preset="cites_policy", reference="Section 4.2: refunds")
        """
    )
    run_inprocess(JUDGES).assert_outcomes(passed=1)
    assert {call.criteria for call in llm_server.calls()} == {"Cites the refund policy by its section number"}

    presets.write_text('[presets.cites_policy]\ncriteria = "Cites it"\nneeds = ["documents"]\n')
    result = run_inprocess(JUDGES)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*pytest-llmonpy: jury_presets (*presets.toml): preset 'cites_policy' has needs "
            "[[]'documents'[]]; use a list of input, reference, context"
        ]
    )


def test_a_jury_presets_fixture_that_returns_nonsense_fails_its_tests_with_what_to_return(
    pytester: pytest.Pytester, run_inprocess: RunJury
) -> None:
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef jury_presets():\n    return ['polite']\n")
    pytester.makepyfile("def test_it(jury):\n    pass\n")
    result = run_inprocess(JUDGES)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pytest-llmonpy: the jury_presets fixture must return a dict of presets*"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"criteria": ""}, "needs a criteria text"),
        ({"criteria": "x", "version": 0}, "has version 0; use a whole number from 1"),
        ({"criteria": "x", "verison": 2}, "unknown key(s) verison; allowed: criteria, version, needs"),
        (42, "must be a criteria text or a table, got 42"),
    ],
)
def test_a_bad_preset_says_what_to_fix(value: object, message: str) -> None:
    with pytest.raises(PresetError, match=__import__("re").escape(message)):
        preset_from("polite", value, "test")


def test_your_presets_replace_built_in_ones_by_name() -> None:
    presets = merged({"fluent": "Reads like a native speaker wrote it"})
    assert presets["fluent"].criteria == "Reads like a native speaker wrote it"
    assert presets["grounded"] == BUILT_IN["grounded"]
    with pytest.raises(PresetError, match="a preset name must be a word"):
        merged({"two words": "x"})


def test_the_docs_show_each_built_in_preset_as_the_judges_read_it() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "presets.md").read_text()
    for preset in BUILT_IN.values():
        assert f"| `{preset.name}` | {preset.version} |" in page, preset.name
        assert f" | {preset.criteria} |" in page, preset.name
