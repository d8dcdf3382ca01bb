"""Every settings model of latentatlas, in one convention: frozen pydantic models that forbid extra fields.

A settings object is data: it validates types, ranges and the relations between its own fields, and
nothing else. Names that live in a registry (measures, tasks, model variants, objectives) are checked by
the layer that owns the registry (:mod:`latentatlas.pipeline.plan` for a study, the analysis or trainer
for theirs), so this module imports neither torch nor any other part of latentatlas but errors and io.

An invalid value is reported in one line naming the field (:func:`describe`), whether the object is built
in Python (``PretrainSettings(steps=0)``), from command-line options or from a study file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import BadInputError, UnknownNameError
from .io import default_cache, read_text, read_yaml

PRESETS = ("default", "quick", "full")


def describe(exc: ValidationError) -> str:
    """A pydantic error as one line: ``field.sub: message; other: message``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


class Settings(BaseModel):
    """Base of every settings model: frozen, no unknown fields.

    Built in Python, an invalid value raises pydantic's ``ValidationError`` (a ``ValueError``), which the
    CLI prints as one line (:func:`describe`); :meth:`checked` turns it into a BadInputError at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def checked(cls, what: str, data: Any) -> Any:
        """``cls.model_validate(data)`` with errors reported as one line ``<what>: field: problem; ...``."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise BadInputError(f"{what}: {describe(exc)}") from None


# -- extraction and downstream -----------------------------------------------------------------------


class ExtractionSettings(Settings):
    """How hidden states are computed and stored (all but ``batch_size`` change the stored numbers)."""

    batch_size: int = Field(default=32, ge=1)
    max_length: int = Field(default=128, ge=2)
    keep_special_tokens: bool = True
    dtype: Literal["float16", "float32"] = "float16"
    device: Literal["cpu", "cuda"] = "cpu"


class ProbeSettings(Settings):
    """Hyper-parameters of a probe."""

    classifier: Literal["logistic", "ridge"] = "logistic"
    C: float = Field(default=1.0, gt=0, description="inverse L2 strength of logistic regression")
    alpha: float = Field(default=1.0, gt=0, description="ridge strength for regression tasks")
    train_fraction: float = Field(default=0.8, gt=0, le=1, description="seeded share of training examples per seed")
    max_iter: int = Field(default=300, ge=10)


class FinetuneSettings(Settings):
    """Hyper-parameters of fine-tuning (defaults: Marbut et al.'s ``run_glue.py`` settings)."""

    learning_rate: float = Field(default=2e-5, gt=0)
    batch_size: int = Field(default=32, ge=1, description="effective batch size")
    per_device_batch_size: int = Field(default=8, ge=1, description="examples per forward pass")
    epochs: int = Field(default=3, ge=1)
    max_length: int = Field(default=128, ge=8)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    max_grad_norm: float = Field(default=1.0, gt=0)
    eval_batch_size: int = Field(default=64, ge=1)
    device: Literal["cpu", "cuda"] = Field(default="cpu", description="cuda: bfloat16 autocast")

    @model_validator(mode="after")
    def _accumulation(self) -> FinetuneSettings:
        if self.batch_size % self.per_device_batch_size:
            raise ValueError(
                f"batch_size {self.batch_size} must be a multiple of per_device_batch_size "
                f"{self.per_device_batch_size} (gradient accumulation)"
            )
        return self

    @property
    def accumulation(self) -> int:
        return self.batch_size // self.per_device_batch_size


# -- pre-training ------------------------------------------------------------------------------------


