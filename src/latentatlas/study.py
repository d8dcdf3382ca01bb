"""Study specification: one YAML file (or a built-in preset) naming corpus, models, layers, measures.

Validation happens here, before any work starts, so a bad study fails at once with a message that
names the field and the fix.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import BadInputError, UnknownNameError
from .extract.extractor import ExtractionSettings

PRESETS = ("default", "quick", "full")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSpec(_Strict):
    """Where the sentences come from. ``source`` is ``bundled`` (BBC News) or a .txt/.jsonl/.csv path."""

    source: str = "bundled"
    n_sentences: int | None = Field(default=1000, ge=1)
    seed: int = 0
    text_column: str | None = None
    min_words: int = Field(default=4, ge=1)
    max_words: int = Field(default=49, ge=1)


class MeasureEntry(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class Study(_Strict):
    """A full study: models × layers × measures on one corpus."""

    name: str = "study"
    output: str = "latentatlas-out"
    cache: str = ".latentatlas-cache"
    corpus: CorpusSpec = CorpusSpec()
    models: list[str] = Field(default_factory=lambda: ["minilm"], min_length=1)
    layers: str | int | list[int] = "all"
    measures: Literal["all"] | list[str | MeasureEntry] = "all"
    max_points: int | None = Field(default=20000, ge=10)
    seed: int = 0
    extraction: ExtractionSettings = ExtractionSettings()

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v: list[str]) -> list[str]:
        dupes = sorted({m for m in v if v.count(m) > 1})
        if dupes:
            raise ValueError(f"models listed twice: {dupes}")
        return v

    def measure_entries(self) -> list[MeasureEntry]:
        """The measures to run, names checked against the registry (close names suggested)."""
        from .measures import registry as reg

        if self.measures == "all":
            return [MeasureEntry(name=n) for n in reg.names()]
        entries = [m if isinstance(m, MeasureEntry) else MeasureEntry(name=m) for m in self.measures]
        for e in entries:
            spec = reg.get(e.name)
            unknown = set(e.params) - set(spec.defaults)
            if unknown:
                raise BadInputError(
                    f"measure {e.name!r} has no parameter(s) {sorted(unknown)}; "
                    f"it takes {sorted(spec.defaults) or 'none'}."
                )
        return entries


def load_study(path: str | Path | None = None, *, preset: str = "default") -> Study:
    """Load a study from a YAML file, or the named built-in preset when ``path`` is None."""
    if path is None:
        if preset not in PRESETS:
            raise UnknownNameError("preset", preset, PRESETS)
        text = resources.files("latentatlas.studies").joinpath(f"{preset}.yaml").read_text()
        origin = f"built-in preset {preset!r}"
    else:
        p = Path(path)
        if not p.is_file():
            raise BadInputError(f"study file {str(p)!r} does not exist; pass a YAML study file.")
        text = p.read_text()
        origin = str(p)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise BadInputError(f"study {origin} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise BadInputError(f"study {origin} must be a YAML mapping of fields, got {type(raw).__name__}.")
    try:
        study = Study.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise BadInputError(f"study {origin} is invalid: {problems}") from None
    study.measure_entries()  # unknown measures fail now, not after extraction
    return study
