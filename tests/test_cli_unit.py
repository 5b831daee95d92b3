"""Unit tests of the `llmonpy` command: its name, and where it finds the verdict cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_llmonpy import cli
from pytest_llmonpy.cache import VERDICTS_SUBDIR


@pytest.mark.measure_subprocesses
def test_help_names_the_command_llmonpy_however_it_is_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert capsys.readouterr().out.startswith("usage: llmonpy ")
    module = subprocess.run(
        [sys.executable, "-m", "pytest_llmonpy", "--help"], capture_output=True, text=True, check=True
    )
    assert module.stdout.startswith("usage: llmonpy ")


def _cache(path: Path) -> Path:
    (path / VERDICTS_SUBDIR).mkdir(parents=True)
    return path


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\njury_cache_dir = build/jury-cache\n"),
        ("pyproject.toml", '[tool.pytest.ini_options]\njury_cache_dir = "build/jury-cache"\n'),
        ("tox.ini", "[pytest]\njury_cache_dir = build/jury-cache\n"),
        ("setup.cfg", "[tool:pytest]\njury_cache_dir = build/jury-cache\n"),
    ],
)
def test_stats_uses_the_jury_cache_dir_of_the_rootdir_found_upward(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
) -> None:
    project = tmp_path / "shop"
    (project / "tests").mkdir(parents=True)
    (project / name).write_text(text)
    _cache(project / "build" / "jury-cache")
    monkeypatch.chdir(project / "tests")
    assert cli.main(["cache", "stats"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"verdict cache: {project / 'build' / 'jury-cache'}\n")
    assert "entries: 0" in out


def test_the_default_cache_in_the_rootdir_reads_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    _cache(tmp_path / ".llmonpy")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["cache", "stats"]) == 0
    assert capsys.readouterr().out.startswith("verdict cache: .llmonpy\n")


def test_no_cache_found_says_where_it_looked_and_how_to_point_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    _cache(project / ".llmonpy")
    monkeypatch.chdir(tmp_path)  # the project's parent: the cache is below, not above
    for action in ("stats", "clear"):
        assert cli.main(["cache", action]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "no verdict cache found. Looked at:" in captured.err
        assert ".llmonpy  (the current directory)" in captured.err
        assert "--dir PATH" in captured.err
    assert (project / ".llmonpy" / VERDICTS_SUBDIR).is_dir()  # nothing cleared by mistake
    assert cli.main(["cache", "stats", "--dir", str(project / ".llmonpy")]) == 0
    assert capsys.readouterr().out.startswith(f"verdict cache: {project / '.llmonpy'}\n")


def test_stats_of_a_directory_without_verdicts_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert cli.main(["cache", "stats", "--dir", str(tmp_path / "empty")]) == 0
    assert capsys.readouterr().out == f"no verdict cache at {tmp_path / 'empty'}\n"
