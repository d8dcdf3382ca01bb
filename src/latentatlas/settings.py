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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import BadInputError, UnknownNameError
from .io import check_encoding, default_cache, read_text, read_yaml

PRESETS = ("default", "quick", "full")


def describe(exc: ValidationError, *, as_flags: bool = False) -> str:
    """A pydantic error as one line: ``field.sub: message; other: message`` (fields named as command-line options with
    ``as_flags``, for settings built from command-line options)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if as_flags and len(err["loc"]) == 1:
            where = "--" + where.replace("_", "-")
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


#: Features of a single sentence for a probe (:data:`latentatlas.downstream.encode.SENTENCE_POOLINGS`).
SentencePooling = Literal["mean", "halves", "cls_mean_max"]
#: Features of a sentence pair for a probe (:data:`latentatlas.downstream.encode.PAIR_FEATURES`).
PairFeatures = Literal["joint_mean", "senteval"]


class ProbeSettings(Settings):
    """Hyper-parameters of a probe, and the features it reads.

    The defaults are the probing literature's (SentEval: Conneau & Kiela 2018; Conneau et al. 2018)
    rather than the cheapest choice:

    * ``classifier="logistic"`` with ``C`` chosen by ``cv_folds``-fold cross-validation over ``C_grid``
      on the training split (:func:`select_C`). The former default, a ridge classifier with α = 1 on
      standardised features, sits close to interpolation with 480–5,000 training rows of 384–1,536
      dimensions and generalises poorly;
    * ``sentence_pooling="halves"``: the means of the first and second half of a sentence's tokens, a
      position-aware feature, so that ``bbc_order`` sees where words are, not only which;
    * ``pair_features="senteval"``: each sentence of a pair encoded alone, ``[u; v; |u−v|; u∗v]``.

    Measured at the task sizes of the default study of the time (600 train and 300 validation examples; 300
    and 100 sentences for ``bbc_pos``; last layer, mean of 2 seeds; ``bbc_topic``, ``bbc_pos``,
    ``bbc_pair``, ``bbc_order``), pretrained MiniLM:

    ============================================  =====  =====  =====  =====
    probe                                         topic  pos    pair   order
    ============================================  =====  =====  =====  =====
    former: ridge α=1, mean, joint pair mean      0.508  0.697  0.583  0.387
    ridge α=1, halves, senteval                   0.539  0.697  0.763  0.391
    logistic (CV), mean, joint pair mean          0.767  0.769  0.643  0.475
    logistic (CV), cls_mean_max, senteval         0.765  0.769  0.855  0.488
    default: logistic (CV), halves, senteval      0.760  0.769  0.855  0.503
    ============================================  =====  =====  =====  =====

    The classifier moves every task (+0.06 to +0.26); SentEval's pair features move ``bbc_pair`` by a
    further +0.21; halves and [CLS; mean; max] pooling are within seed noise of mean pooling for the
    pretrained model (seed SD ≈ 0.02), but halves gives the randomly initialised MiniLM's position
    information a way in on ``bbc_order`` (MCC 0.107 against 0.000 with mean pooling). With the former
    probe ``bbc_pair`` failed the learnability rule over five MiniLM variants (models' SD 0.043 against
    a seed SD of 0.021); with the default every task passes it
    (:func:`latentatlas.downstream.learnability.task_learnability`).

    ``C`` set to a number fixes it (no cross-validation); ``classifier="ridge"``,
    ``sentence_pooling="mean"`` and ``pair_features="joint_mean"`` give the former probe.
    """

    classifier: Literal["logistic", "ridge"] = "logistic"
    C: float | None = Field(
        default=None, gt=0,
        description="inverse L2 strength of logistic regression; None: chosen by cross-validation over C_grid",
    )
    C_grid: tuple[PositiveFloat, ...] = Field(
        default=(1e-3, 1e-2, 1e-1, 1.0), min_length=1,
        description="candidate C values, tried in increasing order (ties go to the smaller C)",
    )
    cv_folds: int = Field(default=3, ge=2, description="folds of the cross-validation that chooses C")
    alpha: float = Field(default=1.0, gt=0, description="ridge strength for regression tasks")
    train_fraction: float = Field(default=0.8, gt=0, le=1, description="seeded share of training examples per seed")
    max_iter: int = Field(default=300, ge=10)
    sentence_pooling: SentencePooling = Field(
        default="halves", description="features of single sentences (latentatlas.downstream.encode.SENTENCE_POOLINGS)"
    )
    pair_features: PairFeatures = Field(
        default="senteval", description="features of sentence pairs (latentatlas.downstream.encode.PAIR_FEATURES)"
    )



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


# -- corpora -----------------------------------------------------------------------------------------


class CorpusSpec(Settings):
    """Where the sentences come from. ``source`` is ``bundled`` (BBC News) or a .txt/.jsonl/.csv path, read
    strictly in ``encoding`` (a file that does not decode is refused, never patched).

    ``split_sentences``: a user file holds paragraphs (one per line or per row), split into sentences
    before the word filter and the seeded sample (:func:`latentatlas.corpus.sentences_of`); the bundled
    corpus is always split.
    """

    source: str = "bundled"
    n_sentences: int | None = Field(default=1000, ge=1)
    seed: int = 0
    text_column: str | None = None
    min_words: int = Field(default=4, ge=1)
    max_words: int = Field(default=49, ge=1)
    split_sentences: bool = False
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        return check_encoding(v)


# -- pre-training ------------------------------------------------------------------------------------


class PretrainSettings(Settings):
    """Model size, data and optimisation of one pre-training run (``objective``: see ``latentatlas.pretrain``).

    Data: ``n_sentences`` (default all) seeded sentences of the bundled BBC corpus, or ``corpus`` (its own
    ``n_sentences`` and ``seed`` apply; ``n_sentences`` here must then be left unset).

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
    corpus: CorpusSpec | None = None

    @model_validator(mode="after")
    def _heads_divide_width(self) -> PretrainSettings:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}")
        if self.corpus is not None and self.n_sentences is not None:
            raise ValueError("n_sentences samples the bundled corpus; with a corpus, set corpus.n_sentences instead")
        return self

    def identity(self) -> dict[str, Any]:
        """The settings as they key a zoo folder and a checkpoint: without ``corpus`` when it is unset, so
        the folders and checkpoints of runs from before the corpus option keep their keys."""
        data = self.model_dump()
        if self.corpus is None:
            data.pop("corpus")
        return data


