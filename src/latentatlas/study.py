"""Study specification: one YAML file (or a built-in preset) naming corpus, models, layers, measures.

Validation happens here, before any work starts, so a bad study fails at once with a message that
names the field and the fix.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .downstream.finetune import FinetuneSettings
from .downstream.learnability import LearnabilityRule
from .downstream.probe import ProbeSettings
from .errors import BadInputError, UnknownNameError
from .io import read_text, read_yaml
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


class TaskEntry(_Strict):
    """A downstream task of the study: a registry name, where its data live, and sample sizes."""

    name: str
    data_dir: str | None = None
    max_train: int | None = Field(default=None, ge=2)
    max_eval: int | None = Field(default=None, ge=2)


class DownstreamSpec(_Strict):
    """How downstream scores are measured.

    ``probe``: linear probes on frozen features (``probe_layers``; the model's score is the probe at
    ``score_layer``); ``finetune``: full fine-tuning with a task head. ``seeds``: one run per seed, the
    study reports mean and spread. ``transferability``: label-aware baselines computed on the frozen
    features of ``score_layer``. ``learnability``: the rule that decides which tasks enter the average
    score (:func:`latentatlas.downstream.learnability.task_learnability`).
    """

    mode: Literal["probe", "finetune"] = "probe"
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    probe_layers: str | int | list[int] = "last"
    score_layer: int = -1
    probe: ProbeSettings = ProbeSettings()
    finetune: FinetuneSettings = FinetuneSettings()
    transferability: list[str] = Field(default_factory=lambda: ["logme", "hscore"])
    learnability: LearnabilityRule = LearnabilityRule()
    batch_size: int = Field(default=32, ge=1)
    max_length: int = Field(default=128, ge=8)


class AnalysisSpec(_Strict):
    """How geometry is related to the scores: which models are held out, families, bootstrap size."""

    holdout: list[str] = Field(default_factory=list)
    families: dict[str, str] = Field(default_factory=dict)
    n_boot: int = Field(default=1000, ge=0)
    seed: int = 0


class Study(_Strict):
    """A full study: models × layers × measures on one corpus, plus downstream tasks and the analysis."""

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
    tasks: list[str | TaskEntry] = Field(default_factory=list)
    downstream: DownstreamSpec = DownstreamSpec()
    analysis: AnalysisSpec = AnalysisSpec()

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

    def task_entries(self) -> list[TaskEntry]:
        """The downstream tasks, names checked against the task registry (close names suggested)."""
        from .downstream.tasks import get_task

        entries = [t if isinstance(t, TaskEntry) else TaskEntry(name=t) for t in self.tasks]
        for t in entries:
            get_task(t.name)
        names = [t.name for t in entries]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise BadInputError(f"study lists task(s) {dupes} twice; list each task once.")
        return entries

    def holdout_specs(self) -> set[str]:
        """Normalised specs of the held-out models; each must be one of the study's models."""
        from .models import ModelSpec

        models = {str(ModelSpec.parse(m)) for m in self.models}
        held = {str(ModelSpec.parse(m)) for m in self.analysis.holdout}
        stray = sorted(held - models)
        if stray:
            raise BadInputError(
                f"analysis.holdout names {stray}, which are not among the study's models; "
                "add them to `models` or remove them from the holdout list."
            )
        return held

    def family_of(self, spec: str) -> str:
        """The family (architecture) of a model for the ``score ~ measure + family`` fit: given in
        ``analysis.families`` or, by default, the base model's name."""
        from .models import ModelSpec

        families = {str(ModelSpec.parse(k)): v for k, v in self.analysis.families.items()}
        return families.get(str(ModelSpec.parse(spec)), ModelSpec.parse(spec).base)


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
        text = read_text(p, "study file")
        origin = str(p)
    raw = read_yaml(text, f"study {origin}") or {}
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
    study.measure_entries()  # unknown measures, tasks and held-out models fail now, not after extraction
    study.task_entries()
    study.holdout_specs()
    return study
