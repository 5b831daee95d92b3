"""Human labels, kept in the repository: JSONL files under `__llm_labels__/`, one case per line.

A pointwise case: {"output": ..., "criteria": "...", "label": "pass" | "fail"}; a pair:
{"a": ..., "b": ..., "criteria": "...", "label": "a" | "b" | "tie"}. Either may carry "input",
"reference" and "context" (as a check passes them), "note" and "labeller". An empty label is a case
waiting for a person (as `--jury-label-disagreements` writes them): it is read, and not scored.

No pytest import; pydantic is imported when a file is read.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmonpy.config import LABELS_DIR
from pytest_llmonpy.prompts import Case, Example, PairCase, pair_example, point_example
from pytest_llmonpy.texts import output_text

__all__ = ["LABELS_DIR", "LabelFileError", "LabelledCase", "find_label_files", "load_labels"]
POINT_LABELS = ("pass", "fail")
PAIR_LABELS = ("a", "b", "tie")
# Directories never searched for label files: pytest's default norecursedirs.
_SKIPPED_DIRS = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}")


class LabelFileError(ValueError):
    """A label file that cannot be read as labelled cases; the message names the file and line."""


@dataclass(frozen=True)
class LabelledCase:
    """One labelled case, its texts as a check passes them (JSON values as their JSON text), the human
    label ("" when not labelled yet), and where it was written.

    A pointwise case has `output`; a pair has `a` and `b` (and no `context`, as `compare` takes none).
    """

    criteria: str
    label: str
    path: Path
    line: int
    output: str | None = None
    a: str | None = None
    b: str | None = None
    input: str | None = None
    reference: str | None = None
    context: str | None = None
    note: str = ""
    labeller: str = ""

    @property
    def is_pair(self) -> bool:
        return self.a is not None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def find_label_files(paths: Iterable[Path]) -> list[Path]:
    """The `.jsonl` files in `__llm_labels__` directories under `paths` (a file is taken as given),
    sorted, each once."""
    found: set[Path] = set()
    for path in paths:
        if path.is_file():
            found.add(path.resolve())
        elif path.is_dir():
            found.update(_label_files_under(path))
        else:
            raise LabelFileError(f"{path}: no such file or directory")
    return sorted(found)


def _label_files_under(root: Path) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not any(fnmatch.fnmatch(d, p) for p in _SKIPPED_DIRS))
        if Path(directory).name == LABELS_DIR:
            yield from (Path(directory, name).resolve() for name in files if name.endswith(".jsonl"))


def load_labels(files: Sequence[Path]) -> list[LabelledCase]:
    """Every case of the files, in file and line order; LabelFileError at the first bad line."""
    return [case for path in files for case in read_label_file(path)]


def read_label_file(path: Path) -> list[LabelledCase]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelFileError(f"{path}: cannot read the label file: {exc}") from None
    cases: list[LabelledCase] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            cases.append(_parse_line(line, path, number))
    return cases


def _parse_line(line: str, path: Path, number: int) -> LabelledCase:
    where = f"{path}:{number}"
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise LabelFileError(f"{where}: not a JSON object ({exc}); each line holds one case") from None
    if not isinstance(raw, dict):
        raise LabelFileError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    pair = "a" in raw or "b" in raw
    if pair or "output" in raw:
        model: Any = _model("pair" if pair else "point")
    else:
        raise LabelFileError(
            f'{where}: a case needs "output" (labelled pass or fail) or "a" and "b" (a pair, labelled '
            "a, b or tie)"
        )
    from pydantic import ValidationError

    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise LabelFileError(f"{where}: {_describe(exc, model)}") from None
    fields = parsed.model_dump(exclude={"label", "note", "labeller", "criteria"})
    try:
        texts = {
            name: None if value is None and name != "output" else output_text(value, name, allow_none=True)
            for name, value in fields.items()
        }
    except TypeError as exc:
        raise LabelFileError(f"{where}: {exc}") from None
    return LabelledCase(
        criteria=parsed.criteria,
        label=parsed.label or "",
        path=path,
        line=number,
        note=parsed.note or "",
        labeller=parsed.labeller or "",
        **texts,
    )


def _describe(exc: Any, model: Any) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "case"
        if error["type"] == "extra_forbidden":
            problems.append(f'unknown key "{field}" (known keys: {", ".join(model.model_fields)})')
        elif error["type"] == "missing":
            problems.append(f'"{field}" is missing')
        elif error["type"] == "literal_error" and field == "label":
            allowed = PAIR_LABELS if "a" in model.model_fields else POINT_LABELS
            problems.append(
                f'"label" must be {", ".join(allowed[:-1])} or {allowed[-1]} (or empty: not labelled yet), '
                f"got {json.dumps(error['input'])}"
            )
        else:
            problems.append(f'"{field}": {error["msg"]}')
    return "; ".join(problems)


_MODELS: dict[str, Any] = {}


def _model(kind: str) -> Any:
    if not _MODELS:
        _build_models()
    return _MODELS[kind]


def _build_models() -> None:
    # Built on first use: pydantic is not imported by a run that reads no label file.
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field, JsonValue

    class _Common(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        criteria: str = Field(min_length=1, pattern=r"\S")
        input: JsonValue = None
        reference: JsonValue = None
        note: str | None = None
        labeller: str | None = None

    class PointLabel(_Common):
        output: JsonValue
        context: JsonValue = None
        label: Literal["pass", "fail", ""] | None = None

    class PairLabel(_Common):
        a: JsonValue
        b: JsonValue
        label: Literal["a", "b", "tie", ""] | None = None

    _MODELS["point"] = PointLabel
    _MODELS["pair"] = PairLabel


PointKey = tuple[str, str | None, str | None, str | None, str | None]
PairKey = tuple[str, str | None, str | None, str | None, str | None]


class LabelBook:
    """The human labels that decide matching checks: a check whose criteria, output, input, reference
    and context equal a labelled case's (a comparison: criteria, both outputs in either order, input
    and reference) takes the label as its outcome."""

    def __init__(self, cases: Iterable[LabelledCase]) -> None:
        self._points: dict[PointKey, LabelledCase] = {}
        self._pairs: dict[PairKey, LabelledCase] = {}
        # (is a pair, criteria): the labelled cases in file and line order, for jury_examples
        self._by_criteria: dict[tuple[bool, str], list[LabelledCase]] = {}
        for case in cases:
            if not case.label:
                continue
            self._by_criteria.setdefault((case.is_pair, case.criteria.strip()), []).append(case)
            book: dict[Any, LabelledCase] = self._pairs if case.is_pair else self._points
            key = self._key_of(case)
            known = book.get(key)
            if known is not None and known.label != case.label:
                raise LabelFileError(
                    f"{case.where}: the same case is labelled {known.label!r} at {known.where} and "
                    f"{case.label!r} here; keep one label"
                )
            book.setdefault(key, case)

    @classmethod
    def _key_of(cls, case: LabelledCase) -> PointKey | PairKey:
        if case.is_pair:
            return cls._pair_key(case.criteria, case.a, case.b, case.input, case.reference)
        return cls._point_key(case.criteria, case.output, case.input, case.reference, case.context)

    @staticmethod
    def _point_key(
        criteria: str, output: str | None, input: str | None, reference: str | None, context: str | None
    ) -> PointKey:
        return (criteria.strip(), output, input, reference, context)

    @staticmethod
    def _pair_key(
        criteria: str, a: str | None, b: str | None, input: str | None, reference: str | None
    ) -> PairKey:
        return (criteria.strip(), a, b, input, reference)

    def __bool__(self) -> bool:
        return bool(self._points or self._pairs)

    def point(
        self, criteria: str, output: str, input: str | None, reference: str | None, context: str | None
    ) -> LabelledCase | None:
        return self._points.get(self._point_key(criteria, output, input, reference, context))

    def pair(
        self, criteria: str, a: str, b: str, input: str | None, reference: str | None
    ) -> tuple[str, LabelledCase] | None:
        """The label in the order (a, b) of the check, and its case; a case labelled with the outputs
        the other way round has its a/b label swapped."""
        case = self._pairs.get(self._pair_key(criteria, a, b, input, reference))
        if case is not None:
            return case.label, case
        case = self._pairs.get(self._pair_key(criteria, b, a, input, reference))
        if case is not None:
            return {"a": "b", "b": "a"}.get(case.label, case.label), case
        return None

    def examples(self, case: Case | PairCase, limit: int) -> tuple[Example, ...]:
        """Up to `limit` labelled cases with the same criteria as `case` (and of its kind), as examples
        for a judge: in file and line order, taking each label in turn so that a judge sees both
        answers, and never the case itself (its label decides it; in calibration it is the question).
        """
        pair = isinstance(case, PairCase)
        criteria = case.criteria.strip()
        if isinstance(case, PairCase):
            own = {
                self._pair_key(criteria, case.first, case.second, case.input, case.reference),
                self._pair_key(criteria, case.second, case.first, case.input, case.reference),
            }
        else:
            own = {self._point_key(criteria, case.output, case.input, case.reference, case.context)}
        by_label: dict[str, list[LabelledCase]] = {}
        for labelled in self._by_criteria.get((pair, criteria), []):
            if self._key_of(labelled) not in own:
                by_label.setdefault(labelled.label, []).append(labelled)
        chosen: list[LabelledCase] = []
        queues = list(by_label.values())
        while len(chosen) < limit and any(queues):
            for queue in queues:
                if queue and len(chosen) < limit:
                    chosen.append(queue.pop(0))
        return tuple(_as_example(labelled) for labelled in chosen)


def _as_example(case: LabelledCase) -> Example:
    if case.is_pair:
        assert case.a is not None
        assert case.b is not None
        texts = {"input": case.input, "reference": case.reference}
        return pair_example(case.a, case.b, case.criteria.strip(), case.label, texts)
    assert case.output is not None
    texts = {"input": case.input, "reference": case.reference, "context": case.context}
    return point_example(case.output, case.criteria.strip(), case.label, texts)


def label_book_for(directory: Path, rootdir: Path) -> LabelBook:
    """The labels of `__llm_labels__/` directories in `directory` and its parents up to `rootdir`."""
    files: list[Path] = []
    current = directory.resolve()
    top = rootdir.resolve()
    while True:
        labels = current / LABELS_DIR
        if labels.is_dir():
            files += sorted(path for path in labels.glob("*.jsonl") if path.is_file())
        if current == top or current.parent == current or top not in current.parents:
            break
        current = current.parent
    return LabelBook(load_labels(files))