# -- the study ---------------------------------------------------------------------------------------

#: Activation sites with a fixed meaning in every block (see :mod:`latentatlas.store.sites`); any named
#: submodule is the site ``module:PATTERN``.
SITES = ("residual", "attention", "mlp")
RESIDUAL = "residual"
MODULE_PREFIX = "module:"


def check_site(site: str) -> str:
    """``site`` checked for form: ``residual``, ``attention``, ``mlp`` or ``module:PATTERN`` (a glob over
    module names, matched against the model when it is extracted). Raises UnknownNameError otherwise."""
    text = str(site).strip()
    if text in SITES:
        return text
    if text.startswith(MODULE_PREFIX):
        pattern = text[len(MODULE_PREFIX):].strip()
        if not pattern:
            raise BadInputError(
                f"site {site!r} has no pattern; write module:PATTERN, e.g. module:encoder.layer.*.intermediate."
            )
        if "@" in pattern:  # '@' separates measure and layer in the analysis' predictor names
            raise BadInputError(
                f"site {site!r}: a module pattern may not contain '@'; use the wildcards * ** ? [...], "
                "e.g. module:encoder.layer.*.intermediate."
            )
        return MODULE_PREFIX + pattern
    raise UnknownNameError(
        "activation site", text, SITES,
        hint="Use residual, attention, mlp or module:PATTERN (a glob over the model's module names).",
    )


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


class LearnabilityRule(Settings):
    """When a task carries signal about the models (:func:`task_learnability`); scores in metric units."""

    min_margin: float = Field(default=0.05, description="best model mean minus the majority baseline, at least")
    n_seed_sd: float = Field(default=3.0, ge=0, description="the margin must also be this many pooled seed SDs")
    spread_ratio: float = Field(default=3.0, ge=0, description="SD of the model means above this many pooled seed SDs")


class DownstreamSpec(Settings):
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


class AnalysisSpec(Settings):
    """How geometry is related to the scores: which models are held out, families, bootstrap size."""

    holdout: list[str] = Field(default_factory=list)
    families: dict[str, str] = Field(default_factory=dict)
    n_boot: int = Field(default=1000, ge=0)
    seed: int = 0