class PretrainSettings(Settings):
    """Model size, data and optimisation of one pre-training run (``objective``: see ``latentatlas.pretrain``).

    Defaults: 3000 steps of 32 blocks × 64 tokens (6.1 M tokens, about 6 passes over the 1 M-token
    bundled corpus; 4.4 M parameters, most of them the 30,522 × 128 embeddings). On an idle 2-core machine
    ``bench/bench_pretrain.py`` measured about 10,000 tokens/s, so about 10 minutes per model; a loaded
    machine is several times slower, so measure yours and set ``steps`` accordingly.
    """

    objective: str = "mlm"
    hidden_size: int = Field(default=128, ge=1)
    num_layers: int = Field(default=2, ge=1)
    num_heads: int = Field(default=2, ge=1)
    intermediate_size: int = Field(default=512, ge=1)
    seq_len: int = Field(default=64, ge=2, le=512, description="tokens per block (at most BERT's 512 positions)")
    batch_size: int = Field(default=32, ge=1)
    steps: int = Field(default=3000, ge=1)
    lr: float = Field(default=5e-4, gt=0)
    warmup_fraction: float = Field(default=0.06, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    n_sentences: int | None = Field(default=None, ge=1)
    heldout_blocks: int = Field(default=64, ge=1)
    eval_every: int = Field(default=100, ge=1)
    checkpoint_every: int = Field(default=500, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _heads_divide_width(self) -> PretrainSettings:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}")
        return self


# -- the study ---------------------------------------------------------------------------------------


class CorpusSpec(Settings):
    """Where the sentences come from. ``source`` is ``bundled`` (BBC News) or a .txt/.jsonl/.csv path."""

    source: str = "bundled"
    n_sentences: int | None = Field(default=1000, ge=1)
    seed: int = 0
    text_column: str | None = None
    min_words: int = Field(default=4, ge=1)
    max_words: int = Field(default=49, ge=1)


class MeasureEntry(Settings):
    """A measure of the study and its parameter overrides."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class TaskEntry(Settings):
    """A downstream task of the study: a registry name, where its data live, and sample sizes."""

    name: str
    data_dir: str | None = None
    max_train: int | None = Field(default=None, ge=2)
    max_eval: int | None = Field(default=None, ge=2)


class DownstreamSpec(Settings):
    """How downstream scores are measured.

    ``probe``: linear probes on frozen features (``probe_layers``; the model's score is the probe at
    ``score_layer``); ``finetune``: full fine-tuning with a task head. ``seeds``: one run per seed, the
    study reports mean and spread. ``transferability``: label-aware baselines computed on the frozen
    features of ``score_layer``.
    """

    mode: Literal["probe", "finetune"] = "probe"
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    probe_layers: str | int | list[int] = "last"
    score_layer: int = -1
    probe: ProbeSettings = ProbeSettings()
    finetune: FinetuneSettings = FinetuneSettings()
    transferability: list[str] = Field(default_factory=lambda: ["logme", "hscore"])
    batch_size: int = Field(default=32, ge=1)
    max_length: int = Field(default=128, ge=8)


class AnalysisSpec(Settings):
    """How geometry is related to the scores: which models are held out, families, bootstrap size."""

    holdout: list[str] = Field(default_factory=list)
    families: dict[str, str] = Field(default_factory=dict)
    n_boot: int = Field(default=1000, ge=0)
    seed: int = 0


class Study(Settings):
    """A full study: models × layers × measures on one corpus, plus downstream tasks and the analysis.

    Names are checked against the registries by :func:`latentatlas.pipeline.plan.check_study`.
    """

    name: str = "study"
    output: str = "latentatlas-out"
    cache: str = Field(default_factory=default_cache, description="default: $LATENTATLAS_CACHE or .latentatlas-cache")
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


# -- analyses ----------------------------------------------------------------------------------------


class CompareSettings(Settings):
    """``latentatlas compare``: which similarity measures, on which sentences, layers and tokens."""

    measures: list[str] = Field(default_factory=lambda: ["cka"], min_length=1)
    corpus: CorpusSpec = CorpusSpec(n_sentences=500)
    layers: str | int | list[int] = "all"
    max_points: int | None = Field(default=5000, ge=2, description="seeded subsample of shared tokens")
    seed: int = 0
    cache: str = Field(default_factory=default_cache)
    extraction: ExtractionSettings = ExtractionSettings()


def read_study(path: str | Path | None = None, *, preset: str = "default") -> Study:
    """Parse a study YAML file (or the named built-in preset when ``path`` is None) into a :class:`Study`.

    Checks the file's shape and values only; registry names are checked by the pipeline's plan.
    """
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
    return Study.checked(f"study {origin} is invalid", raw)


__all__ = [
    "PRESETS",
    "AnalysisSpec",
    "CompareSettings",
    "CorpusSpec",
    "DownstreamSpec",
    "ExtractionSettings",
    "FinetuneSettings",
    "MeasureEntry",
    "PretrainSettings",
    "ProbeSettings",
    "Settings",
    "Study",
    "TaskEntry",
    "describe",
    "read_study",
]