class Study(Settings):
    """A full study: models × layers × measures on one corpus, plus downstream tasks and the analysis.

    ``noise_seeds``: each seed draws another ``max_points`` subsample of every training model's clouds
    (and seeds the measures' own random choices), measured like the first; the spread over the draws is
    each measure's own noise, set beside the spread between models in ``measure_noise.csv`` and the
    report (:mod:`latentatlas.stats.noise`). Default none (no extra draws).

    ``sites``: where in each block the vectors are read (:data:`SITES` or ``module:PATTERN``; default the
    residual stream). Every site's layers are stored and measured like the residual stream's; the site is
    a column of the results table. Names are checked against the registries by :func:`latentatlas.pipeline.plan.check_study`.
    """

    name: str = "study"
    output: str = "latentatlas-out"
    cache: str = Field(default_factory=default_cache, description="default: $LATENTATLAS_CACHE or .latentatlas-cache")
    corpus: CorpusSpec = CorpusSpec()
    models: list[str] = Field(default_factory=lambda: ["minilm"], min_length=1)
    layers: str | int | list[int] = "all"
    sites: list[str] = Field(default_factory=lambda: [RESIDUAL], min_length=1)
    measures: Literal["all"] | list[str | MeasureEntry] = "all"
    max_points: int | None = Field(default=20000, ge=10)
    seed: int = 0
    noise_seeds: list[int] = Field(
        default_factory=list,
        description="extra subsample seeds: each training model's clouds measured again on a max_points subsample "
                    "drawn with each, giving every measure's own noise beside the spread between models",
    )
    extraction: ExtractionSettings = ExtractionSettings()
    tasks: list[str | TaskEntry] = Field(default_factory=list)
    downstream: DownstreamSpec = DownstreamSpec()
    analysis: AnalysisSpec = AnalysisSpec()

    @model_validator(mode="after")
    def _distinct_noise_seeds(self) -> Study:
        seeds = [self.seed, *self.noise_seeds]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"noise_seeds {self.noise_seeds} must differ from each other and from seed {self.seed}: "
                             "each is another subsample of the same cloud")
        return self

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v: list[str]) -> list[str]:
        dupes = sorted({m for m in v if v.count(m) > 1})
        if dupes:
            raise ValueError(f"models listed twice: {dupes}")
        return v

    @field_validator("sites")
    @classmethod
    def _known_sites(cls, v: list[str]) -> list[str]:
        sites = [check_site(s) for s in v]
        dupes = sorted({s for s in sites if sites.count(s) > 1})
        if dupes:
            raise ValueError(f"sites listed twice: {dupes}")
        return sites


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


class ConceptSettings(Settings):
    """``latentatlas concepts``: latent concepts of a model before and after fine-tuning (Durrani et al. 2022).

    Defaults: MiniLM on ``bbc_topic``, about 10 minutes on 2 cores. ``k`` None: the papers' ratio of
    concepts per occurrence; ``k_sweep`` None: cuts around K from the same Ward tree; ``label_sets``
    None: every label set. A share passes ``theta`` only when strictly greater than it. ``corpus``: the
    analysed sentences come from this corpus instead of the task (``corpus.n_sentences`` of them, those
    the fine-tuning saw left out); they have no gold class, so polarity and triggers use the fine-tuned
    model's predicted classes (``trigger_source`` must be ``predicted``).
    """

    model: str = "minilm"
    task: str = "bbc_topic"
    tuned: str | None = None
    finetune_epochs: int = Field(default=1, ge=1)
    max_train: int = Field(default=1000, ge=2)
    max_eval: int = Field(default=500, ge=2)
    n_sentences: int = Field(default=1000, ge=10, description="analysed sentences (at least 10)")
    analysis_split: Literal["validation", "heldout"] = "validation"
    corpus: CorpusSpec | None = None
    layers: str | int | list[int] = "all"
    k: int | None = Field(default=None, ge=2)
    k_sweep: tuple[int, ...] | None = None
    max_per_type: int = Field(default=10, ge=1)
    min_per_type: int = Field(default=5, ge=1)
    aggregation: Literal["first", "last", "mean"] = "last"
    theta: float = Field(default=0.9, ge=0, le=1)
    min_concept_size: int = Field(default=5, ge=1)
    label_sets: tuple[str, ...] | None = None
    labels_file: str | None = None
    polarity_test: Literal["hypergeometric", "binomial"] = "hypergeometric"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    trigger_layer: int = -1
    trigger_source: Literal["gold", "predicted"] = "predicted"
    n_trigger_words: int = Field(default=10, ge=1)
    n_insert: int = Field(default=3, ge=1)
    position: Literal["prefix", "suffix", "random"] = "prefix"
    n_trigger_inputs: int = Field(default=150, ge=1)
    trigger_models: tuple[Literal["pretrained", "finetuned"], ...] = Field(default=("finetuned",), min_length=1)
    n_perm: int = Field(default=3, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _corpus_has_no_gold(self) -> ConceptSettings:
        if self.corpus is not None and self.analysis_split != "validation":
            raise ValueError("analysis_split draws the analysed sentences from the task; with a corpus they come "
                             "from the corpus: leave analysis_split at its default or drop the corpus")
        if self.corpus is not None and self.trigger_source == "gold":
            raise ValueError("corpus sentences have no gold class; use trigger_source 'predicted' or drop the corpus")
        return self

    @field_validator("k_sweep")
    @classmethod
    def _sweep_at_least_two(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None and any(k < 2 for k in v):
            raise ValueError(f"every K must be at least 2, got {list(v)}")
        return v


class AnchorSettings(Settings):
    """``latentatlas anchor``: is log Z of the low-probability words linear in f(x)? (Wu, Lee & Ge 2023).

    ``ks``: bulk sizes (top-k words left out); ``null_seeds`` random-rotation null heads decide the
    verdict with ``null_margin`` and ``min_r2`` (see :mod:`latentatlas.analyses.anchor.null`).
    ``corpus`` None: ``n_sentences`` of the bundled corpus sampled with ``seed``.
    """

    models: tuple[str, ...] = Field(min_length=1, description="model folders with a language-model head")
    ks: tuple[int, ...] = Field(default=(0, 10, 100, 1000), min_length=1)
    n_sentences: int = Field(default=3000, ge=10)
    seed: int = 0
    test_fraction: float = Field(default=0.3, gt=0, lt=1)
    ridge: float = Field(default=1e-6, ge=0)
    max_contexts: int = Field(default=20000, ge=10)
    synthetic: bool = True
    corpus: CorpusSpec | None = None
    null_seeds: int = Field(default=3, ge=1, description="null heads per model (their spread)")
    null_margin: float = Field(default=0.1, ge=0)
    min_r2: float = Field(default=0.5, ge=0, le=1)

    @field_validator("ks")
    @classmethod
    def _ks_non_negative(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(k < 0 for k in v):
            raise ValueError(f"bulk sizes must be non-negative integers, e.g. 0,10,100,1000; got {list(v)}")
        return v


class TaggingSettings(Settings):
    """``latentatlas topology``: NER tagging on frozen LM vectors with and without local topology features
    (Ruppik et al. 2024). ``corpus`` None: ``n_sentences`` of the bundled corpus sampled with ``corpus_seed``."""

    model: str = "minilm"
    layer: int = -1
    k: int = Field(default=32, ge=2, description="neighbours (local TwoNN needs two)")
    seeds: tuple[int, ...] = Field(default=(0, 1, 2, 3, 4), min_length=1)
    n_sentences: int = Field(default=1000, ge=10, description="at least 10 to split by article")
    corpus_seed: int = 0
    max_iter: int = Field(default=100, ge=1)
    C: float = Field(default=1.0, gt=0)
    n_jobs: int | None = None
    corpus: CorpusSpec | None = None

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {list(v)}")
        return v


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
    "MODULE_PREFIX",
    "PRESETS",
    "RESIDUAL",
    "SITES",
    "AnalysisSpec",
    "AnchorSettings",
    "CompareSettings",
    "ConceptSettings",
    "CorpusSpec",
    "DownstreamSpec",
    "ExtractionSettings",
    "FinetuneSettings",
    "MeasureEntry",
    "PretrainSettings",
    "ProbeSettings",
    "Settings",
    "Study",
    "TaggingSettings",
    "TaskEntry",
    "check_site",
    "describe",
    "read_study",
]
